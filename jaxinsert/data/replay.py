"""A functional replay buffer for online phases: a fixed-capacity ring of transitions on the device.

The buffer is a pytree, so `add` and `sample` run inside jit and `lax.scan` with the rest of the
training step. Capacity is the leading size of its arrays (static); `position` is the next slot
to write and `size` the number of valid entries. When full, new transitions overwrite the oldest.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
from flax import struct

from jaxinsert.types import Spec, Transition


@struct.dataclass
class ReplayBuffer:
  data: Transition
  position: jax.Array  # int32 scalar: slot the next transition goes to
  size: jax.Array  # int32 scalar: valid entries, at most capacity

  @property
  def capacity(self) -> int:
    return int(self.data.reward.shape[0])


def with_ids(transitions: Transition) -> Transition:
  """Fills missing task/domain ids with zeros so every batch has the buffer's tree structure."""
  count = transitions.reward.shape[0]
  zeros = jnp.zeros((count,), jnp.int32)
  return transitions.replace(
      task_id=zeros if transitions.task_id is None else transitions.task_id.astype(jnp.int32),
      domain_id=zeros if transitions.domain_id is None else transitions.domain_id.astype(jnp.int32))


def init(spec: Spec, capacity: int) -> ReplayBuffer:
  """An empty buffer for `capacity` transitions of the spec's shapes."""
  if capacity <= 0:
    raise ValueError(f"capacity must be positive, got {capacity}")
  return ReplayBuffer(data=Transition.zeros(spec, capacity), position=jnp.zeros((), jnp.int32),
                      size=jnp.zeros((), jnp.int32))


def add(buffer: ReplayBuffer, transitions: Transition) -> ReplayBuffer:
  """Appends a batch (leading axis = count, static), overwriting the oldest entries when full."""
  transitions = with_ids(transitions)
  capacity = buffer.capacity
  count = transitions.reward.shape[0]
  # Of a batch larger than the buffer only the newest `capacity` rows survive; writing just those
  # keeps the scatter indices unique (duplicate indices would make the result order-dependent).
  kept = min(count, capacity)
  offsets = jnp.arange(count - kept, count, dtype=jnp.int32)
  slots = (buffer.position + offsets) % capacity
  data = jax.tree_util.tree_map(
      lambda stored, new: stored.at[slots].set(new[count - kept:].astype(stored.dtype)), buffer.data, transitions)
  return ReplayBuffer(data=data, position=(buffer.position + count) % capacity,
                      size=jnp.minimum(buffer.size + count, capacity).astype(jnp.int32))


def sample(buffer: ReplayBuffer, key: jax.Array, batch_size: int) -> Transition:
  """Uniform with replacement over the valid entries (an empty buffer yields its zero slot 0)."""
  index = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
  return jax.tree_util.tree_map(lambda x: x[index], buffer.data)


def from_transitions(dataset: Transition, capacity: Optional[int] = None) -> ReplayBuffer:
  """A buffer that starts with `dataset` in slots [0, size) (offline data for finetuning)."""
  dataset = with_ids(dataset)
  size = dataset.size
  capacity = size if capacity is None else capacity
  if capacity < size:
    raise ValueError(f"capacity {capacity} is smaller than the {size} transitions to store")
  data = jax.tree_util.tree_map(
      lambda x: jnp.zeros((capacity,) + x.shape[1:], x.dtype).at[:size].set(x), dataset)
  return ReplayBuffer(data=data, position=jnp.asarray(size % capacity, jnp.int32),
                      size=jnp.asarray(size, jnp.int32))
