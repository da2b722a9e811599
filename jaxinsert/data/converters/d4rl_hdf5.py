"""Converter for D4RL's HDF5 layout: flat observations/actions/rewards/terminals/timeouts arrays,
optional next_observations, infos/* and metadata/*. Episode semantics: jaxinsert.data.d4rl_layout."""

from __future__ import annotations

from typing import Any, Dict, Iterator

import numpy as np

from jaxinsert.data import d4rl_layout
from jaxinsert.data.converters.common import (ConvertOptions, check_unused_next_observations, finish_episode,
                                              flat_layout_flags, open_hdf5, read_group, single_feature)
from jaxinsert.data.errors import Location
from jaxinsert.data.specs import DatasetSpec

DEFAULT_SPEC = "d4rl-locomotion"
NEEDS_SPEC = False


def read_layout(path: Any, options: ConvertOptions) -> Dict[str, np.ndarray]:
  """All arrays of the file, flags as bool, timeouts present (or synthesised), lengths checked."""
  file = str(path)
  with open_hdf5(path) as handle:
    data = read_group(handle, file)
  d4rl_layout.check_layout(data, file)
  flat_layout_flags(data, options, file)
  data["rewards"] = np.asarray(data["rewards"]).reshape(-1)
  return data


def episodes(path: Any, spec: DatasetSpec, options: ConvertOptions,
             report: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
  """Yields validated RLDS episodes; fills `report` (provenance) with what the file holds."""
  data = read_layout(path, options)
  report.update(_describe(data))
  check_unused_next_observations(data, options, str(path), report)
  feature = single_feature(spec, options)
  infos = tuple(name for name in spec.infos if f"infos/{name}" in data)
  for number, episode in enumerate(d4rl_layout.episodes_from_layout(
      data, obs_feature=feature, infos=infos, split_on_discontinuity=options.split_on_discontinuity)):
    first_row = episode["metadata"]["first_row"]
    yield finish_episode(spec, episode, Location(file=str(path), episode=number), options, first_row)


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


def read_episodes(path: Any, spec: Any = DEFAULT_SPEC, options: ConvertOptions = ConvertOptions()
                  ) -> Iterator[Dict[str, Any]]:
  """Validated RLDS episodes straight from a D4RL file, without writing a dataset (for
  `load_transitions(d4rl_hdf5.read_episodes(path))` in quick experiments)."""
  from jaxinsert.data.specs import load_spec

  return episodes(path, load_spec(spec), options, {})
