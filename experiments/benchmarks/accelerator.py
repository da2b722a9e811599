"""The prepared accelerator check (`scripts/accelerator_check.sh`): under 5 minutes on one GPU.

Prints, beside anchors measured in the same run:
- IQL updates/s at D4RL sizes (obs 17, action 6, 2x256, batch 256) for 1 and 16 vmapped seeds,
  scanned `steps_per_call` updates per host call, and the same update dispatched one jitted call
  per step from Python (the per-step loop of most frameworks: the in-run anchor; goal 10x);
- MJX policy steps/s on the insertion task at batch 4,096 (goal >= 100,000);
- the float32 matmul peak of the device.
The last line is one JSON object. `--quick` shrinks every size so the script can be checked on a
CPU in a minute; its figures then mean nothing.
Run: `python -m experiments.benchmarks.accelerator [--quick]`.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Dict

import jax

from experiments.benchmarks import env as env_bench
from experiments.benchmarks import updates
from jaxinsert.agents import get_agent
from jaxinsert.training.offline import init_run_state, make_train_chunk, own_buffers, vmap_seeds
from jaxinsert.types import Spec


def per_step_dispatch(name: str, dataset, steps: int) -> float:
  """Updates/s of one jitted update per Python call (sampling inside it), one seed."""
  agent = get_agent(name)
  run = own_buffers(init_run_state(agent, updates.agent_config(name),
                                   Spec((updates.OBS_DIM,), updates.ACTION_DIM), 0, 1))
  step = jax.jit(vmap_seeds(make_train_chunk(agent, updates.BATCH, 1), (0, 0, None)))
  state, key, metrics = step(run.agent, run.key, dataset)
  jax.block_until_ready(metrics)
  started = time.perf_counter()
  for _ in range(steps):
    state, key, metrics = step(state, key, dataset)
  jax.block_until_ready(metrics)
  return steps / (time.perf_counter() - started)


def run(quick: bool = False) -> Dict[str, object]:
  size, steps_per_call, calls = (10_000, 50, 2) if quick else (1_000_000, 1000, 3)
  mjx_batch, mjx_steps = (8, 2) if quick else (4096, 10)
  results: Dict[str, object] = {"devices": [str(d) for d in jax.devices()], "quick": quick}
  peak = updates.measure_matmul_peak(512 if quick else 8192, 3 if quick else 10)
  results["matmul_peak_gflops"] = peak / 1e9
  print(f"devices {results['devices']}  float32 matmul peak {peak / 1e9:.0f} GFLOP/s", flush=True)
  dataset = updates.synthetic_dataset(size, jax.random.PRNGKey(0))
  anchor = per_step_dispatch("iql", dataset, 5 * steps_per_call if not quick else 20)
  results["iql_per_step_dispatch_updates_per_s"] = anchor
  print(f"IQL, one jitted call per update (anchor): {anchor:10.0f} updates/s", flush=True)
  for seeds in (1, 16):
    figures = updates.bench_agent("iql", dataset, steps_per_call, calls, seeds)
    rate = figures["updates_per_second"]
    results[f"iql_scanned_{seeds}_seeds"] = {"updates_per_s_per_seed": rate,
                                             "seed_updates_per_s": rate * seeds,
                                             "compile_s": figures["compile_seconds"],
                                             "ratio_to_anchor": rate * seeds / anchor}
    print(f"IQL scanned, {seeds:2d} seed(s): {rate:10.0f} updates/s per seed, "
          f"{rate * seeds:10.0f} seed-updates/s = {rate * seeds / anchor:5.1f}x the anchor "
          f"(compile {figures['compile_seconds']:.0f} s)", flush=True)
  mjx = env_bench.mjx_backend(mjx_batch, mjx_steps)
  results[f"mjx_b{mjx_batch}"] = mjx
  print(f"MJX insertion, batch {mjx_batch}: {mjx['env_steps_per_s']:10.0f} policy steps/s "
        f"(compile {mjx['compile_s']:.0f} s)", flush=True)
  return results


if __name__ == "__main__":
  print(json.dumps(run(quick="--quick" in sys.argv[1:]), default=float))
