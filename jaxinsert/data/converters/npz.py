"""Converter for NumPy files: a flat dict of arrays in D4RL's layout (.npz), or rlkit-style lists of
paths (.npy/.pkl/.npz with a 'paths' entry), each path a dict with observations, actions, rewards,
next_observations, terminals (observations may be dicts, e.g. goal-conditioned envs).

Lists of paths are Python objects: loading them runs pickle, which can execute code, so it needs
`allow_pickle` (--allow_pickle) and should only be used on files you trust.
"""

from __future__ import annotations

import pathlib
import pickle
import zipfile
from typing import Any, Dict, Iterator, List, Mapping, Optional

import numpy as np

from jaxinsert.data import d4rl_layout
from jaxinsert.data.converters.common import (ConvertOptions, as_flags, check_unused_next_observations,
                                              finish_episode, flat_layout_flags, rlds_steps, single_feature)
from jaxinsert.data.errors import DataError, Location
from jaxinsert.data.specs import DatasetSpec

DEFAULT_SPEC = None  # shapes are in the arrays; without --spec they are read off them
NEEDS_SPEC = False


def _load(path: pathlib.Path, allow_pickle: bool) -> Any:
  file = str(path)
  try:
    if path.suffix == ".pkl":
      if not allow_pickle:
        raise DataError("pickle files need --allow_pickle (pickle can run code: trusted files only)", file=file)
      with open(path, "rb") as handle:
        return pickle.load(handle)
    loaded = np.load(path, allow_pickle=allow_pickle)
    if isinstance(loaded, np.lib.npyio.NpzFile):
      with loaded:
        return {key: loaded[key] for key in loaded.files}
    return loaded
  except DataError:
    raise
  except ValueError as error:
    if "allow_pickle" in str(error):
      raise DataError("file holds Python objects; pass --allow_pickle (trusted files only)", file=file) from None
    raise DataError(f"cannot load: {error}", file=file) from None
  except (OSError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as error:
    raise DataError(f"cannot load (truncated or corrupt?): {error}", file=file) from None


def _as_paths(loaded: Any, file: str) -> Optional[List[Mapping[str, Any]]]:
  if isinstance(loaded, Mapping) and "paths" in loaded:
    loaded = loaded["paths"]
  if isinstance(loaded, np.ndarray) and loaded.dtype == object:
    loaded = loaded.tolist() if loaded.ndim else loaded.item()
  if isinstance(loaded, (list, tuple)):
    if not all(isinstance(path, Mapping) for path in loaded):
      raise DataError("a list of paths must hold dicts", file=file, field="paths")
    return list(loaded)
  return None


def _stack_observations(value: Any, spec: Optional[DatasetSpec], options: ConvertOptions) -> Dict[str, np.ndarray]:
  """Array -> {feature: array}; dict of arrays or list of dicts (goal envs) -> {key: stacked}."""
  if isinstance(value, Mapping):
    return {key: np.asarray(item) for key, item in value.items()}
  if isinstance(value, (list, tuple)) and value and isinstance(value[0], Mapping):
    return {key: np.stack([np.asarray(step[key]) for step in value]) for key in value[0]}
  name = single_feature(spec, options) if spec is not None else "state"
  return {name: np.asarray(value)}


def _path_episode(path: Mapping[str, Any], spec: Optional[DatasetSpec], options: ConvertOptions,
                  where: Location) -> Dict[str, Any]:
  for key in ("observations", "actions", "rewards", "terminals"):
    if key not in path:
      raise DataError(f"path lacks '{key}' (has {sorted(path)})", where, field=key)
  observation = _stack_observations(path["observations"], spec, options)
  action = np.asarray(path["actions"])
  rows = len(action)
  if rows == 0:
    raise DataError("path has zero rows: an episode without a single step cannot be converted", where,
                    field="actions")
  reward = np.asarray(path["rewards"]).reshape(rows, -1)
  if reward.shape[1] != 1:
    raise DataError(f"rewards must be (T,) or (T, 1), got {list(np.shape(path['rewards']))}", where, field="rewards")
  terminals = as_flags(np.asarray(path["terminals"]).reshape(rows, -1), where.replace(field="terminals"))
  early = np.flatnonzero(terminals[:-1])
  if early.size:
    raise DataError("path continues after a terminal", where, step=int(early[0]), field="terminals")
  for key, value in observation.items():
    if len(value) != rows:
      raise DataError(f"{len(value)} rows for {rows} actions", where, field=f"observations/{key}")
  final = None
  if "next_observations" in path:
    next_observation = _stack_observations(path["next_observations"], spec, options)
    final = {key: value[-1] for key, value in next_observation.items()}
  steps = rlds_steps(observation, action, reward[:, 0], final_observation=final, terminal=bool(terminals[-1]))
  return {"steps": steps}


def episodes(path: Any, spec: Optional[DatasetSpec], options: ConvertOptions,
             report: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
  path = pathlib.Path(path)
  file = str(path)
  loaded = _load(path, options.allow_pickle)
  paths = _as_paths(loaded, file)
  if paths is not None:
    report["layout"] = "paths"
    for number, item in enumerate(paths):
      where = Location(file=file, episode=number)
      yield finish_episode(spec, _path_episode(item, spec, options, where), where, options)
    return
  if not isinstance(loaded, Mapping):
    raise DataError("expected a dict of arrays (D4RL layout) or a list of path dicts", file=file)
  report["layout"] = "flat"
  data = {key: np.asarray(value) for key, value in loaded.items()}
  d4rl_layout.check_layout(data, file)
  flat_layout_flags(data, options, file)
  check_unused_next_observations(data, options, file, report)
  feature = single_feature(spec, options) if spec is not None else "state"
  for number, episode in enumerate(d4rl_layout.episodes_from_layout(
      data, obs_feature=feature, split_on_discontinuity=options.split_on_discontinuity)):
    yield finish_episode(spec, episode, Location(file=file, episode=number), options,
                         episode["metadata"]["first_row"])
