"""One D4RL cell: a D4RL-layout file converted, trained with an agent's locomotion preset (seeds
vmapped), evaluated in gymnasium MuJoCo and set beside IQL's Table 1. No flags here, so both
CLIs import it: experiments/d4rl_benchmark.py (one cell) and experiments/d4rl_suite.py (many).
"""

import json
import math
import os
import time

# Which column of IQL's Table 1 (thesis ch. 7) each agent is compared with.
PUBLISHED_COLUMN = {"iql": "IQL (Ours)", "bc": "BC", "awac": "AWAC"}


def agent_config(agent: str):
  """The offline run config of `agent` with its D4RL locomotion hyper-parameters."""
  from experiments.configs import awac_default, bc_default, iql_locomotion
  from jaxinsert.training.config import offline_run_config

  if agent == "iql":
    return iql_locomotion.get_config()
  if agent == "bc":
    return bc_default.get_config()
  # AWAC's preset is its offline-then-online run; take its agent and batch size offline.
  preset = awac_default.get_config()
  config = offline_run_config("awac")
  config.agent.update(preset.agent.to_dict())
  config.batch_size = preset.batch_size
  return config


def training_rate(metrics_path: str):
  """Median updates/s per seed over the logged intervals after the first (which holds the
  compilation): the training throughput, without conversion, compilation or evaluation."""
  import numpy as np

  with open(metrics_path) as handle:
    rates = [record["train/updates_per_second"] for record in map(json.loads, handle)
             if "train/updates_per_second" in record]
  return float(np.median(rates[1:] or rates)) if rates else None


def run_benchmark(dataset: str, hdf5: str, agent: str, seeds: int, workdir: str,
                  steps=None, eval_episodes: int = 10, eval_interval: int = 0,
                  progress: bool = True, overrides=None):
  """Converts, trains, evaluates and compares; returns the results dict (also written to disk)."""
  from jaxinsert.benchmarks import d4rl
  from jaxinsert.benchmarks.d4rl import protocol
  from jaxinsert.data import converters
  from jaxinsert.training import runs

  name = d4rl.canonical_dataset_name(dataset)
  environment = name.split("-")[0]
  env_id = protocol.gymnasium_id(environment)
  os.makedirs(workdir, exist_ok=True)
  started = time.time()
  rlds_dir = os.path.join(workdir, "rlds")
  converters.convert("d4rl_hdf5", hdf5, rlds_dir, spec=f"d4rl-locomotion:{environment}",
                     overwrite=True, progress=progress)
  conversion_seconds = time.time() - started
  config = agent_config(agent)
  with config.unlocked():
    config.num_seeds = seeds
    config.dataset.kind = "rlds"
    config.dataset.path = rlds_dir
    config.env.name = env_id
    config.env.num_envs = min(10, eval_episodes)
    config.eval_episodes = eval_episodes
    if steps:
      # Intervals must divide into whole host calls: the gcd keeps both valid for any budget.
      config.max_steps = steps
      config.steps_per_call = math.gcd(steps, config.steps_per_call)
      config.log_interval = math.gcd(steps, config.log_interval)
    config.eval_interval = eval_interval
    config.checkpoint_interval = 0
    for field, value in (overrides or {}).items():
      config[field] = value
  results = runs.run_offline(config, os.path.join(workdir, "train"), progress=progress)
  per_seed_returns = results["evaluation"]["return_mean_per_seed"]
  per_seed_scores = [float(d4rl.normalized_score(name, r)) for r in per_seed_returns]
  rows = d4rl.compare({name: per_seed_scores}, d4rl.TABLE_1, column=PUBLISHED_COLUMN[agent])
  table = d4rl.format_table(rows, title=f"{agent} on {name} ({hdf5}), {results['steps']} updates, "
                                        f"{seeds} seeds, evaluated in gymnasium {env_id}; published: "
                                        f"IQL Table 1 '{PUBLISHED_COLUMN[agent]}' (D4RL files, mujoco-py)")
  row = rows[0]
  summary = {
      "dataset": name, "hdf5": os.path.abspath(hdf5), "agent": agent, "env_id": env_id,
      "seeds": seeds, "updates_per_seed": results["steps"], "eval_episodes_per_seed": eval_episodes,
      "per_seed_return": per_seed_returns, "per_seed_score": per_seed_scores,
      "score_mean": row.ours_mean, "score_std": row.ours_std,
      "published_mean": row.published_mean, "published_std": row.published_std,
      "in_band": row.in_band, "band": row.band,
      "conversion_seconds": conversion_seconds, "train_and_eval_seconds": results["wall_clock_seconds"],
      "updates_per_second": results["steps"] / max(results["wall_clock_seconds"], 1e-9),
      "training_updates_per_second": training_rate(os.path.join(workdir, "train", "metrics.jsonl")),
      "wall_clock_seconds": time.time() - started, "simulator": "gymnasium (mujoco bindings)",
  }
  with open(os.path.join(workdir, "d4rl_results.json"), "w") as handle:
    json.dump(summary, handle, indent=2)
  with open(os.path.join(workdir, "d4rl_table.txt"), "w") as handle:
    handle.write(table + "\n")
  return summary | {"table": table}
