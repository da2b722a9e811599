"""Converter for robomimic HDF5 files: data/demo_<N>/{obs/<key>, next_obs/<key>, actions, rewards,
dones}, attrs `env_args` (JSON) on `data`, optional mask/<filter_key> lists of demo names.

robomimic marks a demo's end in `dones` (on task success and/or at the last step, by its
`done_mode`): a demo whose last `dones` is 1 ends in a terminal; `dones` set earlier in the demo
(success reached and held) is counted in the provenance report, not treated as an end.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, Iterator, List, Optional

import numpy as np

from jaxinsert.data.converters.common import (ConvertOptions, as_flags, finish_episode, open_hdf5, read_array,
                                              read_group, rlds_steps)
from jaxinsert.data.errors import DataError, Location
from jaxinsert.data.specs import DatasetSpec

DEFAULT_SPEC = None  # obs/<key> names and shapes are in the file; without --spec they are read off it
NEEDS_SPEC = False


def _demo_names(handle: Any, file: str, filter_key: Optional[str]) -> List[str]:
  if "data" not in handle:
    raise DataError("missing group 'data'", file=file, field="data")
  names = [name for name in handle["data"].keys() if re.fullmatch(r"demo_\d+", name)]
  if filter_key:
    key = f"mask/{filter_key}"
    if key not in handle:
      raise DataError(f"no filter key {filter_key!r}", file=file, field=key)
    wanted = {v.decode() if isinstance(v, bytes) else str(v) for v in handle[key][()]}
    missing = sorted(wanted - set(names))
    if missing:
      raise DataError(f"filter lists demos that do not exist: {missing[:5]}", file=file, field=key)
    names = [name for name in names if name in wanted]
  if not names:
    raise DataError("no demo_<N> groups under data/", file=file, field="data")
  return sorted(names, key=lambda name: int(name.split("_")[1]))


def episodes(path: Any, spec: Optional[DatasetSpec], options: ConvertOptions,
             report: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
  file = str(path)
  with open_hdf5(path) as handle:
    names = _demo_names(handle, file, options.filter_key)
    env_args = handle["data"].attrs.get("env_args")
    if env_args is not None:
      try:
        report["env_args"] = json.loads(env_args)
      except (TypeError, ValueError):
        report["env_args"] = str(env_args)
    report["demos"] = len(names)
    early_dones = 0
    for number, name in enumerate(names):
      where = Location(file=file, episode=number)
      group = handle["data"][name]
      if "obs" not in group:
        raise DataError("missing group 'obs'", where, field=f"data/{name}/obs")
      wanted = list(spec.observation) if spec is not None else None
      observation = _select(read_group(group["obs"], file, episode=number), wanted, where, "obs")
      next_observation = None
      if "next_obs" in group:
        next_observation = _select(read_group(group["next_obs"], file, episode=number), wanted, where, "next_obs")
      action = np.asarray(read_array(group, "actions", file, number))
      reward = np.asarray(read_array(group, "rewards", file, number)).reshape(-1)
      dones = as_flags(read_array(group, "dones", file, number), where.replace(field="dones"))
      rows = len(action)
      for key, value in [(f"obs/{k}", v) for k, v in observation.items()] + [("rewards", reward), ("dones", dones)]:
        if len(value) != rows:
          raise DataError(f"{len(value)} rows for {rows} actions", where, field=key)
      early_dones += int(dones[:-1].sum())
      final = {key: value[-1] for key, value in next_observation.items()} if next_observation else None
      steps = rlds_steps(observation, action, reward, final_observation=final, terminal=bool(dones[-1]))
      yield finish_episode(spec, {"steps": steps, "metadata": {"robomimic_demo": name}}, where, options)
    report["dones_before_last_step"] = early_dones


def _select(group: Dict[str, np.ndarray], wanted: Optional[List[str]], where: Location, prefix: str
            ) -> Dict[str, np.ndarray]:
  """The spec's features from obs/ (all of them when inferring), each named by its key."""
  if wanted is None:
    return {key.replace("/", "_"): value for key, value in group.items()}
  missing = [key for key in wanted if key not in group]
  if missing:
    raise DataError(f"spec feature missing from {prefix}/ (have {sorted(group)})", where,
                    field=f"{prefix}/{missing[0]}")
  return {key: group[key] for key in wanted}
