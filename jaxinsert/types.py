"""Small shared types that every layer of jaxinsert may import: batches and specs.

Nothing here depends on another jaxinsert module (this is the bottom of the import graph).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional, Tuple

import jax
import jax.numpy as jnp
from flax import struct

PyTree = Any
Metrics = Mapping[str, jax.Array]


@struct.dataclass
class Transition:
  """A batch (or a whole dataset) of transitions, leading axis = transition index.

  `mask` is 1 - is_terminal of the *next* state: 0 only where the episode truly terminated
  (a time-limit end keeps mask 1, so the critic still bootstraps through it).
  `task_id` / `domain_id` are int32 ids (0 where the dataset has a single task/domain).
  """

  obs: jax.Array
  action: jax.Array
  reward: jax.Array
  mask: jax.Array
  next_obs: jax.Array
  task_id: Optional[jax.Array] = None
  domain_id: Optional[jax.Array] = None

  @property
  def size(self) -> int:
    return int(self.reward.shape[0])

  @classmethod
  def zeros(cls, spec: "Spec", size: int) -> "Transition":
    """An all-zero set of transitions of the spec's shapes (for buffers and shape probes)."""
    obs = jnp.zeros((size,) + tuple(spec.obs_shape), spec.obs_dtype)
    return cls(
        obs=obs,
        action=jnp.zeros((size, spec.action_dim), jnp.float32),
        reward=jnp.zeros((size,), jnp.float32),
        mask=jnp.ones((size,), jnp.float32),
        next_obs=obs,
        task_id=jnp.zeros((size,), jnp.int32),
        domain_id=jnp.zeros((size,), jnp.int32),
    )


@dataclasses.dataclass(frozen=True)
class Spec:
  """What an agent needs to know about its inputs: observation shape and action size.

  Actions are always continuous, normalised to [-1, 1]^action_dim.
  """

  obs_shape: Tuple[int, ...]
  action_dim: int
  obs_dtype: Any = jnp.float32

  @property
  def obs_dim(self) -> int:
    if len(self.obs_shape) != 1:
      raise ValueError(f"obs_dim is defined for flat observations, got shape {self.obs_shape}")
    return int(self.obs_shape[0])
