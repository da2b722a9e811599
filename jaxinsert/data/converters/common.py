"""Pieces every converter shares: options, safe HDF5 access, provenance, spec inference, checks."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import pathlib
from typing import Any, Dict, Iterator, Mapping, Optional

import numpy as np

from jaxinsert.data.errors import DataError, Location
from jaxinsert.data.specs import DatasetSpec
from jaxinsert.data.steps import rlds_steps  # noqa: F401  (converters build steps with it)


@dataclasses.dataclass(frozen=True)
class ConvertOptions:
  """Format-independent conversion options (CLI flags of experiments/convert.py)."""

  task_id: int = 0  # written into every episode
  domain_id: int = 0  # written into every episode
  split_on_discontinuity: bool = False  # d4rl/npz: also end episodes where next_obs[i] != obs[i + 1]
  max_episode_steps: Optional[int] = None  # d4rl/npz files without 'timeouts': the env's time limit
  allow_pickle: bool = False  # npz/npy holding Python objects (rlkit path lists) run pickle on load
  obs_feature: Optional[str] = None  # flat layouts: which spec feature receives 'observations'
  filter_key: Optional[str] = None  # robomimic: only the demos listed in mask/<filter_key>
  rate_hz: Optional[float] = None  # rosbag: control clock, overrides the spec's control_rate_hz
  episode_gap_s: Optional[float] = None  # rosbag: overrides the spec's clock.episode_gap_s
  allow_duplicate_stamps: bool = False  # rosbag: keep the later of two messages with one stamp
  strict: bool = False  # refuse suspect values (actions outside the spec's bounds, NaN in unused
                        # next_observations rows) instead of converting them with a warning


def file_provenance(path: Any, hash_limit_bytes: int = 4 * 1024 ** 3) -> Dict[str, Any]:
  """Path, size and (for files up to `hash_limit_bytes`) SHA-256 of the input."""
  path = pathlib.Path(path)
  files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
  digest = hashlib.sha256()
  total = 0
  for file in files:
    total += file.stat().st_size
  if total <= hash_limit_bytes:
    for file in files:
      digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
      with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
          digest.update(block)
  return {"input": str(path.absolute()), "input_bytes": total,
          "input_sha256": digest.hexdigest() if total <= hash_limit_bytes else None}


@contextlib.contextmanager
def open_hdf5(path: Any) -> Iterator[Any]:
  """h5py.File, with missing, truncated and non-HDF5 files reported as DataError."""
  import h5py

  path = pathlib.Path(path)
  if not path.exists():
    raise DataError("input file does not exist", file=str(path))
  try:
    handle = h5py.File(path, "r")
  except OSError as error:
    raise DataError(f"cannot open as HDF5 (truncated or corrupt?): {error}", file=str(path)) from None
  with handle:
    yield handle


def read_array(group: Any, key: str, file: str, episode: Optional[int] = None) -> np.ndarray:
  """group[key][()] with a missing key or an unreadable chunk reported as DataError."""
  if key not in group:
    have = sorted(group.keys()) if hasattr(group, "keys") else []
    raise DataError(f"missing key '{key}' (have {have})", file=file, episode=episode, field=key)
  try:
    return group[key][()]
  except (OSError, ValueError, KeyError, TypeError) as error:
    raise DataError(f"cannot read: {error}", file=file, episode=episode, field=key) from None


def read_group(group: Any, file: str, prefix: str = "", episode: Optional[int] = None) -> Dict[str, np.ndarray]:
  """Every dataset under an HDF5 group as {"a/b": array} (nested groups flattened with '/')."""
  import h5py

  out: Dict[str, np.ndarray] = {}
  for name, item in group.items():
    key = f"{prefix}{name}"
    if isinstance(item, h5py.Group):
      out.update(read_group(item, file, prefix=f"{key}/", episode=episode))
    else:
      out[key] = read_array(group, name, file, episode)
  return out


def as_flags(values: Any, where: Location) -> np.ndarray:
  """0/1 or bool arrays (D4RL stores terminals as float in old files) -> bool, else DataError."""
  if len(values) == 0:
    raise DataError("has zero rows: an episode (or file) without a single step cannot be converted", where)
  array = np.asarray(values).reshape(len(values), -1)
  if array.shape[1] != 1:
    raise DataError(f"flags must have one value per row, got shape {list(np.shape(values))}", where)
  array = array[:, 0]
  if array.dtype != np.bool_:
    bad = np.flatnonzero(~np.isin(array, (0, 1)))
    if bad.size:
      raise DataError(f"flag value {array[bad[0]]} is not 0/1", where, step=int(bad[0]))
  return array.astype(bool)


def suspect(report: Dict[str, Any], options: ConvertOptions, message: str, where: Location) -> None:
  """A value that is probably wrong but convertible: refused with --strict, else one warning
  line on stderr and an entry in the provenance's input_report['warnings']."""
  import sys

  if options.strict:
    raise DataError(f"{message} (refused by --strict)", where)
  line = f"{where.describe()}: {message}"
  report.setdefault("warnings", []).append(line)
  print(f"warning: {line}", file=sys.stderr)


def check_unused_next_observations(data: Dict[str, np.ndarray], options: ConvertOptions, file: str,
                                   report: Dict[str, Any]) -> None:
  """NaN/inf in next_observations rows the conversion replaces by observations[i + 1]."""
  from jaxinsert.data import d4rl_layout

  rows = d4rl_layout.unused_nonfinite_next_observations(data, options.split_on_discontinuity)
  if rows.size:
    suspect(report, options, f"{rows.size} non-final next_observations row(s) hold NaN/inf (first: row "
            f"{rows[0]}); they are not used (observations[i + 1] is), but the file is inconsistent",
            Location(file=file, step=int(rows[0]), field="next_observations"))


