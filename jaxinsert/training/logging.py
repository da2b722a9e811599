"""Run records: metrics as JSONL and TensorBoard, learning-curve plots, provenance.

Everything lands in the run's workdir: `metrics.jsonl` (one JSON object per logged step, the
source of truth), `tensorboard/` (the same scalars), `learning_curves.png` (drawn at the end
of a run from metrics.jsonl), and `provenance.json` (config, git commit, versions, devices).
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

_PACKAGES = ("jax", "jaxlib", "flax", "optax", "chex", "orbax-checkpoint", "tensorflow-datasets",
             "mujoco", "mujoco-mjx", "numpy", "ml-collections", "absl-py", "gymnasium")


def _to_python(value: Any) -> Any:
  array = np.asarray(value)
  if array.ndim == 0:
    return array.item()
  return array.tolist()


def _record_kind(record: Mapping[str, Any]) -> tuple:
  """What a record logs ("train/", "eval/", ...): one step holds at most one record per kind."""
  return tuple(sorted({key.split("/")[0] for key in record if key not in ("step", "time")}))


class MetricsLogger:
  """Appends scalar metrics (possibly per seed) to metrics.jsonl and TensorBoard.

  metrics.jsonl holds one record per step and kind: writing a step again (a resumed run redoing
  updates a killed one logged but never checkpointed) replaces the earlier record, and
  `drop_after(step)` forgets everything past a restored checkpoint.
  """

  def __init__(self, workdir: str, tensorboard: bool = True):
    os.makedirs(workdir, exist_ok=True)
    self.workdir = workdir
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._records = _read_records(self.path) if os.path.exists(self.path) else []
    self._logged = {(r["step"], _record_kind(r)) for r in self._records}
    self._file = open(self.path, "a", buffering=1)
    if not _ends_with_newline(self.path):
      self._rewrite(self._records)  # drops a torn last line so appends start on a line of their own
    self._writer = None
    if tensorboard:
      from tensorboardX import SummaryWriter  # imported lazily: it is slow to import
      self._writer = SummaryWriter(os.path.join(workdir, "tensorboard"))

  def write(self, step: int, metrics: Mapping[str, Any], prefix: str = "") -> None:
    """Writes `metrics` at `step`; arrays with a seed axis are logged per seed and as a mean."""
    record: Dict[str, Any] = {"step": int(step), "time": time.time()}
    for name, value in metrics.items():
      key = f"{prefix}{name}"
      value = _to_python(value)
      record[key] = value
      if self._writer is not None:
        values = value if isinstance(value, list) else [value]
        numeric = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        if numeric:
          self._writer.add_scalar(key, float(np.mean(numeric)), step)
    identity = (record["step"], _record_kind(record))
    if identity in self._logged:
      self._rewrite([r for r in self._records if (r["step"], _record_kind(r)) != identity])
    self._logged.add(identity)
    self._records.append(record)
    self._file.write(json.dumps(record) + "\n")

  def drop_after(self, step: int) -> None:
    """Forgets every record past `step` (the step a resumed run restarts from)."""
    if any(r["step"] > step for r in self._records):
      self._rewrite([r for r in self._records if r["step"] <= step])

  def _rewrite(self, records: List[Dict[str, Any]]) -> None:
    self._file.close()
    temporary = self.path + ".tmp"
    with open(temporary, "w") as handle:
      handle.writelines(json.dumps(r) + "\n" for r in records)
    os.replace(temporary, self.path)
    self._records = records
    self._logged = {(r["step"], _record_kind(r)) for r in records}
    self._file = open(self.path, "a", buffering=1)

  def close(self) -> None:
    self._file.close()
    if self._writer is not None:
      self._writer.close()


def write_json_atomically(path: str, record: Any, **dump_options: Any) -> str:
  """Writes `record` as JSON through a temporary file and a rename: the file is whole or absent,
  never half-written (resumable runs read it to decide what is finished). Creates the parent
  folder if it is missing."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  temporary = path + ".tmp"
  with open(temporary, "w") as handle:
    json.dump(record, handle, indent=2, **dump_options)
  os.replace(temporary, path)
  return path


def read_metrics(path: str) -> List[Dict[str, Any]]:
  with open(path) as handle:
    return [json.loads(line) for line in handle if line.strip()]


def _ends_with_newline(path: str) -> bool:
  with open(path, "rb") as handle:
    handle.seek(0, os.SEEK_END)
    if handle.tell() == 0:
      return True
    handle.seek(-1, os.SEEK_END)
    return handle.read(1) == b"\n"


def _read_records(path: str) -> List[Dict[str, Any]]:
  """metrics.jsonl's records; a torn last line (a process killed mid-write) is left out."""
  records = []
  with open(path) as handle:
    lines = [line for line in handle if line.strip()]
  for number, line in enumerate(lines):
    try:
      records.append(json.loads(line))
    except json.JSONDecodeError:
      if number != len(lines) - 1:
        raise ValueError(f"{path} line {number + 1} is not JSON; the metrics file is damaged") from None
  return records


