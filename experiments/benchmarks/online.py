"""Online finetuning throughput on the point mass: the host loop (one dispatch per environment
step, one seed) against the scanned loop (training/online_scan.py; 1 and 4 vmapped seeds).

Same work per environment step in both: IQL, 4 environments, one update per environment step
(UTD 1), offline ratio 0.5, at two sizes: 2x256 with batch 256 (update-bound on a CPU) and 2x64
with batch 64 (where the per-step dispatch shows). Each loop runs a warm-up round (compilation),
then a timed round of `env_steps` environment steps from the same start (its final checkpoint
exists already, so neither loop saves in it); the figure is environment steps per second
summed over seeds, beside the float32 matmul peak measured in the same run.
`python experiments/bench.py --what=online`
"""

from __future__ import annotations

import tempfile
import time
from typing import Dict

import jax

from experiments.benchmarks.updates import measure_matmul_peak
from jaxinsert.agents import get_agent
from jaxinsert.envs import pointmass
from jaxinsert.envs.base import FunctionalVectorEnv
from jaxinsert.envs.rollout import agent_spec
from jaxinsert.training import config as run_config
from jaxinsert.training.offline import init_run_state, own_buffers
from jaxinsert.training.online import OnlineTrainer
from jaxinsert.training.online_scan import ScannedOnlineTrainer

NUM_ENVS = 4


def _config(env_steps: int, seeds: int, loop: str, hidden: int):
  config = run_config.online_run_config("iql")
  config.agent.hidden_dims, config.batch_size = (hidden, hidden), hidden
  config.online_loop, config.num_seeds = loop, seeds
  config.env.name, config.env.num_envs = "pointmass", NUM_ENVS
  config.online_steps = env_steps // NUM_ENVS
  config.eval_interval = config.checkpoint_interval = 0
  config.replay_capacity = 100_000
  return config


def _timed(make, config, agents, rounds: int = 2) -> float:
  """Seconds of the last of `rounds` runs of one trainer from the same start (the first
  compiles; the jitted functions belong to the trainer, so later rounds reuse them)."""
  seconds = 0.0
  with tempfile.TemporaryDirectory() as workdir:
    trainer = make(config, workdir)
    try:
      start_state = trainer.initial_state(agents, 0)
      for _ in range(rounds):
        state = own_buffers(start_state)  # the steps donate their inputs
        start = time.perf_counter()
        state = trainer.train(state)
        jax.block_until_ready(jax.tree_util.tree_leaves(state.agent))
        seconds = time.perf_counter() - start
    finally:
      trainer.close()
  return seconds


def run(env_steps: int = 2000, sizes=(256, 64)) -> Dict[str, object]:
  peak = measure_matmul_peak()
  env = pointmass.PointMass()
  spec = agent_spec(env.spec)
  data = pointmass.make_dataset(jax.random.PRNGKey(0), 200)
  agent = get_agent("iql")
  print(f"devices: {jax.devices()}  float32 matmul peak: {peak / 1e9:.1f} GFLOP/s; "
        f"{env_steps} env steps, {NUM_ENVS} environments, IQL, UTD 1")
  results: Dict[str, object] = {"matmul_peak_gflops": peak / 1e9, "env_steps": env_steps}
  for hidden in sizes:
    host_config = _config(env_steps, 1, "host", hidden)
    one = init_run_state(agent, host_config.agent, spec, 0, 1).agent
    host = _timed(lambda c, w: OnlineTrainer(c, w, data, spec, FunctionalVectorEnv(env, NUM_ENVS), progress=False),
                  host_config, jax.tree_util.tree_map(lambda x: x[0], one))
    results[f"{hidden}_host_1_seed_env_steps_per_s"] = env_steps / host
    print(f"2x{hidden}, batch {hidden}: host loop, 1 seed:  {env_steps / host:8.0f} env steps/s")
    for seeds in (1, 4):
      config = _config(env_steps, seeds, "scan", hidden)
      agents = init_run_state(agent, config.agent, spec, 0, seeds).agent
      seconds = _timed(lambda c, w: ScannedOnlineTrainer(c, w, data, spec, env, progress=False), config, agents)
      rate = env_steps * seeds / seconds
      results[f"{hidden}_scan_{seeds}_seeds_env_steps_per_s"] = rate
      print(f"2x{hidden}, batch {hidden}: scanned, {seeds} seed(s): {rate:8.0f} seed-env steps/s = "
            f"{rate * host / env_steps:4.1f}x the host loop")
  return results
