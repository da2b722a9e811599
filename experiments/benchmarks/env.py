"""Insertion environment throughput on both physics backends (state observations).

Policy steps per second (50 physics substeps of 2 ms each) at batches 1, 16 and 256 for the CPU
backend (`mujoco.rollout` on all cores, the env's full step: task logic, autoreset), the same
model under a bare `mujoco.rollout` (physics only, constant controls; the ratio is the cost of
the task logic), MJX (`jit(scan(vmap(step)))`, compile time reported separately), and camera
frames per second (64x64 RGB, batch 16). Random actions on oda/rect-10x10, best of `repeats`.
Beside the wall-clock rates it prints the bare rollout's CPU time per physics substep and how
many cores it got (the machine is shared), and the floor: a bare rollout of one free box.
Run: `python -m experiments.benchmarks.env` or `python experiments/bench.py --what=env`.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import json
import time
from typing import Dict, Sequence

import jax
import mujoco
import mujoco.rollout
import numpy as np

from jaxinsert.envs import factory, rendering

TASK = "oda/rect-10x10"


def _best_rate(fn, units: float, repeats: int) -> float:
  return _best_rate_and_cpu(fn, units, repeats)[0]


def _best_rate_and_cpu(fn, units: float, repeats: int):
  """(units per wall second, CPU seconds of the process per unit) of the fastest repeat.

  The CPU time (all threads) says what the work costs whatever the load: on the shared 2-core
  machine the wall-clock rate mostly measures how much of the cores the other jobs left us.
  """
  best = (np.inf, np.inf)
  for _ in range(repeats):
    started, cpu_started = time.perf_counter(), time.process_time()
    fn()
    best = min(best, (time.perf_counter() - started, time.process_time() - cpu_started))
  return units / best[0], best[1] / units


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
  bare_rate, bare_cpu_s = _best_rate_and_cpu(bare, steps * batch, repeats)
  substeps = env.config.scene.substeps
  return {"env_steps_per_s": env_rate, "bare_rollout_steps_per_s": bare_rate,
          "ratio_to_bare": env_rate / bare_rate,
          "bare_cpu_us_per_substep": bare_cpu_s / substeps * 1e6,
          # Cores the bare rollout actually got (CPU time / wall time) out of its threads.
          "bare_cores_used": bare_rate * bare_cpu_s, "threads": env._nthread}


def free_body_floor(batch: int = 256, steps: int = 20, repeats: int = 3,
                    substeps: int = 50) -> Dict[str, float]:
  """The floor of `mujoco.rollout` here: one free box, no contacts, sensors or actuators."""
  model = mujoco.MjModel.from_xml_string(
      '<mujoco><option timestep="0.002" integrator="Euler" solver="CG"/><worldbody><body>'
      '<freejoint/><geom type="box" size=".01 .01 .01" contype="0" conaffinity="0"/>'
      '</body></worldbody></mujoco>')
  nthread = min(os.cpu_count() or 1, batch)
  runner = mujoco.rollout.Rollout(nthread=nthread)
  datas = [mujoco.MjData(model) for _ in range(nthread)]
  nstate = mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_FULLPHYSICS)
  initial = np.zeros((batch, nstate))
  initial[:, 1 + 3] = 1.0  # unit quaternion
  state = np.zeros((batch, substeps, nstate))
  sensordata = np.zeros((batch, substeps, 0))
  controls = np.zeros((batch, substeps, 0))

  def run():
    for _ in range(steps):
      runner.rollout([model] * batch, datas, initial, controls, nstep=substeps, state=state,
                     sensordata=sensordata, skip_checks=True,
                     initial_warmstart=np.zeros((batch, model.nv)))
  rate, cpu_s = _best_rate_and_cpu(run, steps * batch, repeats)
  return {"steps_per_s": rate, "cpu_us_per_substep": cpu_s / substeps * 1e6,
          "cores_used": rate * cpu_s}


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
          f"bare rollout {r['bare_rollout_steps_per_s']:9.0f}   ratio {r['ratio_to_bare']:.2f}   "
          f"bare {r['bare_cpu_us_per_substep']:.2f} CPU-us/substep on "
          f"{r['bare_cores_used']:.2f} of {r['threads']} cores")
  floor = free_body_floor()
  results["free_box_floor_b256"] = floor
  print(f"floor: bare rollout of one free box, batch 256: {floor['steps_per_s']:9.0f} policy "
        f"steps/s, {floor['cpu_us_per_substep']:.2f} CPU-us/substep on {floor['cores_used']:.2f} cores")
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
