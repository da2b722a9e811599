"""Data-layer benchmark: converter throughput, RLDS -> device load time, peak memory of the load.

  python -m experiments.benchmarks.data [--steps=1000000]    (or experiments/bench.py --what=data)

Builds a D4RL-layout HDF5 file (halfcheetah-sized: 17-D observations, 6-D actions, 1000-step
episodes, next_observations), converts it with the d4rl_hdf5 converter, then loads the RLDS
dataset as device transitions. Each measured phase runs in a fresh process so its peak memory
(ru_maxrss minus the process's size before the phase) is its own. Prints a table; the last line
is one JSON object. Figures, not assertions: targets are load < 10 s and peak < 2x the dataset.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _rss_bytes() -> int:
  with open("/proc/self/statm") as handle:
    return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def make_d4rl_file(path: str, steps: int, obs_dim: int = 17, action_dim: int = 6, episode_length: int = 1000) -> None:
  import h5py
  import numpy as np

  rng = np.random.default_rng(0)
  observations = rng.standard_normal((steps + 1, obs_dim), dtype=np.float32)
  timeouts = (np.arange(steps) % episode_length) == episode_length - 1
  with h5py.File(path, "w") as handle:
    handle["observations"] = observations[:-1]
    handle["next_observations"] = observations[1:]
    handle["actions"] = rng.uniform(-1, 1, (steps, action_dim)).astype(np.float32)
    handle["rewards"] = rng.standard_normal(steps).astype(np.float32)
    handle["terminals"] = np.zeros(steps, bool)
    handle["timeouts"] = timeouts


def _measure_convert(input_path: str, output_dir: str) -> Dict[str, Any]:
  from jaxinsert.data.converters import convert
  from jaxinsert.data.rlds import load_index

  baseline = _rss_bytes()
  start = time.perf_counter()
  convert("d4rl_hdf5", input_path, output_dir, spec="d4rl-locomotion:halfcheetah", progress=False)
  seconds = time.perf_counter() - start
  steps = load_index(output_dir)["num_steps"]
  return {"seconds": seconds, "rows": sum(steps) - len(steps), "peak_extra_bytes": _peak_rss_bytes() - baseline}


def _measure_load(dataset_dir: str) -> Dict[str, Any]:
  import jax

  from jaxinsert.data import rlds  # noqa: F401  (imports paid before the clock starts)
  from jaxinsert.data.transitions import load_transitions

  jax.numpy.zeros(1).block_until_ready()
  baseline = _rss_bytes()
  start = time.perf_counter()
  transitions, _, info = load_transitions(dataset_dir)
  jax.block_until_ready(transitions)
  seconds = time.perf_counter() - start
  size = sum(leaf.nbytes for leaf in jax.tree_util.tree_leaves(transitions))
  return {"seconds": seconds, "transitions": info["num_transitions"], "dataset_bytes": size,
          "peak_extra_bytes": _peak_rss_bytes() - baseline}


def _in_child(phase: str, *args: str) -> Dict[str, Any]:
  command = [sys.executable, "-m", "experiments.benchmarks.data", f"--phase={phase}", *args]
  result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
  if result.returncode != 0:
    raise RuntimeError(f"{phase} failed:\n{result.stderr[-3000:]}")
  return json.loads(result.stdout.strip().splitlines()[-1])


def run(config: Any = None, *, steps: int = 1_000_000, workdir: str | None = None) -> Dict[str, Any]:
  """Runs the benchmark; prints a table and returns the figures (JSON-able)."""
  if config is not None:  # absl flag holder or a dict from experiments/bench.py
    steps = int(getattr(config, "steps", None) or (config.get("steps") if isinstance(config, dict) else steps) or steps)
  with tempfile.TemporaryDirectory(dir=workdir) as scratch:
    source = os.path.join(scratch, "halfcheetah-synthetic.hdf5")
    make_d4rl_file(source, steps)
    file_bytes = os.path.getsize(source)
    converted = _in_child("convert", source, os.path.join(scratch, "rlds"))
    loaded = _in_child("load", os.path.join(scratch, "rlds"))
    rlds_bytes = sum(os.path.getsize(os.path.join(scratch, "rlds", name))
                     for name in os.listdir(os.path.join(scratch, "rlds")))
  results = {
      "steps": steps,
      "convert_d4rl_hdf5_seconds": round(converted["seconds"], 2),
      "convert_d4rl_hdf5_steps_per_second": round(steps / converted["seconds"]),
      "convert_peak_memory_over_input_file": round(converted["peak_extra_bytes"] / file_bytes, 2),
      "load_rlds_to_device_seconds": round(loaded["seconds"], 2),
      "load_transitions": loaded["transitions"],
      "dataset_bytes_on_device": loaded["dataset_bytes"],
      "load_peak_memory_over_dataset": round(loaded["peak_extra_bytes"] / loaded["dataset_bytes"], 2),
      "input_hdf5_bytes": file_bytes,
      "rlds_bytes": rlds_bytes,
      "cpu_count": os.cpu_count(),
  }
  print(f"{'figure':40s} value")
  for key, value in results.items():
    print(f"{key:40s} {value}")
  return results


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=1_000_000)
  parser.add_argument("--phase", choices=["all", "convert", "load"], default="all")
  parser.add_argument("paths", nargs="*")
  args = parser.parse_args()
  if args.phase == "convert":
    print(json.dumps(_measure_convert(*args.paths)))
  elif args.phase == "load":
    print(json.dumps(_measure_load(*args.paths)))
  else:
    print(json.dumps(run(steps=args.steps)))


if __name__ == "__main__":
  main()
