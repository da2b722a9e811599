"""Insertion rewards as pure functions: binary success, thesis eq. 48 (dense), goal-image L1.

Eq. 48 (chapter 9, "perfect state information"):
    r = -alpha * |x - x*|_1  + sign * beta / (|x - x*|_2 + eps)  - phi * f_z
with alpha = 100, beta = 0.002, phi = 0.1 before insertion and -0.1 once inserted, x the plug tip
and x* the fully inserted tip position (metres), f_z the contact force along z in newtons.
The thesis prints `- beta / (d + eps)`, which would *penalise* approaching the goal and
contradicts the text ("shaped reward ... distance to the goal"), so we read the inverse-distance
term as a bonus: `sign = +1` by default, `-1` reproduces the printed formula. eps = 1 mm.
f_z is our wrench's z force (the socket pushing the plug up, positive when the plug presses
down): before insertion pressing is penalised, after insertion it is rewarded, as in the text.
The dense reward uses the *true* goal: it is an oracle (privileged), like the thesis's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

EQ48_ALPHA = 100.0
EQ48_BETA = 0.002
EQ48_PHI = 0.1
EQ48_EPSILON_M = 1e-3


def sparse_reward(success: jax.Array) -> jax.Array:
  """Eq. 47: 1 on success (full depth, aligned), else 0."""
  return success.astype(jnp.float32)


def dense_reward_eq48(tip_m: jax.Array, goal_m: jax.Array, force_z_n: jax.Array,
                      inserted: jax.Array, inverse_distance_sign: float = 1.0) -> jax.Array:
  """Thesis eq. 48 with the inverse-distance sign chosen by the caller (see module doc)."""
  error = tip_m - goal_m
  l1 = jnp.sum(jnp.abs(error), axis=-1)
  l2 = jnp.sqrt(jnp.sum(error ** 2, axis=-1))
  phi = jnp.where(inserted, -EQ48_PHI, EQ48_PHI)
  return (-EQ48_ALPHA * l1 + inverse_distance_sign * EQ48_BETA / (l2 + EQ48_EPSILON_M)
          - phi * force_z_n).astype(jnp.float32)


def goal_image_l1_reward(image, goal_image):
  """Chapter 9's image reward: minus the mean absolute pixel difference in [0, 1] units.

  A mean rather than a sum so that the scale does not depend on the resolution. Works on NumPy
  or JAX uint8/float arrays with trailing (H, W[, C]) axes; returns one value per leading index.
  """
  xp = jnp if isinstance(image, jax.Array) else __import__("numpy")
  image = xp.asarray(image, dtype=xp.float32) / 255.0
  goal = xp.asarray(goal_image, dtype=xp.float32) / 255.0
  axes = tuple(range(-goal.ndim, 0))
  return -xp.mean(xp.abs(image - goal), axis=axes)
