"""SMAC's reward decoder r(s, a, z) (seed 003, Eq. 3; checklist S5).

An MLP on the concatenated state, action and latent to one scalar reward (paper: hidden
[64, 64], ReLU, identity output). Trained by MSE on the offline data's unscaled rewards; its
gradient reaches the context encoder through z (SMAC's default encoder signal), and online it
labels reward-free trajectories (Eq. 4).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxinsert.networks.mlp import MLP


class RewardDecoder(nn.Module):
  hidden_dims: Sequence[int]

  @nn.compact
  def __call__(self, obs: jax.Array, action: jax.Array, z: jax.Array) -> jax.Array:
    inputs = jnp.concatenate([obs, action, z], axis=-1)
    return MLP(tuple(self.hidden_dims) + (1,))(inputs)[..., 0]