class ActionBoundsAudit:
  """Counts actions outside the spec's [low, high] over a conversion (`check` per episode,
  `finish` once) and reports them through `suspect`."""

  def __init__(self, spec: DatasetSpec, options: ConvertOptions, report: Dict[str, Any]):
    self.low, self.high = spec.action.low, spec.action.high
    self.options, self.report = options, report
    self.count, self.first = 0, None

  def check(self, episode: Mapping[str, Any], number: int) -> None:
    if self.low is None and self.high is None:
      return
    action = np.asarray(episode["steps"]["action"], np.float64)
    action = action.reshape(len(action), -1)
    outside = np.zeros(action.shape, bool)
    if self.low is not None:
      outside |= action < np.asarray(self.low, np.float64)
    if self.high is not None:
      outside |= action > np.asarray(self.high, np.float64)
    rows = np.flatnonzero(outside.any(axis=1))
    if rows.size:
      self.count += int(rows.size)
      if self.first is None:
        file = (episode.get("metadata") or {}).get("source_file")
        value = action[rows[0]][outside[rows[0]]][0]
        self.first = (Location(file=file, episode=number, step=int(rows[0]), field="steps/action"), value)
      if self.options.strict:
        self.finish()

  def finish(self) -> None:
    if self.count:
      where, value = self.first
      suspect(self.report, self.options, f"{self.count} step(s) have actions outside the spec's bounds "
              f"[{self.low}, {self.high}] (first value {value:.6g})", where)


def flat_layout_flags(data: Dict[str, np.ndarray], options: ConvertOptions, file: str) -> None:
  """Terminals/timeouts of a D4RL-style flat dict as bool, in place; timeouts synthesised from
  --max_episode_steps when the file has none (else an error: ends would be invisible)."""
  from jaxinsert.data import d4rl_layout

  data["terminals"] = as_flags(data["terminals"], Location(file=file, field="terminals"))
  if "timeouts" in data:
    data["timeouts"] = as_flags(data["timeouts"], Location(file=file, field="timeouts"))
  elif options.max_episode_steps:
    data["timeouts"] = d4rl_layout.synthesize_timeouts(data["terminals"], options.max_episode_steps)
    data["metadata/jaxinsert_synthesized_timeouts_every"] = np.asarray(options.max_episode_steps)
  else:
    raise DataError("no 'timeouts' key, so time-limit ends cannot be told from episode joins; pass "
                    "--max_episode_steps (the env's limit) to mark one every that many steps", file=file,
                    field="timeouts")


def single_feature(spec: DatasetSpec, options: ConvertOptions) -> str:
  """The observation feature a flat 'observations' array fills."""
  if options.obs_feature:
    if options.obs_feature not in spec.observation:
      raise DataError(f"--obs_feature={options.obs_feature} is not in spec {spec.name}", file=spec.source,
                      field=f"observation/{options.obs_feature}")
    return options.obs_feature
  if len(spec.observation) != 1:
    raise DataError(f"spec {spec.name} has {len(spec.observation)} observation features; this layout has "
                    "one 'observations' array: pass --obs_feature", file=spec.source, field="observation")
  return next(iter(spec.observation))


def finish_episode(spec: Optional[DatasetSpec], episode: Dict[str, Any], where: Location,
                   options: ConvertOptions, first_row: Optional[int] = None) -> Dict[str, Any]:
  """Sets ids and source metadata, validates; errors say which source row a step came from.

  Without a spec (it is being inferred from this very data) the writer validates instead.
  """
  metadata = dict(episode.get("metadata") or {})
  metadata["source_file"] = where.file
  episode = {**episode, "task_id": options.task_id, "domain_id": options.domain_id, "metadata": metadata}
  if spec is None:
    return episode
  try:
    # Resolved per episode (open dims, optional infos); the writer then holds every episode to
    # the first one's resolution, so shapes cannot drift within a dataset.
    return spec.resolve(episode, where).validate_episode(episode, where)
  except DataError as error:
    if first_row is None or error.step is None:
      raise
    raise DataError(f"{error.detail} (source row {first_row + error.step})", error.location) from None


def infer_spec(name: str, episode: Mapping[str, Any], description: str) -> DatasetSpec:
  """A spec read off the first episode (names, shapes, dtypes; units unknown) for formats whose
  files describe themselves and where the user passed no --spec."""
  steps = episode["steps"]

  def feature(value: Any) -> Dict[str, Any]:
    array = np.asarray(value)
    dtype = "uint8" if array.dtype == np.uint8 else ("bool" if array.dtype == np.bool_ else "float32")
    return {"shape": list(array.shape[1:]), "dtype": dtype, "units": "unknown", "frame": None,
            "description": "inferred from the input file"}

  raw = {"name": name, "version": "0.1.0", "description": description, "control_rate_hz": None,
         "observation": {key: feature(value) for key, value in steps["observation"].items()},
         "action": {**feature(steps["action"]), "dtype": "float32", "low": None, "high": None},
         "reward": {"dtype": "float32", "description": "as stored in the input"},
         "episode_metadata": {"task_id": "int32", "domain_id": "int32", "source_file": "string"}}
  return DatasetSpec.from_dict(raw, source=f"<inferred from {os.fspath(name)}>")
