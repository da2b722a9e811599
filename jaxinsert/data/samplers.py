"""On-device batch samplers, usable inside a jitted `lax.scan` (no host round trip).

All samplers are pure functions of (data, key, static sizes). Batch sizes, ratios and
fractions are Python numbers (static under jit); they decide exact row counts, so a 75/25 mix
is exactly 192 + 64 rows of a 256 batch, not 75% on average.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxinsert.data import replay
from jaxinsert.types import Transition

Augmentation = Callable[[Transition, jax.Array], Transition]


def uniform(dataset: Transition, key: jax.Array, batch_size: int) -> Transition:
  """Draws `batch_size` transitions uniformly with replacement from a device-resident dataset."""
  index = jax.random.randint(key, (batch_size,), 0, dataset.reward.shape[0])
  return jax.tree_util.tree_map(lambda x: x[index], dataset)


def _concat(first: Transition, second: Transition) -> Transition:
  return jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b.astype(a.dtype)]), first, second)


def mixed(offline: Transition, online_buffer: replay.ReplayBuffer, key: jax.Array, batch_size: int,
          offline_ratio: float, *, offline_augment: Optional[Augmentation] = None,
          online_augment: Optional[Augmentation] = None) -> Transition:
  """round(batch_size * offline_ratio) offline rows first, then online rows from the buffer.

  Each source has its own augmentation (LOTJ: augment the 75% offline part only). While the
  online buffer is empty its rows are drawn from the offline data instead.
  """
  if not 0.0 <= offline_ratio <= 1.0:
    raise ValueError(f"offline_ratio must be in [0, 1], got {offline_ratio}")
  offline_rows = int(round(batch_size * offline_ratio))
  online_rows = batch_size - offline_rows
  offline = replay.with_ids(offline)
  offline_key, online_key, fallback_key, offline_aug_key, online_aug_key = jax.random.split(key, 5)
  parts = []
  if offline_rows:
    batch = uniform(offline, offline_key, offline_rows)
    parts.append(offline_augment(batch, offline_aug_key) if offline_augment else batch)
  if online_rows:
    online = replay.sample(online_buffer, online_key, online_rows)
    fallback = uniform(offline, fallback_key, online_rows)
    has_online = online_buffer.size > 0
    batch = jax.tree_util.tree_map(lambda a, b: jnp.where(has_online, a, b.astype(a.dtype)), online, fallback)
    parts.append(online_augment(batch, online_aug_key) if online_augment else batch)
  return parts[0] if len(parts) == 1 else _concat(parts[0], parts[1])


# ------------------------------------------------------------------ episode and task indices
@struct.dataclass
class IndexedDataset:
  """Transitions grouped by task (then episode), with the index arrays that samplers need."""

  transitions: Transition
  episode_start: jax.Array  # [N] first transition of this transition's episode
  episode_end: jax.Array  # [N] last transition (inclusive) of this transition's episode
  task_ids: jax.Array  # [T] task id held in each task slot
  task_start: jax.Array  # [T] first transition of the slot
  task_count: jax.Array  # [T] transitions in the slot

  @property
  def num_tasks(self) -> int:
    return int(self.task_ids.shape[0])


def index_dataset(transitions: Transition, episode_index) -> IndexedDataset:
  """Groups transitions by task id (stable, so episodes stay contiguous) and indexes episodes.

  `episode_index` is the per-transition episode number from `load_transitions(...)[2]`.
  """
  episode_index = np.asarray(episode_index)
  count = episode_index.shape[0]
  task_id = np.zeros(count, np.int32) if transitions.task_id is None else np.asarray(transitions.task_id)
  order = np.lexsort((np.arange(count), episode_index, task_id))
  transitions = jax.tree_util.tree_map(lambda x: x[jnp.asarray(order)], replay.with_ids(transitions))
  episode_index, task_id = episode_index[order], task_id[order]
  new_episode = np.ones(count, bool)
  new_episode[1:] = (episode_index[1:] != episode_index[:-1]) | (task_id[1:] != task_id[:-1])
  starts = np.flatnonzero(new_episode)
  ends = np.append(starts[1:], count) - 1
  run = np.cumsum(new_episode) - 1
  task_ids, task_start, task_count = np.unique(task_id, return_index=True, return_counts=True)
  as_device = lambda x: jnp.asarray(x, jnp.int32)
  return IndexedDataset(transitions=transitions, episode_start=as_device(starts[run]),
                        episode_end=as_device(ends[run]), task_ids=as_device(task_ids),
                        task_start=as_device(task_start), task_count=as_device(task_count))


class MetaBatch(NamedTuple):
  batch: Transition  # leaves [num_tasks, batch_per_task, ...]
  context: Transition  # leaves [num_tasks, context_size, ...]
  context_mask: jax.Array  # [num_tasks, context_size], 0 where a window ran past its episode
  task_ids: jax.Array  # [num_tasks]
  # [num_tasks, batch_per_task, action_dim]: the dataset's action at each row's next state (the
  # row's own action at an episode's last row), for SARSA-style targets; None if not sampled.
  next_action: Optional[jax.Array] = None


def meta_batch(dataset: IndexedDataset, key: jax.Array, num_tasks: int, batch_per_task: int,
               context_size: int, *, context_mode: str = "random") -> MetaBatch:
  """Per-task batches plus context for PEARL/ODA/SMAC-style meta-training.

  Tasks are drawn without replacement when num_tasks <= the tasks present. Context is
  `context_size` transitions of the same task: i.i.d. ("random", PEARL's permutation-invariant
  encoder) or one contiguous window inside one episode ("window", for sequence encoders).
  """
  if context_mode not in ("random", "window"):
    raise ValueError(f"context_mode must be 'random' or 'window', got {context_mode!r}")
  task_key, batch_key, context_key = jax.random.split(key, 3)
  available = dataset.num_tasks
  slots = jax.random.choice(task_key, available, (num_tasks,), replace=num_tasks > available)
  start = dataset.task_start[slots][:, None]
  count = dataset.task_count[slots][:, None]
  take = lambda index: jax.tree_util.tree_map(lambda x: x[index], dataset.transitions)
  batch_index = start + jax.random.randint(batch_key, (num_tasks, batch_per_task), 0, count)
  if context_mode == "random":
    context_index = start + jax.random.randint(context_key, (num_tasks, context_size), 0, count)
    context_mask = jnp.ones((num_tasks, context_size), jnp.float32)
  else:
    anchor = start[:, 0] + jax.random.randint(context_key, (num_tasks,), 0, count[:, 0])
    first, last = dataset.episode_start[anchor], dataset.episode_end[anchor]
    window_start = jnp.maximum(jnp.minimum(anchor, last - context_size + 1), first)
    raw = window_start[:, None] + jnp.arange(context_size)[None, :]
    context_mask = (raw <= last[:, None]).astype(jnp.float32)
    context_index = jnp.minimum(raw, last[:, None])
  return MetaBatch(batch=take(batch_index), context=take(context_index), context_mask=context_mask,
                   task_ids=dataset.task_ids[slots])


def _per_task_index(dataset: IndexedDataset, key: jax.Array, size: int) -> jax.Array:
  start, count = dataset.task_start[:, None], dataset.task_count[:, None]
  return start + jax.random.randint(key, (dataset.num_tasks, size), 0, count)


def per_task(dataset: IndexedDataset, key: jax.Array, size: int) -> Transition:
  """`size` transitions of every task slot, in slot order: leaves [num_tasks, size, ...]."""
  index = _per_task_index(dataset, key, size)
  return jax.tree_util.tree_map(lambda x: x[index], dataset.transitions)


def demo_meta_batch(offline: IndexedDataset, demos: IndexedDataset, key: jax.Array,
                    batch_per_task: int, context_size: int) -> MetaBatch:
  """ODA's meta-batch over every task (Algorithm 1): RL rows from each task's offline data,
  context from the same task's demonstrations. Both datasets hold the same tasks in the same
  slots (`check_same_tasks`)."""
  batch_key, context_key = jax.random.split(key)
  index = _per_task_index(offline, batch_key, batch_per_task)
  next_index = jnp.minimum(index + 1, offline.episode_end[index])
  return MetaBatch(batch=jax.tree_util.tree_map(lambda x: x[index], offline.transitions),
                   context=per_task(demos, context_key, context_size),
                   context_mask=jnp.ones((demos.num_tasks, context_size), jnp.float32),
                   task_ids=offline.task_ids,
                   next_action=offline.transitions.action[next_index])


def check_same_tasks(offline: IndexedDataset, demos: IndexedDataset) -> None:
  offline_ids, demo_ids = np.asarray(offline.task_ids), np.asarray(demos.task_ids)
  if offline_ids.shape != demo_ids.shape or np.any(offline_ids != demo_ids):
    raise ValueError(f"the offline data holds tasks {offline_ids.tolist()} and the "
                     f"demonstrations {demo_ids.tolist()}; every task needs both")


# --------------------------------------------------------------------------- goal relabelling
def relabel_counts(batch_size: int, *fractions: float):
  """Rows per relabelling block of `her_relabel` (next, future, random, nearby), in order."""
  counts = [int(round(batch_size * fraction)) for fraction in fractions]
  if min(fractions) < 0 or sum(counts) > batch_size:
    raise ValueError(f"relabel fractions {fractions} must be >= 0 and sum to at most 1")
  return counts


def _nearby_other_episode(dataset: IndexedDataset, key: jax.Array, index: jax.Array,
                          achieved: jax.Array, achieved_goal_slice: slice, candidates: int) -> jax.Array:
  """Per row, of `candidates` transitions drawn uniformly, the one from another episode whose
  achieved goal is nearest (Euclidean) to the row's `achieved` goal: its index."""
  total = dataset.transitions.reward.shape[0]
  drawn = jax.random.randint(key, (index.shape[0], candidates), 0, total)
  goals = dataset.transitions.next_obs[drawn][..., achieved_goal_slice]
  distance = jnp.linalg.norm(goals - achieved[:, None], axis=-1)
  same_episode = dataset.episode_start[drawn] == dataset.episode_start[index][:, None]
  nearest = jnp.argmin(jnp.where(same_episode, jnp.inf, distance), axis=-1)
  return jnp.take_along_axis(drawn, nearest[:, None], axis=-1)[:, 0]


