"""The multi-layer perceptron every agent builds on (orthogonal init, as the official IQL)."""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def _orthonormal_columns(matrix: jax.Array) -> jax.Array:
  """Q of the QR decomposition of a tall `matrix` with R's diagonal positive (unique for a full
  rank matrix), by Gram-Schmidt orthogonalised twice per column, in plain array ops.

  Not `jnp.linalg.qr`: under `vmap` (seeds vmapped over `create`) that is a batched LAPACK
  custom call whose kernel waits on XLA:CPU's intra-op thread pool from inside it; on this
  2-core machine a network creation with a dozen such calls left both pool threads waiting and
  hung forever (native stacks in WORKSPACE_NOTES, "XLA:CPU deadlock").
  """
  rows, cols = matrix.shape

  def column(j, q):
    v = matrix[:, j]
    for _ in range(2):  # "twice is enough" (Giraud et al. 2005) keeps Q orthonormal in float32
      v = v - q @ (q.T @ v)
    return q.at[:, j].set(v / jnp.linalg.norm(v))

  return jax.lax.fori_loop(0, cols, column, jnp.zeros((rows, cols), matrix.dtype))


def orthogonal(scale: float = 1.0):
  """flax's `orthogonal` initializer without LAPACK: the same Gaussian draw for a key (shape
  (max(rows, cols), min(rows, cols)), as `jax.random.orthogonal`), so the same weights to
  float32 rounding (tested), factored by `_orthonormal_columns`."""

  def init(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
    if len(shape) < 2:
      raise ValueError(f"the orthogonal initializer needs a 2-D or larger shape, got {shape}")
    cols = shape[-1]
    rows = int(np.prod(shape[:-1]))
    tall = (max(rows, cols), min(rows, cols))
    q = _orthonormal_columns(jax.random.normal(key, tall, jnp.float32))
    q = q if rows >= cols else q.T
    return (scale * q).reshape(shape).astype(dtype)

  return init


def default_init(scale: float = jnp.sqrt(2.0)):
  return orthogonal(scale)


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
