"""The multi-layer perceptron every agent builds on (orthogonal init, as the official IQL)."""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def default_init(scale: float = jnp.sqrt(2.0)):
  return nn.initializers.orthogonal(scale)


class MLP(nn.Module):
  """Dense layers with an activation after every hidden layer.

  `activate_final` also activates (and drops out) after the last layer, for use as a trunk.
  Dropout is applied after each hidden activation when `dropout_rate` is set and `train=True`
  (IQL's Kitchen/Adroit policy regulariser).
  """

  hidden_dims: Sequence[int]
  activation: Callable[[jax.Array], jax.Array] = nn.relu
  activate_final: bool = False
  dropout_rate: Optional[float] = None
  layer_norm: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    for i, width in enumerate(self.hidden_dims):
      x = nn.Dense(width, kernel_init=default_init())(x)
      if i + 1 < len(self.hidden_dims) or self.activate_final:
        if self.layer_norm:
          x = nn.LayerNorm()(x)
        x = self.activation(x)
        if self.dropout_rate:
          x = nn.Dropout(rate=self.dropout_rate)(x, deterministic=not train)
    return x
