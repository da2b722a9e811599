"""State-value and state-action-value networks, and an ensemble of critics for clipped double Q."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxinsert.networks.mlp import MLP


class ValueNetwork(nn.Module):
  """V(s): an MLP to one scalar per observation."""

  hidden_dims: Sequence[int]

  @nn.compact
  def __call__(self, obs: jax.Array) -> jax.Array:
    return MLP(tuple(self.hidden_dims) + (1,))(obs)[..., 0]


class Critic(nn.Module):
  """Q(s, a): an MLP on the concatenated observation and action."""

  hidden_dims: Sequence[int]

  @nn.compact
  def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
    inputs = jnp.concatenate([obs, action], axis=-1)
    return MLP(tuple(self.hidden_dims) + (1,))(inputs)[..., 0]


class CriticEnsemble(nn.Module):
  """`num_critics` independent critics evaluated at once; output shape (num_critics, *batch).

  One `nn.vmap` over the parameters: the critics share nothing but the input.
  """

  hidden_dims: Sequence[int]
  num_critics: int = 2

  @nn.compact
  def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
    ensemble = nn.vmap(Critic, variable_axes={"params": 0}, split_rngs={"params": True},
                       in_axes=None, out_axes=0, axis_size=self.num_critics)
    return ensemble(self.hidden_dims)(obs, action)
