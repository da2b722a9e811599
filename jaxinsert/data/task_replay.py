"""Per-task replay buffers on the device (PEARL/SMAC, checklist S2): append, clear, sample.

One `TaskBuffers` holds every task's transitions at once, leaves [num_tasks, capacity, ...], so
collection, labelling and meta-batch sampling stay inside jitted code. Rows of a task fill from
0 up to `count`; sampling draws from the window [start, count). PEARL's "encoder buffer cleared
every iteration" is `clear`: the window's start moves to the end, the rows stay, so one archive
serves both the live buffer PEARL trains on and the whole history that is saved for SMAC.
A PEARL/SMAC agent keeps two of these per task set: the RL buffer and the encoder (context)
buffer.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxinsert.data.samplers import MetaBatch
from jaxinsert.types import Transition


@struct.dataclass
class TaskBuffers:
  data: Transition    # leaves [num_tasks, capacity, ...] (no ids: the slot is the task)
  count: jax.Array    # [num_tasks] int32 rows written
  start: jax.Array    # [num_tasks] int32 first row of the sampling window

  @property
  def num_tasks(self) -> int:
    return int(self.count.shape[0])

  @property
  def capacity(self) -> int:
    return int(self.data.reward.shape[1])


def empty(num_tasks: int, capacity: int, obs_dim: int, action_dim: int) -> TaskBuffers:
  zeros = lambda *shape: jnp.zeros((num_tasks, capacity) + shape, jnp.float32)
  data = Transition(obs=zeros(obs_dim), action=zeros(action_dim), reward=zeros(),
                    mask=jnp.ones((num_tasks, capacity), jnp.float32), next_obs=zeros(obs_dim))
  return TaskBuffers(data=data, count=jnp.zeros(num_tasks, jnp.int32),
                     start=jnp.zeros(num_tasks, jnp.int32))


def append(buffers: TaskBuffers, slots: jax.Array, rows: Transition) -> TaskBuffers:
  """Appends rows [len(slots), n, ...] to the (distinct) task slots `slots`; rows past the
  capacity are dropped (size the buffer for the whole run: `count` saturates there)."""
  slots = jnp.asarray(slots, jnp.int32)
  n = rows.reward.shape[1]
  positions = buffers.count[slots][:, None] + jnp.arange(n)[None, :]

  def put(buffer, values):
    return buffer.at[slots[:, None], positions].set(values.astype(buffer.dtype), mode="drop")

  fields = ("obs", "action", "reward", "mask", "next_obs")
  data = buffers.data.replace(**{f: put(getattr(buffers.data, f), getattr(rows, f))
                                 for f in fields})
  count = buffers.count.at[slots].set(jnp.minimum(buffers.count[slots] + n, buffers.capacity))
  return buffers.replace(data=data, count=count)


def clear(buffers: TaskBuffers, slots: jax.Array) -> TaskBuffers:
  """Empties the sampling window of `slots` (PEARL's per-iteration encoder-buffer reset)."""
  return buffers.replace(start=buffers.start.at[slots].set(buffers.count[slots]))


def sample(buffers: TaskBuffers, key: jax.Array, slots: jax.Array, size: int
           ) -> Tuple[Transition, jax.Array]:
  """`size` rows per slot, uniform over each window: (rows [len(slots), size, ...], mask
  [len(slots), size]); the mask is 0 where a window is empty (the encoder then gives the prior)."""
  start, count = buffers.start[slots], buffers.count[slots]
  width = jnp.maximum(count - start, 1)
  offset = jnp.floor(jax.random.uniform(key, (slots.shape[0], size)) * width[:, None])
  index = start[:, None] + offset.astype(jnp.int32)
  rows = jax.tree_util.tree_map(lambda x: x[slots[:, None], index], buffers.data)
  mask = jnp.broadcast_to((count > start)[:, None], index.shape).astype(jnp.float32)
  return rows, mask


def meta_batch(rl: TaskBuffers, encoder: TaskBuffers, key: jax.Array, slots: jax.Array,
               batch_per_task: int, context_size: int) -> MetaBatch:
  """SMAC/PEARL's meta-batch: RL rows h' from the RL buffer and context h from the encoder
  buffer of the same tasks (Alg. 1: "two histories from buffer D_i")."""
  batch_key, context_key = jax.random.split(key)
  batch, _ = sample(rl, batch_key, slots, batch_per_task)
  context, context_mask = sample(encoder, context_key, slots, context_size)
  return MetaBatch(batch=batch, context=context, context_mask=context_mask, task_ids=slots)


def from_transitions(transitions: Transition, task_ids: Sequence[int], capacity: int,
                     first: int = 0, last: int = None) -> TaskBuffers:
  """Buffers for `task_ids` (slot i = task_ids[i]) from a flat dataset with task ids, in the
  dataset's order, keeping each task's rows [first:last] (SMAC's slices: "first 1200 of the RL
  buffer", "last 400 of the encoder buffer" = first=-400)."""
  task_column = np.asarray(transitions.task_id)
  host = jax.tree_util.tree_map(np.asarray, transitions.replace(task_id=None, domain_id=None))
  slot_rows = []
  for task_id in task_ids:
    rows = np.flatnonzero(task_column == task_id)[first:last]
    if rows.size == 0:
      raise ValueError(f"no transitions of task {task_id} in the dataset (rows [{first}:{last}])")
    if rows.size > capacity:
      raise ValueError(f"task {task_id} has {rows.size} rows, more than the capacity {capacity}")
    slot_rows.append(rows)
  obs_dim, action_dim = host.obs.shape[-1], host.action.shape[-1]
  buffers = empty(len(task_ids), capacity, obs_dim, action_dim)
  fields = {}
  for name in ("obs", "action", "reward", "mask", "next_obs"):
    array = np.array(getattr(buffers.data, name))
    for slot, rows in enumerate(slot_rows):
      array[slot, :rows.size] = getattr(host, name)[rows]
    fields[name] = jnp.asarray(array)
  count = jnp.asarray([rows.size for rows in slot_rows], jnp.int32)
  return TaskBuffers(data=Transition(**fields), count=count, start=jnp.zeros_like(count))


def to_transitions(buffers: TaskBuffers, task_ids: Sequence[int]) -> Transition:
  """Every written row as one flat dataset with task ids (slot order, then row order)."""
  count = np.asarray(buffers.count)
  parts = []
  for slot, task_id in enumerate(task_ids):
    rows = jax.tree_util.tree_map(lambda x: np.asarray(x[slot, :count[slot]]), buffers.data)
    parts.append(rows.replace(task_id=np.full(count[slot], task_id, np.int32),
                              domain_id=np.zeros(count[slot], np.int32)))
  return jax.tree_util.tree_map(lambda *x: np.concatenate(x), *parts)


def with_capacity(buffers: TaskBuffers, capacity: int) -> TaskBuffers:
  """The same rows in buffers of a larger `capacity` (room for the online phase)."""
  extra = capacity - buffers.capacity
  if extra < 0:
    raise ValueError(f"cannot shrink buffers of capacity {buffers.capacity} to {capacity}")
  pad = lambda x, value: jnp.concatenate(
      [x, jnp.full((x.shape[0], extra) + x.shape[2:], value, x.dtype)], axis=1)
  data = buffers.data
  data = data.replace(obs=pad(data.obs, 0.0), action=pad(data.action, 0.0),
                      reward=pad(data.reward, 0.0), mask=pad(data.mask, 1.0),
                      next_obs=pad(data.next_obs, 0.0))
  return buffers.replace(data=data)