def append_json_record(path: str, record: Mapping[str, Any]) -> None:
  """Appends `record` to the JSON list in `path` (created if missing) as the file is now, under
  an exclusive lock (`path`.lock) and by an atomic replace: processes that share a record file
  keep each other's records, and a crash never leaves it torn."""
  import fcntl

  with open(path + ".lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    records = []
    if os.path.exists(path):
      with open(path) as handle:
        records = json.load(handle)
    with open(path + ".tmp", "w") as handle:
      json.dump(records + [dict(record)], handle, indent=1)
    os.replace(path + ".tmp", path)


def pyplot():
  """matplotlib.pyplot on the Agg backend: figures are written to files, no display needed."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def save_figure(figure, path: str, dpi: int = 120) -> str:
  """Lays `figure` out, writes it to `path` and closes it; returns `path`."""
  figure.tight_layout()
  figure.savefig(path, dpi=dpi)
  pyplot().close(figure)
  return path


def plot_learning_curves(metrics_path: str, output_path: str,
                         keys: Optional[Iterable[str]] = None, title: str = "") -> Optional[str]:
  """Draws one panel per metric (mean over seeds with min/max band) against the step."""
  plt = pyplot()

  records = read_metrics(metrics_path)
  if not records:
    return None
  names = list(keys) if keys else sorted({k for r in records for k in r} - {"step", "time"})
  names = [n for n in names if any(n in r for r in records)]
  if not names:
    return None
  columns = min(3, len(names))
  rows = int(math.ceil(len(names) / columns))
  figure, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 3.2 * rows), squeeze=False)
  for axis, name in zip(axes.flat, names):
    points = [(r["step"], np.atleast_1d(np.asarray(r[name], dtype=float)))
              for r in records if name in r and r[name] is not None]
    steps = np.array([p[0] for p in points])
    values = [p[1] for p in points]
    mean = np.array([v.mean() for v in values])
    axis.plot(steps, mean, lw=1.5)
    if max(len(v) for v in values) > 1:
      axis.fill_between(steps, [v.min() for v in values], [v.max() for v in values], alpha=0.25)
    axis.set_title(name, fontsize=9)
    axis.set_xlabel("step", fontsize=8)
    axis.grid(alpha=0.3)
  for axis in list(axes.flat)[len(names):]:
    axis.axis("off")
  if title:
    figure.suptitle(title)
  return save_figure(figure, output_path, dpi=110)


def git_commit(path: str = ".") -> str:
  try:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True,
                            text=True, timeout=10).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=path,
                           capture_output=True, text=True, timeout=10).stdout.strip()
    return commit + ("-dirty" if dirty else "") if commit else "unknown"
  except (OSError, subprocess.SubprocessError):
    return "unknown"


def write_provenance(workdir: str, config: Mapping[str, Any], extra: Optional[dict] = None) -> str:
  """Writes provenance.json: what ran, from which code, with which packages, on what."""
  import jax

  versions = {}
  for name in _PACKAGES:
    try:
      versions[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
      versions[name] = None
  record = {
      "command": sys.argv,
      "config": config,
      "git_commit": git_commit(os.path.dirname(os.path.abspath(__file__))),
      "python": sys.version,
      "platform": platform.platform(),
      "packages": versions,
      "devices": [str(d) for d in jax.devices()],
      "backend": jax.default_backend(),
      "xla_flags": os.environ.get("XLA_FLAGS", ""),
      "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
  }
  record.update(extra or {})
  return write_json_atomically(os.path.join(workdir, "provenance.json"), record, default=str)


def plot_success_curves(curves: Dict[str, Tuple[Sequence[float], Sequence[Sequence[float]]]],
                        path: str, title: str = "",
                        xlabel: str = "online environment steps (per seed)") -> str:
  """Success against steps, one line per label (mean over seeds, min/max band); `curves` maps
  a label to (steps, per-seed success rates at each step)."""
  plt = pyplot()

  figure, axis = plt.subplots(figsize=(5.5, 3.5))
  for label, (steps, per_seed) in curves.items():
    per_seed = np.asarray(per_seed, dtype=float).reshape(len(steps), -1)
    axis.plot(steps, per_seed.mean(1), label=label, lw=1.5)
    axis.fill_between(steps, per_seed.min(1), per_seed.max(1), alpha=0.2)
  axis.set_xlabel(xlabel)
  axis.set_ylabel("success (end of episode)")
  axis.set_ylim(-0.02, 1.02)
  axis.grid(alpha=0.3)
  axis.legend(fontsize=8)
  if title:
    axis.set_title(title, fontsize=9)
  return save_figure(figure, path, dpi=110)
