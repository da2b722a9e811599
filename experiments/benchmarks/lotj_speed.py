"""LOTJ speed (a benchmark, not a test): image IQL updates/s and rendered frames/s beside
state-based IQL updates/s, with the float32 matmul peak measured in the same run.

  taskset -c 1 python experiments/benchmarks/lotj_speed.py [--image_size=32] [--encoder=patch_conv]

Image IQL is `agents.lotj` (three backbones, DAIB on the policy) on random uint8 images with a
75/25 mixed batch of 64 (offline rows random-shifted); state IQL is `agents.iql` at the same
batch on 27-D insertion states. Frames are the `lotj` suite's collector rollouts at the image
size (physics and rendering together, and rendering alone). Last line: JSON.
"""

from __future__ import annotations

import json
import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")

from absl import app, flags  # noqa: E402 (MUJOCO_GL is set before anything imports mujoco)

_SIZE = flags.DEFINE_integer("image_size", 32, "Image side (32, 48, 64).")
_ENCODER = flags.DEFINE_string("encoder", "patch_conv", "patch_conv | small_conv | resnet18.")
_BATCH = flags.DEFINE_integer("batch", 64, "Rows per update.")
_STEPS = flags.DEFINE_integer("steps", 20, "Updates per timed call.")


def _best_rate(fn, count: int, calls: int = 3) -> float:
  import jax
  jax.block_until_ready(fn())
  best = float("inf")
  for _ in range(calls):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    best = min(best, time.perf_counter() - start)
  return count / best


def main(argv):
  del argv
  import jax
  import jax.numpy as jnp
  import numpy as np

  from experiments.benchmarks.updates import measure_matmul_peak
  from jaxinsert.agents import iql, lotj
  from jaxinsert.data import replay, samplers
  from jaxinsert.envs import insertion, rendering
  from jaxinsert.training import lotj_data
  from jaxinsert.types import Spec, Transition

  size, batch, steps = _SIZE.value, _BATCH.value, _STEPS.value
  results = {"devices": str(jax.devices()), "image_size": size, "encoder": _ENCODER.value,
             "batch": batch}
  results["matmul_peak_gflops"] = measure_matmul_peak(1024, 5) / 1e9
  print(f"float32 matmul peak {results['matmul_peak_gflops']:.1f} GFLOP/s", flush=True)

  rng = np.random.default_rng(0)
  n = 2048
  image_spec = Spec((size, size, 3), 3, jnp.uint8)
  images = lambda: jnp.asarray(rng.integers(0, 256, (n, size, size, 3)), jnp.uint8)
  image_data = Transition(obs=images(), action=jnp.asarray(rng.uniform(-1, 1, (n, 3)), jnp.float32),
                          reward=jnp.asarray(rng.integers(0, 2, n), jnp.float32), mask=jnp.ones(n),
                          next_obs=images(), task_id=jnp.zeros(n, jnp.int32),
                          domain_id=jnp.asarray(rng.integers(0, 50, n), jnp.int32))
  online = replay.add(replay.init(image_spec, 512), jax.tree_util.tree_map(lambda x: x[:512], image_data))
  config = lotj.get_config()
  config.encoder = _ENCODER.value
  agent = lotj.create(config, jax.random.PRNGKey(0), image_spec)

  @jax.jit
  def image_chunk(agent, key):
    def body(agent, key):
      sample_key, update_key = jax.random.split(key)
      rows = samplers.mixed(image_data, online, sample_key, batch, 0.75,
                            offline_augment=samplers.shift_observations(2))
      return lotj.update(agent, rows, update_key)
    agent, metrics = jax.lax.scan(body, agent, jax.random.split(key, steps))
    return metrics["actor_loss"]

  start = time.perf_counter()
  jax.block_until_ready(image_chunk(agent, jax.random.PRNGKey(1)))
  results["image_iql_compile_s"] = time.perf_counter() - start
  results["image_iql_updates_per_s"] = _best_rate(lambda: image_chunk(agent, jax.random.PRNGKey(2)), steps)
  print(f"image IQL ({_ENCODER.value}, {size}x{size}, 3 backbones): "
        f"{results['image_iql_updates_per_s']:.1f} updates/s", flush=True)

  state_dim = insertion.OBSERVATION_DIM
  state_data = Transition(obs=jnp.asarray(rng.normal(size=(n, state_dim)), jnp.float32),
                          action=image_data.action, reward=image_data.reward, mask=image_data.mask,
                          next_obs=jnp.asarray(rng.normal(size=(n, state_dim)), jnp.float32),
                          task_id=image_data.task_id, domain_id=image_data.domain_id)
  state_agent = iql.create(iql.get_config(), jax.random.PRNGKey(0), Spec((state_dim,), 3))

  @jax.jit
  def state_chunk(agent, key):
    def body(agent, key):
      sample_key, update_key = jax.random.split(key)
      return iql.update(agent, samplers.uniform(state_data, sample_key, batch), update_key)
    agent, metrics = jax.lax.scan(body, agent, jax.random.split(key, steps * 10))
    return metrics["actor_loss"]

  results["state_iql_updates_per_s"] = _best_rate(lambda: state_chunk(state_agent, jax.random.PRNGKey(2)),
                                                  steps * 10)
  print(f"state IQL (27-D, 256x2): {results['state_iql_updates_per_s']:.1f} updates/s", flush=True)

  if rendering.egl_available():
    task_list = lotj_data.lotj_tasks(["dt2", "usb"])
    start = time.perf_counter()
    episodes = lotj_data.collect(task_list, 4, image_size=size, envs_per_domain=2, chunk_steps=40)
    seconds = time.perf_counter() - start
    frames = sum(len(e["steps"]["reward"]) for e in episodes)
    results["collect_frames_per_s"] = frames / seconds
    renderer = rendering.BatchRenderer(task_list * 4, size)
    qpos = np.zeros((len(task_list) * 4, 6))
    results["render_frames_per_s"] = _best_rate(lambda: renderer.render(qpos), len(task_list) * 4, 5)
    renderer.close()
    print(f"collector with rendering: {results['collect_frames_per_s']:.1f} stored frames/s; "
          f"rendering alone: {results['render_frames_per_s']:.0f} frames/s", flush=True)
  print(json.dumps(results, default=float))


if __name__ == "__main__":
  app.run(main)