def her_relabel(dataset: IndexedDataset, key: jax.Array, batch_size: int, *, goal_slice: slice,
                achieved_goal_slice: slice, reward_fn: Callable[[jax.Array, jax.Array], jax.Array],
                next_fraction: float = 0.0, future_fraction: float = 0.0, random_fraction: float = 0.0,
                terminal_fn: Optional[Callable[[jax.Array, jax.Array], jax.Array]] = None,
                nearby_fraction: float = 0.0, nearby_candidates: int = 64,
                nearby_failure_reward: Optional[float] = None) -> Transition:
  """Samples a batch and replaces its goals with hindsight goals (HER; PTP's next/future mix).

  Rows come in fixed blocks: the first round(B * next_fraction) rows take the goal achieved at
  their own next state, the following round(B * future_fraction) one achieved at a uniformly
  drawn later state of the same episode, then round(B * random_fraction) one achieved anywhere in
  the dataset, then round(B * nearby_fraction) one achieved in *another* episode near the row's
  own achieved goal (the nearest of `nearby_candidates` uniform draws, those of the row's episode
  left out: hard negatives, goals that look close but need not be reachable, as behind a wall);
  with `nearby_failure_reward`, a nearby row whose goal is not reached ends there with that
  reward (the goal counted unreachable, Actionable Models' negative goals) instead of
  bootstrapping; the rest keep their goals and rewards. Goals sit at `goal_slice` of obs and
  next_obs; a state's achieved goal is next_obs[..., achieved_goal_slice]. Relabelled rows get
  reward_fn(achieved goal of next_obs, goal) and, with `terminal_fn`, mask = 1 - terminal_fn(...).
  """
  next_rows, future_rows, random_rows, nearby_rows = relabel_counts(
      batch_size, next_fraction, future_fraction, random_fraction, nearby_fraction)
  if nearby_rows and nearby_candidates < 1:
    raise ValueError(f"nearby_candidates must be >= 1, got {nearby_candidates}")
  index_key, future_key, random_key = jax.random.split(key, 3)
  total = dataset.transitions.reward.shape[0]
  index = jax.random.randint(index_key, (batch_size,), 0, total)
  batch = jax.tree_util.tree_map(lambda x: x[index], dataset.transitions)
  row = jnp.arange(batch_size)
  is_next = row < next_rows
  is_future = (row >= next_rows) & (row < next_rows + future_rows)
  is_random = (row >= next_rows + future_rows) & (row < next_rows + future_rows + random_rows)
  before_nearby = next_rows + future_rows + random_rows
  is_nearby = (row >= before_nearby) & (row < before_nearby + nearby_rows)
  # Uniform over [index, episode_end]: scale a uniform draw by the remaining episode length.
  remaining = dataset.episode_end[index] - index + 1
  future = index + jnp.floor(jax.random.uniform(future_key, (batch_size,)) * remaining).astype(jnp.int32)
  anywhere = jax.random.randint(random_key, (batch_size,), 0, total)
  source = jnp.where(is_future, jnp.minimum(future, dataset.episode_end[index]), jnp.where(is_random, anywhere, index))
  if nearby_rows:   # its own key, so that batches without nearby goals are as before
    block = slice(before_nearby, before_nearby + nearby_rows)
    nearby = _nearby_other_episode(dataset, jax.random.fold_in(key, 3), index[block],
                                   batch.next_obs[block, achieved_goal_slice], achieved_goal_slice,
                                   nearby_candidates)
    source = source.at[block].set(nearby)
  new_goal = dataset.transitions.next_obs[source][:, achieved_goal_slice]
  relabelled = (is_next | is_future | is_random | is_nearby)[:, None]
  goal = jnp.where(relabelled, new_goal, batch.obs[:, goal_slice])
  obs = batch.obs.at[:, goal_slice].set(goal)
  next_obs = batch.next_obs.at[:, goal_slice].set(goal)
  achieved = batch.next_obs[:, achieved_goal_slice]
  reward = jnp.where(relabelled[:, 0], reward_fn(achieved, goal).astype(batch.reward.dtype), batch.reward)
  mask = batch.mask
  if terminal_fn is not None:
    mask = jnp.where(relabelled[:, 0], 1.0 - terminal_fn(achieved, goal).astype(mask.dtype), mask)
  if nearby_rows and nearby_failure_reward is not None:
    failed = is_nearby & (mask > 0)
    reward = jnp.where(failed, jnp.asarray(nearby_failure_reward, reward.dtype), reward)
    mask = jnp.where(failed, 0.0, mask)
  return batch.replace(obs=obs, next_obs=next_obs, reward=reward, mask=mask)


