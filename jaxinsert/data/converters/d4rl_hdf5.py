"""Converter for D4RL's HDF5 layout: flat observations/actions/rewards/terminals/timeouts arrays,
optional next_observations, infos/* and metadata/*. Episode semantics: jaxinsert.data.d4rl_layout.

Without --spec the spec is chosen from the file (`choose_spec`): the D4RL family whose variant has
the file's observation and action sizes and a reward of the same kind (dense or 0/1), else a generic
spec read off the file (shapes, dtypes, ranges), which keeps extra per-row keys such as `success`
as infos. Either way the console says which spec was taken and which keys were not converted.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from jaxinsert.data import d4rl_layout
from jaxinsert.data.converters.common import (ConvertOptions, check_unused_next_observations, finish_episode,
                                              flat_layout_flags, open_hdf5, read_group, single_feature)
from jaxinsert.data.errors import Location
from jaxinsert.data.specs import DatasetSpec

DEFAULT_SPEC = None  # chosen from the file by `choose_spec`
NEEDS_SPEC = False
# The D4RL families a file in this layout may belong to, and whether their reward is 0/1 sparse.
FAMILIES = (("d4rl-locomotion", False), ("d4rl-antmaze", True), ("adroit", False))
CORE_USED = ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations")


# The layout `choose_spec` read, handed to the `episodes` call that follows it so that a
# conversion without --spec reads the file once: (file identity, options) -> arrays. Taken (and
# so released) by the first `read_layout` of the same unchanged file with the same options.
_READ_FOR_NEXT_CALL: Dict[Tuple[Any, ...], Dict[str, np.ndarray]] = {}


def _identity(path: Any, options: ConvertOptions) -> Optional[Tuple[Any, ...]]:
  """What names one version of an on-disk file, or None for anything else (a file object)."""
  if not isinstance(path, (str, os.PathLike)):
    return None
  stat = os.stat(path)
  return (os.path.realpath(path), stat.st_mtime_ns, stat.st_size, options)


def read_layout(path: Any, options: ConvertOptions, keep_for_next_call: bool = False
                ) -> Dict[str, np.ndarray]:
  """All arrays of the file, flags as bool, timeouts present (or synthesised), lengths checked.

  With `keep_for_next_call`, the next call for the same unchanged file and options returns this
  read instead of reading again (a shallow copy: callers may add keys).
  """
  identity = _identity(path, options)
  if identity in _READ_FOR_NEXT_CALL:
    return dict(_READ_FOR_NEXT_CALL.pop(identity))
  _READ_FOR_NEXT_CALL.clear()  # a read kept for another file is never wanted now
  file = str(path)
  with open_hdf5(path) as handle:
    data = read_group(handle, file)
  d4rl_layout.check_layout(data, file)
  flat_layout_flags(data, options, file)
  data["rewards"] = np.asarray(data["rewards"]).reshape(-1)
  if keep_for_next_call and identity is not None:
    _READ_FOR_NEXT_CALL[identity] = data
    return dict(data)
  return data


def episodes(path: Any, spec: DatasetSpec, options: ConvertOptions,
             report: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
  """Yields validated RLDS episodes; fills `report` (provenance) with what the file holds."""
  data = read_layout(path, options)
  report.update(_describe(data))
  check_unused_next_observations(data, options, str(path), report)
  feature = single_feature(spec, options)
  for name in spec.infos:  # a generic spec keeps extra top-level rows (`success`) as infos
    if f"infos/{name}" not in data and name in data and name not in CORE_USED:
      data[f"infos/{name}"] = data[name]
  infos = tuple(name for name in spec.infos if f"infos/{name}" in data)
  report["not_converted"] = not_converted(data, infos)
  for number, episode in enumerate(d4rl_layout.episodes_from_layout(
      data, obs_feature=feature, infos=infos, split_on_discontinuity=options.split_on_discontinuity)):
    first_row = episode["metadata"]["first_row"]
    yield finish_episode(spec, episode, Location(file=str(path), episode=number), options, first_row)


def not_converted(data: Dict[str, np.ndarray], infos: Tuple[str, ...]) -> List[str]:
  """The per-row keys of the file that the dataset will not hold."""
  kept = set(CORE_USED) | {f"infos/{name}" for name in infos} | set(infos)
  return sorted(key for key in data if key not in kept and not key.startswith("metadata/"))


def _is_binary(values: np.ndarray) -> bool:
  return bool(np.isin(np.unique(values), (0.0, 1.0)).all())


def choose_spec(path: Any, options: ConvertOptions) -> Tuple[DatasetSpec, str]:
  """The spec for a file given without --spec, and one line saying why it was chosen.

  A family variant is taken only when exactly one has the file's observation and action sizes
  and a reward of the same kind (0/1 against dense); otherwise the spec is read off the file.
  """
  from jaxinsert.data.specs import load_spec

  data = read_layout(path, options, keep_for_next_call=True)  # `episodes` reads it next
  obs_shape, action_shape = np.shape(data["observations"])[1:], np.shape(data["actions"])[1:]
  binary = _is_binary(data["rewards"])
  matches = []
  for family, sparse in FAMILIES:
    spec = load_spec(family)
    variants = [spec.with_variant(name) for name in spec.raw.get("variants", {})] or [spec]
    for variant in variants:
      state = next(iter(variant.observation.values()))
      if (sparse == binary and tuple(state.shape) == tuple(obs_shape)
          and tuple(variant.action.shape) == tuple(action_shape)):
        matches.append(variant)
  sizes = f"observations {list(obs_shape)}, actions {list(action_shape)}, {'0/1' if binary else 'dense'} rewards"
  families = sorted({match.name for match in matches})
  if len(families) == 1:
    # Variants of one family with the same sizes (halfcheetah and walker2d) leave the variant open.
    spec = matches[0] if len(matches) == 1 else load_spec(families[0])
    label = spec.name
    if len(matches) == 1 and "variant" in spec.raw:
      label += f":{spec.raw['variant']}"
    elif len(matches) > 1:
      label += f" (variant left open: {', '.join(m.raw['variant'] for m in matches)} all fit)"
    return spec, f"no --spec given: {sizes} match {label}; pass --spec to choose another"
  spec = generic_spec(data, str(path))
  why = f"match several families ({', '.join(families)})" if families else "match no D4RL family"
  return spec, (f"no --spec given: {sizes} {why}; using a generic spec read off the file "
                f"(units unknown{', kept as infos: ' + ', '.join(spec.infos) if spec.infos else ''})")


def _dtype(array: np.ndarray) -> str:
  if array.dtype == np.bool_:
    return "bool"
  if array.dtype == np.uint8:
    return "uint8"
  if array.dtype.kind in "iu":
    return "int32" if np.abs(array).max(initial=0) < 2 ** 31 else "int64"
  return "float32"


def _range(array: np.ndarray) -> str:
  return f"range [{float(np.min(array)):.4g}, {float(np.max(array)):.4g}] in the file"


def generic_spec(data: Dict[str, np.ndarray], file: str) -> DatasetSpec:
  """A spec read off a D4RL-layout file: shapes, dtypes and ranges; per-row extras as infos."""
  actions, rewards = np.asarray(data["actions"]), np.asarray(data["rewards"])
  bounded = bool(np.abs(actions).max(initial=0) <= 1.0)
  infos = {}
  for key, value in data.items():
    name = key[len("infos/"):] if key.startswith("infos/") else key
    if key in CORE_USED or key.startswith("metadata/") or "/" in name or np.ndim(value) == 0:
      continue
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
      continue
    infos[name] = {"shape": list(array.shape[1:]), "dtype": _dtype(array), "units": "unknown", "frame": None,
                   "description": f"'{key}' of the file, {_range(array)}"}
  reward_kind = "0/1 sparse" if _is_binary(rewards) else "dense"
  raw = {"name": "d4rl-layout-generic", "version": "0.1.0",
         "description": f"Read off {file}: sizes, dtypes and ranges only (no --spec was given).",
         "control_rate_hz": None,
         "observation": {"state": {"shape": list(np.shape(data["observations"])[1:]), "dtype": "float32",
                                   "units": "unknown", "frame": None,
                                   "description": f"'observations' of the file, {_range(data['observations'])}"}},
         "action": {"shape": list(actions.shape[1:]), "dtype": "float32", "units": "unknown", "frame": None,
                    "description": f"'actions' of the file, {_range(actions)}" +
                                   ("; bounds [-1, 1] assumed because the data lies within them" if bounded else ""),
                    "low": -1.0 if bounded else None, "high": 1.0 if bounded else None},
         "reward": {"dtype": "float32", "description": f"{reward_kind} reward as stored, {_range(rewards)}"},
         "episode_metadata": {"task_id": "int32", "domain_id": "int32", "source_file": "string", "first_row": "int64"},
         "infos": infos}
  return DatasetSpec.from_dict(raw, source=f"<read off {file}>")


def _describe(data: Dict[str, np.ndarray]) -> Dict[str, Any]:
  """Provenance: what the file holds and what the conversion did not use."""
  used = {"observations", "actions", "rewards", "terminals", "timeouts", "next_observations"}
  jumps = d4rl_layout.discontinuities(data)
  marked = data["terminals"] | data["timeouts"]
  return {
      "rows": int(len(data["rewards"])),
      "keys": sorted(data),
      "metadata": {key: _plain(value) for key, value in data.items() if key.startswith("metadata/")},
      "has_next_observations": "next_observations" in data,
      "terminal_rows": int(data["terminals"].sum()),
      "timeout_rows": int(data["timeouts"].sum()),
      # Rows whose next_observations do not continue into the next row without an end flag: an
      # unrecorded episode boundary (AntMaze v0). Fixed with --split_on_discontinuity.
      "unmarked_boundaries": int(np.sum(jumps & ~marked)),
      "unused_keys": sorted(k for k in data if k not in used and not k.startswith(("infos/", "metadata/"))),
  }


def _plain(value: Any) -> Any:
  array = np.asarray(value)
  if array.dtype.kind in "SO":
    return [v.decode() if isinstance(v, bytes) else str(v) for v in array.reshape(-1)][:16]
  return array.tolist() if array.size <= 16 else f"array{list(array.shape)}"


def read_episodes(path: Any, spec: Any = None, options: ConvertOptions = ConvertOptions()
                  ) -> Iterator[Dict[str, Any]]:
  """Validated RLDS episodes straight from a D4RL file, without writing a dataset (for
  `load_transitions(d4rl_hdf5.read_episodes(path))` in quick experiments). Without `spec` it is
  chosen from the file as `convert` does."""
  from jaxinsert.data.specs import load_spec

  dataset_spec = choose_spec(path, options)[0] if spec is None else load_spec(spec)
  return episodes(path, dataset_spec, options, {})
