"""Insertion environment throughput on both physics backends (state observations).

Policy steps per second (50 physics substeps of 2 ms each) at batches 1, 16 and 256 for the CPU
backend (`mujoco.rollout` on all cores, the env's full step: task logic, autoreset), the same
model under a bare `mujoco.rollout` (physics only, constant controls; the ratio is the cost of
the task logic), MJX (`jit(scan(vmap(step)))`, compile time reported separately), and camera
frames per second (64x64 RGB, batch 16). Random actions on oda/rect-10x10, best of `repeats`.
Run: `python -m experiments.benchmarks.env` or `python experiments/bench.py --what=env`.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import json
import time
from typing import Dict, Sequence

import jax
import jax.numpy as jnp
import mujoco
import mujoco.rollout
import numpy as np

from jaxinsert.envs import factory, rendering

TASK = "oda/rect-10x10"


def _best_rate(fn, units: float, repeats: int) -> float:
  best = np.inf
  for _ in range(repeats):
    started = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - started)
  return units / best


def cpu_backend(batch: int, steps: int, repeats: int) -> Dict[str, float]:
  env = factory.make(TASK, backend="c", num_envs=batch)
  actions = np.random.default_rng(0).uniform(-1, 1, (steps, batch, env.spec.action_dim))
  env.reset(0)
  env.step(actions[0])  # compile the jitted task logic

  def run():
    for a in actions:
      env.step(a)
  env_rate = _best_rate(run, steps * batch, repeats)

  # The same physics with nothing around it: replay the env's own rollout calls (same states
  # and controls, so the same contacts) through a bare `mujoco.rollout`.
  recorded = []
  simulate = env.simulate
  def recording(qpos, qvel, controls):
    recorded.append((qpos.copy(), qvel.copy(), controls.copy()))
    return simulate(qpos, qvel, controls)
  env.simulate = recording
  run()
  env.simulate = simulate
  group = env._groups[0]
  runner = mujoco.rollout.Rollout(nthread=env._nthread)
  calls = [(np.concatenate([np.zeros((batch, 1)), q, v], axis=1), np.ascontiguousarray(c, np.float64))
           for q, v, c in recorded]

  def bare():
    for state0, controls in calls:
      runner.rollout(group["models"], group["datas"], state0, controls,
                     nstep=env.config.scene.substeps, state=group["state"],
                     sensordata=group["sensordata"], skip_checks=True)
  bare_rate = _best_rate(bare, steps * batch, repeats)
  return {"env_steps_per_s": env_rate, "bare_rollout_steps_per_s": bare_rate,
          "ratio_to_bare": env_rate / bare_rate}


def mjx_backend(batch: int, steps: int) -> Dict[str, float]:
  env = factory.make_functional(TASK)

  def rollout(keys, actions):
    states = jax.vmap(env.reset)(keys)
    def body(s, a):
      return jax.vmap(env.step)(s, a), None
    states, _ = jax.lax.scan(body, states, actions)
    return states.obs
  run = jax.jit(rollout)
  keys = jax.random.split(jax.random.PRNGKey(0), batch)
  actions = jax.random.uniform(jax.random.PRNGKey(1), (steps, batch, env.spec.action_dim),
                               minval=-1, maxval=1)
  started = time.perf_counter()
  run(keys, actions).block_until_ready()
  compile_s = time.perf_counter() - started
  rate = _best_rate(lambda: run(keys, actions).block_until_ready(), steps * batch, 2)
  return {"env_steps_per_s": rate, "compile_s": compile_s}


def image_frames(batch: int = 16, size: int = 64, repeats: int = 3) -> float:
  if not rendering.egl_available():
    return float("nan")
  env = factory.make(TASK, backend="c", num_envs=batch, image_size=size)
  env.reset(0)
  env.render()
  rate = _best_rate(env.render, batch * 10 / 10, repeats)
  env.close()
  return rate


def run(batches: Sequence[int] = (1, 16, 256), mjx_batches: Sequence[int] = (1, 16, 256),
        steps: int = 20, mjx_steps: int = 10, repeats: int = 3) -> Dict[str, object]:
  results: Dict[str, object] = {"task": TASK, "substeps": 50, "timestep_s": 0.002,
                                "jax_backend": jax.default_backend()}
  for batch in batches:
    r = cpu_backend(batch, steps if batch > 1 else 5 * steps, repeats)
    results[f"c_b{batch}"] = r
    print(f"C backend  batch {batch:4d}: {r['env_steps_per_s']:9.0f} policy steps/s   "
          f"bare rollout {r['bare_rollout_steps_per_s']:9.0f}   ratio {r['ratio_to_bare']:.2f}")
  for batch in mjx_batches:
    r = mjx_backend(batch, mjx_steps)
    results[f"mjx_b{batch}"] = r
    print(f"MJX        batch {batch:4d}: {r['env_steps_per_s']:9.0f} policy steps/s   "
          f"(compile {r['compile_s']:.0f} s)")
  fps = image_frames()
  results["image_frames_per_s_64x64_rgb"] = fps
  print(f"images 64x64 RGB, batch 16: {fps:.0f} frames/s")
  return results


if __name__ == "__main__":
  print(json.dumps(run(), default=float))