# ------------------------------------------------------------------------ image augmentation
def random_shift(images: jax.Array, key: jax.Array, pad: int = 4) -> jax.Array:
  """DrQ's random shift: pad each image by `pad` (edge pixels repeated) and crop back at a random
  offset. `images` is [..., H, W, C]; every image gets its own shift; dtype is kept."""
  *leading, height, width, channels = images.shape
  flat = images.reshape((-1, height, width, channels))
  padded = jnp.pad(flat, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
  offsets = jax.random.randint(key, (flat.shape[0], 2), 0, 2 * pad + 1)

  def crop(image, offset):
    return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (height, width, channels))

  return jax.vmap(crop)(padded, offsets).reshape(images.shape)


def colour_jitter(images: jax.Array, key: jax.Array, gain: float = 0.4, brightness: float = 40.0,
                  grey_probability: float = 0.3, permute_channels: bool = True) -> jax.Array:
  """A random colour change per image of a uint8 batch [N, H, W, 3]: the RGB channels permuted,
  each scaled by U[1 - gain, 1 + gain], a brightness offset U[-brightness, brightness] (in 0-255
  units) added to all three, and with `grey_probability` the image made grey (channel mean).
  Geometry is untouched: a label that depends only on positions (a plug's offset from its
  socket) is unchanged, while the colours that tell domains apart are scrambled."""
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"colour_jitter needs RGB images [N, H, W, 3], got shape {images.shape}")
  x = images.astype(jnp.float32)
  count = x.shape[0]
  perm_key, gain_key, bright_key, grey_key = jax.random.split(key, 4)
  if permute_channels:
    order = jax.vmap(lambda k: jax.random.permutation(k, 3))(jax.random.split(perm_key, count))
    x = jnp.take_along_axis(x, order[:, None, None, :], axis=-1)
  x = x * jax.random.uniform(gain_key, (count, 1, 1, 3), minval=1.0 - gain, maxval=1.0 + gain)
  x = x + jax.random.uniform(bright_key, (count, 1, 1, 1), minval=-brightness, maxval=brightness)
  grey = jax.random.uniform(grey_key, (count, 1, 1, 1)) < grey_probability
  x = jnp.where(grey, jnp.mean(x, axis=-1, keepdims=True), x)
  return jnp.clip(jnp.round(x), 0, 255).astype(images.dtype)


def colour_observations(**kwargs) -> Augmentation:
  """An augmentation for `mixed`: `colour_jitter` with one draw per row, the same for its obs and
  next_obs (a transition stays one scene under one lighting)."""

  def augment(batch: Transition, key: jax.Array) -> Transition:
    height = batch.obs.shape[-3]
    both = colour_jitter(jnp.concatenate([batch.obs, batch.next_obs], axis=-3), key, **kwargs)
    return batch.replace(obs=both[..., :height, :, :], next_obs=both[..., height:, :, :])

  return augment


def shift_observations(pad: int = 4) -> Augmentation:
  """An augmentation for `mixed`: independent random shifts of obs and next_obs images."""

  def augment(batch: Transition, key: jax.Array) -> Transition:
    obs_key, next_key = jax.random.split(key)
    return batch.replace(obs=random_shift(batch.obs, obs_key, pad), next_obs=random_shift(batch.next_obs, next_key, pad))

  return augment
