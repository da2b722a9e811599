"""Turns RLDS episodes into the device-resident transition set that agents train on.

Transition i pairs step t with step t + 1 of the same episode: (observation_t, action_t,
reward_t, observation_{t+1}) with mask = 1 - is_terminal_{t+1}. An episode that ends without
is_terminal (a time limit, a stopped robot) keeps mask 1 on its last transition, so the critic
bootstraps through it. Reward preprocessing follows the official IQL; the numbers it used are
returned in `info` so a run can log them.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import jax
import numpy as np

from jaxinsert.data.errors import DataError, Location
from jaxinsert.data.specs import DatasetSpec, load_spec
from jaxinsert.types import Spec, Transition

REWARD_PREPROCESSING = ("none", "locomotion_return_range", "antmaze_minus_one")


def _is_dataset_path(value: Any) -> bool:
  return isinstance(value, (str, os.PathLike))


def observation_layout(spec: DatasetSpec, obs_keys: Optional[Sequence[str]] = None
                       ) -> Tuple[Tuple[str, ...], Tuple[int, ...], np.dtype, Dict[str, Tuple[int, int]]]:
  """(keys, per-transition obs shape, dtype, slice of each key in the flat vector).

  Several features are flattened and concatenated in order (float32); a single feature of rank
  >= 2 (an image) keeps its shape and dtype. Images cannot be mixed with vectors in one array.
  """
  keys = spec.agent_obs_keys(obs_keys)
  features = [spec.observation[key] for key in keys]
  if len(keys) == 1 and len(features[0].shape) >= 2:
    return keys, tuple(features[0].shape), np.dtype(features[0].dtype), {}
  slices: Dict[str, Tuple[int, int]] = {}
  offset = 0
  for key, feature in zip(keys, features):
    if len(feature.shape) >= 2:
      raise DataError(f"feature of shape {list(feature.shape)} cannot be concatenated with others; "
                      "pass obs_keys=[it] alone", file=spec.source, field=f"observation/{key}")
    slices[key] = (offset, offset + feature.size)
    offset += feature.size
  return keys, (offset,), np.dtype(np.float32), slices


class _TransitionArrays:
  """Host arrays sized up front, so peak memory stays near one copy of the dataset."""

  def __init__(self, count: int, obs_shape: Tuple[int, ...], obs_dtype: np.dtype, action_dim: int):
    self.obs = np.empty((count,) + obs_shape, obs_dtype)
    self.next_obs = np.empty((count,) + obs_shape, obs_dtype)
    self.action = np.empty((count, action_dim), np.float32)
    self.reward = np.empty((count,), np.float32)
    self.mask = np.empty((count,), np.float32)
    self.task_id = np.empty((count,), np.int32)
    self.domain_id = np.empty((count,), np.int32)
    self.episode_index = np.empty((count,), np.int32)
    self.filled = 0


def _transitions_in(num_steps: int, is_terminal_end: bool, final_step_empty: bool, drop_timeout: bool) -> int:
  """Transitions taken from an episode: consecutive step pairs, minus the one into an appended
  final observation of a truncated episode when `drop_timeout` (d4rl.qlearning_dataset's rule)."""
  pairs = max(num_steps - 1, 0)
  drop = drop_timeout and not is_terminal_end and final_step_empty and pairs > 0
  return pairs - 1 if drop else pairs


def _fill(arrays: _TransitionArrays, episode: Mapping[str, Any], number: int, keys: Sequence[str],
          count: int, where: Location) -> float:
  """Writes the first `count` transitions of `episode`; returns their summed reward."""
  if count <= 0:
    return float("nan")
  steps = episode["steps"]
  start, stop = arrays.filled, arrays.filled + count
  observations = [np.asarray(steps["observation"][key]) for key in keys]
  if len(observations) == 1 and observations[0].ndim >= 3:
    arrays.obs[start:stop] = observations[0][:count]
    arrays.next_obs[start:stop] = observations[0][1:count + 1]
  else:
    column = 0
    for value in observations:
      flat = value.reshape(len(value), -1)
      width = flat.shape[1]
      arrays.obs[start:stop, column:column + width] = flat[:count]
      arrays.next_obs[start:stop, column:column + width] = flat[1:count + 1]
      column += width
    if column != arrays.obs.shape[1]:
      raise DataError(f"observation has {column} values, the spec says {arrays.obs.shape[1]}", where)
  arrays.action[start:stop] = np.asarray(steps["action"]).reshape(len(steps["action"]), -1)[:count]
  reward = np.asarray(steps["reward"], np.float32)[:count]
  arrays.reward[start:stop] = reward
  arrays.mask[start:stop] = 1.0 - np.asarray(steps["is_terminal"], np.float32)[1:count + 1]
  arrays.task_id[start:stop] = int(episode.get("task_id", 0))
  arrays.domain_id[start:stop] = int(episode.get("domain_id", 0))
  arrays.episode_index[start:stop] = number
  arrays.filled = stop
  return float(np.sum(reward, dtype=np.float64))


def load_transitions(dataset_dir_or_episodes: Any, *, obs_keys: Optional[Sequence[str]] = None,
                     reward_preprocessing: str = "none", action_clip: Optional[float] = None,
                     spec: Any = None, drop_timeout_transitions: bool = False,
                     to_device: bool = True) -> Tuple[Transition, Spec, Dict[str, Any]]:
  """Loads transitions from a dataset directory (or a list of them, or in-memory episodes).

  reward_preprocessing: "none"; "locomotion_return_range" (IQL: r / (max episode return - min
  episode return) * 1000, returns summed over the transitions kept); "antmaze_minus_one" (r - 1).
  action_clip: clip actions to [-action_clip, action_clip] (IQL uses 1 - 1e-5).
  drop_timeout_transitions: drop the transition into the appended final observation of every
  episode that did not terminate, which is what d4rl.qlearning_dataset does (an episode whose last
  step still carries its own action, as from D4RL files without next_observations, has no such
  transition). Off by default: those transitions are real (see tests/test_data_d4rl_reconcile.py).
  Returns (transitions on device, agent Spec, info) where info holds counts, per-episode
  returns, the scaling applied, the observation layout, a per-transition episode index and the
  dataset's spec as a dict (JSON-able, `DatasetSpec.from_dict` rebuilds it).
  """
  if reward_preprocessing not in REWARD_PREPROCESSING:
    raise ValueError(f"reward_preprocessing must be one of {REWARD_PREPROCESSING}, got {reward_preprocessing!r}")
  sources = _episode_sources(dataset_dir_or_episodes, spec)
  dataset_spec = sources[0][0]
  keys, obs_shape, obs_dtype, slices = observation_layout(dataset_spec, obs_keys)
  if len(dataset_spec.action.shape) != 1:
    raise DataError(f"actions must be vectors, spec shape is {list(dataset_spec.action.shape)}",
                    file=dataset_spec.source, field="action")
  for other, _, _ in sources[1:]:
    if observation_layout(other, keys)[1:3] != (obs_shape, obs_dtype) or other.action.shape != dataset_spec.action.shape:
      raise DataError(f"dataset shapes differ from {dataset_spec.source}", file=other.source, field="observation")

  plans = [(source_spec, list(zip(*columns)), episodes) for source_spec, columns, episodes in sources]
  total = sum(_transitions_in(*shape, drop_timeout_transitions) for _, shapes, _ in plans for shape in shapes)
  arrays = _TransitionArrays(total, obs_shape, obs_dtype, int(dataset_spec.action.shape[0]))
  returns: List[float] = []
  number = 0
  for _, shapes, episodes in plans:
    for (episode, where), shape in zip(episodes(keys), shapes):
      count = _transitions_in(*shape, drop_timeout_transitions)
      returns.append(_fill(arrays, episode, number, keys, count, where.replace(episode=number)))
      number += 1
  if arrays.filled != total:
    raise DataError(f"read {arrays.filled} transitions, the index promised {total}")
  info = _preprocess(arrays, np.asarray(returns), reward_preprocessing, action_clip)
  num_episodes = sum(len(shapes) for _, shapes, _ in plans)
  info.update(num_episodes=num_episodes, num_transitions=int(total),
              num_terminal_transitions=int(np.sum(arrays.mask == 0)),
              num_truncated_episodes=int(sum(not shape[1] for _, shapes, _ in plans for shape in shapes)),
              drop_timeout_transitions=drop_timeout_transitions, obs_keys=keys, obs_slices=slices,
              episode_index=arrays.episode_index, spec=dataset_spec.to_dict())
  agent_spec = Spec(obs_shape=obs_shape, action_dim=int(dataset_spec.action.shape[0]), obs_dtype=obs_dtype)
  return _to_transition(arrays, to_device), agent_spec, info


def _episode_sources(value: Any, spec: Any):
  """[(spec, (lengths, ends_terminal, final_step_empty), episodes(keys) -> iterator of (episode, where))]."""
  from jaxinsert.data import rlds  # tensorflow_datasets is slow to import; only dataset paths need it

  if _is_dataset_path(value):
    value = [value]
  value = list(value)
  if value and all(_is_dataset_path(item) for item in value):
    sources = []
    for directory in value:
      index = rlds.load_index(directory)
      dataset_spec = rlds.load_spec_of(directory)

      def episodes(keys, directory=directory, dataset_spec=dataset_spec):
        from jaxinsert.data.rlds_codec import EpisodeCodec
        codec = EpisodeCodec(dataset_spec)
        lengths = rlds.load_index(directory)["num_steps"]
        for shard, number, record in rlds.iter_records(directory):
          where = Location(file=str(shard), episode=number)
          episode = codec.parse(record, where, observation_keys=keys, with_infos=False)
          rlds.check_episode_length(episode, lengths[number], where)
          yield episode, where

      empty = index.get("final_step_empty", [True] * len(index["num_steps"]))
      sources.append((dataset_spec, (index["num_steps"], index["is_terminal"], empty), episodes))
    return sources
  if not value:
    raise DataError("no episodes given")
  dataset_spec = load_spec(spec) if spec is not None else _spec_from_episode(value[0])
  lengths = [len(np.asarray(episode["steps"]["is_first"])) for episode in value]
  terminals = [bool(np.asarray(episode["steps"]["is_terminal"])[-1]) for episode in value]
  empty = [not (np.any(np.asarray(e["steps"]["action"])[-1]) or np.any(np.asarray(e["steps"]["reward"])[-1]))
           for e in value]
  return [(dataset_spec, (lengths, terminals, empty),
           lambda keys: ((episode, Location(episode=i)) for i, episode in enumerate(value)))]


def _spec_from_episode(episode: Mapping[str, Any]) -> DatasetSpec:
  """A minimal spec (names, shapes, dtypes) for in-memory episodes given without one."""
  steps = episode["steps"]
  observation = {name: {"shape": list(np.shape(value)[1:]), "dtype": str(np.asarray(value).dtype)
                        if np.asarray(value).dtype == np.uint8 else "float32"}
                 for name, value in steps["observation"].items()}
  raw = {"name": "in-memory", "version": "0.0.0", "observation": observation,
         "action": {"shape": list(np.shape(steps["action"])[1:]), "dtype": "float32"},
         "reward": {"dtype": "float32"}, "episode_metadata": {}}
  return DatasetSpec.from_dict(raw)


def _preprocess(arrays: _TransitionArrays, returns: np.ndarray, mode: str,
                action_clip: Optional[float]) -> Dict[str, Any]:
  valid = returns[np.isfinite(returns)]  # episodes with no transition have no return
  info: Dict[str, Any] = {"episode_returns": returns, "reward_preprocessing": mode, "reward_scale": 1.0,
                          "reward_shift": 0.0, "action_clip": action_clip,
                          "return_min": float(valid.min()) if valid.size else float("nan"),
                          "return_max": float(valid.max()) if valid.size else float("nan")}
  if mode == "locomotion_return_range":
    spread = info["return_max"] - info["return_min"]
    if not np.isfinite(spread) or spread <= 0:
      raise DataError(f"return range is {spread}: cannot scale rewards by it (need two episodes with different returns)")
    info["reward_scale"] = 1000.0 / spread
    arrays.reward *= np.float32(info["reward_scale"])
  elif mode == "antmaze_minus_one":
    info["reward_shift"] = -1.0
    arrays.reward -= np.float32(1.0)
  if action_clip is not None:
    np.clip(arrays.action, -action_clip, action_clip, out=arrays.action)
  return info


def _to_transition(arrays: _TransitionArrays, to_device: bool) -> Transition:
  fields = {}
  for name in ("obs", "next_obs", "action", "reward", "mask", "task_id", "domain_id"):
    host = getattr(arrays, name)
    # One field at a time, dropping the host copy right after: peak memory ~ dataset + one field.
    fields[name] = jax.device_put(host) if to_device else host
    if to_device:
      fields[name].block_until_ready()
      setattr(arrays, name, None)
  return Transition(**fields)
