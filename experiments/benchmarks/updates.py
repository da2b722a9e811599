"""Update throughput of every agent at D4RL locomotion sizes, one seed and 4 vmapped seeds.

Sizes: observation 17, action 6, two 256-unit hidden layers for every network, batch 256.
Reported per agent: compile seconds (separately), updates/s (1 seed), seed-updates/s (4 seeds
vmapped in one program), XLA-counted FLOPs per update, and the achieved fraction of this
machine's measured float32 matmul peak. The dataset is 1M random transitions on the device.
"""

from __future__ import annotations

import time
from typing import Dict, Sequence

import jax
import jax.numpy as jnp

from jaxinsert.agents import AGENT_NAMES, get_agent
from jaxinsert.training.offline import init_run_state, make_train_chunk, own_buffers, vmap_seeds
from jaxinsert.types import Spec, Transition

OBS_DIM, ACTION_DIM, BATCH, HIDDEN = 17, 6, 256, (256, 256)


def measure_matmul_peak(size: int = 2048, repeats: int = 10) -> float:
  """float32 matmul FLOP/s of this machine (best of `repeats`), the roofline we compare to."""
  a = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.float32)
  b = jax.random.normal(jax.random.PRNGKey(1), (size, size), jnp.float32)
  matmul = jax.jit(jnp.matmul)
  matmul(a, b).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    matmul(a, b).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 2 * size ** 3 / best


def synthetic_dataset(size: int, key) -> Transition:
  keys = jax.random.split(key, 4)
  return Transition(
      obs=jax.random.normal(keys[0], (size, OBS_DIM)),
      action=jnp.tanh(jax.random.normal(keys[1], (size, ACTION_DIM))) * (1 - 1e-5),
      reward=jax.random.normal(keys[2], (size,)),
      mask=(jax.random.uniform(keys[3], (size,)) > 0.01).astype(jnp.float32),
      next_obs=jax.random.normal(keys[0], (size, OBS_DIM)) * 0.9,
      task_id=jnp.zeros((size,), jnp.int32), domain_id=jnp.zeros((size,), jnp.int32))


def agent_config(name: str):
  config = get_agent(name).get_config()
  for field in ("hidden_dims", "actor_hidden_dims", "critic_hidden_dims", "value_hidden_dims"):
    if field in config:
      config[field] = HIDDEN
  return config


def bench_agent(name: str, dataset: Transition, steps_per_call: int, calls: int,
                seeds: int) -> Dict[str, float]:
  agent = get_agent(name)
  config = agent_config(name)
  spec = Spec((OBS_DIM,), ACTION_DIM)
  run = own_buffers(init_run_state(agent, config, spec, seed=0, num_seeds=seeds))
  chunk = jax.jit(vmap_seeds(make_train_chunk(agent, BATCH, steps_per_call), (0, 0, None)),
                  donate_argnums=(0, 1))
  compile_seconds, best = time_chunk(chunk, (run.agent, run.key), (dataset,), calls)
  return {"compile_seconds": compile_seconds, "updates_per_second": steps_per_call / best}


def time_chunk(chunk, carry: tuple, constants: tuple, calls: int):
  """(compile seconds, best seconds of `calls` calls) of a jitted `chunk(*carry, *constants)`
  whose first len(carry) outputs are the next call's carry; one warm-up call first."""
  start = time.perf_counter()
  compiled = chunk.lower(*carry, *constants).compile()
  compile_seconds = time.perf_counter() - start
  best = float("inf")
  for call in range(calls + 1):   # call 0 is the warm-up
    start = time.perf_counter()
    outputs = compiled(*carry, *constants)
    jax.block_until_ready(outputs)
    carry = tuple(outputs[:len(carry)])
    if call:
      best = min(best, time.perf_counter() - start)
  return compile_seconds, best


def flops_per_update(name: str, dataset: Transition) -> float:
  """XLA's FLOP count of one update (a scan of length 1: XLA counts a loop body once)."""
  agent = get_agent(name)
  run = init_run_state(agent, agent_config(name), Spec((OBS_DIM,), ACTION_DIM), 0, 1)
  chunk = jax.jit(vmap_seeds(make_train_chunk(agent, BATCH, 1), (0, 0, None)))
  analysis = chunk.lower(run.agent, run.key, dataset).compile().cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0]
  return float(analysis.get("flops", float("nan")))


def run(agents: Sequence[str] = AGENT_NAMES, steps_per_call: int = 1000, calls: int = 3,
        dataset_size: int = 1_000_000) -> Dict[str, object]:
  dataset = synthetic_dataset(dataset_size, jax.random.PRNGKey(0))
  peak = measure_matmul_peak()
  print(f"devices: {jax.devices()}  float32 matmul peak: {peak / 1e9:.1f} GFLOP/s")
  print(f"{'agent':6s} {'compile s':>9s} {'upd/s 1 seed':>13s} {'seed-upd/s x4':>14s} "
        f"{'MFLOP/upd':>10s} {'% peak':>7s}")
  results: Dict[str, object] = {"matmul_peak_gflops": peak / 1e9, "batch": BATCH,
                                "obs_dim": OBS_DIM, "action_dim": ACTION_DIM,
                                "hidden": list(HIDDEN), "agents": {}}
  for name in agents:
    one = bench_agent(name, dataset, steps_per_call, calls, seeds=1)
    four = bench_agent(name, dataset, steps_per_call, calls, seeds=4)
    flops = flops_per_update(name, dataset)
    fraction = flops * one["updates_per_second"] / peak
    results["agents"][name] = {
        "compile_seconds_1_seed": round(one["compile_seconds"], 2),
        "compile_seconds_4_seeds": round(four["compile_seconds"], 2),
        "updates_per_second_1_seed": round(one["updates_per_second"], 1),
        "seed_updates_per_second_4_seeds": round(4 * four["updates_per_second"], 1),
        "flops_per_update": flops,
        "fraction_of_matmul_peak_1_seed": round(fraction, 4),
    }
    print(f"{name:6s} {one['compile_seconds']:9.1f} {one['updates_per_second']:13.0f} "
          f"{4 * four['updates_per_second']:14.0f} {flops / 1e6:10.2f} {100 * fraction:6.1f}%")
  return results


if __name__ == "__main__":
  import json

  print(json.dumps(run()))
