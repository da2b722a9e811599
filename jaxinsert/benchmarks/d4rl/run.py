"""One D4RL cell: a D4RL-layout file converted, trained with an agent's locomotion preset (seeds
vmapped), evaluated in gymnasium MuJoCo and set beside IQL's Table 1 (`run_benchmark`), and
the suite of many cells (`run_suite`, which regenerates the datasets, skips finished cells and
tabulates and plots them). The CLIs experiments/d4rl_benchmark.py, d4rl_suite.py and
d4rl_diagnose.py hold only their flags.
"""

import json
import math
import os
import time

from jaxinsert.training import logging
from jaxinsert.training.logging import write_json_atomically

# Which column of IQL's Table 1 (thesis ch. 7) each agent is compared with.
PUBLISHED_COLUMN = {"iql": "IQL (Ours)", "bc": "BC", "awac": "AWAC"}


def agent_config(agent: str):
  """The offline run config of `agent` with its D4RL locomotion hyper-parameters."""
  from jaxinsert.benchmarks.d4rl import presets
  from jaxinsert.training.config import offline_run_config

  if agent == "iql":
    return presets.iql_locomotion()
  if agent == "bc":
    return presets.bc()
  # AWAC's preset is its offline-then-online run; take its agent and batch size offline.
  preset = presets.awac_mujoco()
  config = offline_run_config("awac")
  config.agent.update(preset.agent.to_dict())
  config.batch_size = preset.batch_size
  return config


def training_rate(metrics_path: str):
  """Median updates/s per seed over the logged intervals after the first (which holds the
  compilation): the training throughput, without conversion, compilation or evaluation."""
  import numpy as np

  from jaxinsert.training.logging import read_metrics

  rates = [record["train/updates_per_second"] for record in read_metrics(metrics_path)
           if "train/updates_per_second" in record]
  return float(np.median(rates[1:] or rates)) if rates else None


def run_benchmark(dataset: str, hdf5: str, agent: str, seeds: int, workdir: str,
                  steps=None, eval_episodes: int = 10, eval_interval: int = 0,
                  progress: bool = True, overrides=None, retrain_on_new_data: bool = False):
  """Converts, trains, evaluates and compares; returns the results dict (also written to disk).

  A checkpoint in `workdir` of another run (other data than `hdf5` holds, other seeds) is
  refused (CheckpointError), or, with `retrain_on_new_data` (the suite, whose cells follow their
  regenerated datasets), deleted so the cell trains again from scratch.
  """
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
      *parents, leaf = field.split(".")  # "agent.expectile" -> config.agent.expectile
      node = config
      for parent in parents:
        node = node[parent]
      if leaf not in node:
        raise KeyError(f"override {field!r}: the {agent} config has no field {leaf!r} "
                       f"(fields: {sorted(node.keys())})")
      node[leaf] = value
  # Converted after the config is built, so a bad override fails before minutes of conversion.
  converters.convert("d4rl_hdf5", hdf5, rlds_dir, spec=f"d4rl-locomotion:{environment}",
                     overwrite=True, progress=progress)
  conversion_seconds = time.time() - started
  if retrain_on_new_data:
    _drop_training_of_another_run(os.path.join(workdir, "train"), runs.dataset_identity(config.dataset),
                                  seeds)
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
      "overrides": dict(overrides or {}),
  }
  write_json_atomically(os.path.join(workdir, "d4rl_results.json"), summary)  # the suite resumes on it
  with open(os.path.join(workdir, "d4rl_table.txt"), "w") as handle:
    handle.write(table + "\n")
  return summary | {"table": table}


AWAC_VALUE_SAMPLES = 10  # policy actions per state for AWAC's V^pi here (training uses 1)


def _advantage_functions(agent_name, agent):
  """(V, Q, rows per call) whose difference is the advantage the agent's actor weights with:
  IQL's V head and target critic; AWAC's E_pi min Q(s, a') and min Q(s, a) of its critic."""
  import jax

  from jaxinsert.agents import awac, iql

  if agent_name == "iql":
    return (jax.jit(agent.value.apply), jax.jit(lambda obs, action: iql.target_q(agent, obs, action)),
            100_000)
  key = jax.random.PRNGKey(0)
  value = jax.jit(lambda obs: awac.policy_value(agent, agent.actor.params, agent.critic.params, obs,
                                                key, AWAC_VALUE_SAMPLES))
  q = jax.jit(lambda obs, action: awac.min_q(agent, agent.critic.params, obs, action))
  return value, q, 100_000 // AWAC_VALUE_SAMPLES


def _drop_training_of_another_run(train_dir, identity, seeds):
  """Deletes `train_dir` if its run trained on a dataset other than `identity` or another number
  of seeds (a cell's directory is named by dataset, agent and budget only)."""
  import shutil

  provenance = os.path.join(train_dir, "provenance.json")
  if not os.path.exists(provenance):
    return
  with open(provenance) as handle:
    trained = json.load(handle)["config"]
  if (trained["dataset"].get("identity"), trained["num_seeds"]) != (identity, seeds):
    print(f"{train_dir}: trained {trained['num_seeds']} seeds on dataset "
          f"{trained['dataset'].get('identity') or '(unrecorded)'}; this cell is {seeds} seeds on "
          f"{identity}: training again", flush=True)
    shutil.rmtree(train_dir)


def diagnose(workdir: str, seed: int = 0, window: int = 50):
  """The advantage profile (jaxinsert.benchmarks.d4rl.diagnostics) of seed `seed` of the IQL or
  AWAC run that `run_benchmark` left in `workdir`, from its last checkpoint and its dataset file.
  Writes workdir/diagnose_seed<seed>.json and returns (profile, printable text)."""
  import jax
  import ml_collections
  import numpy as np

  from jaxinsert.agents import get_agent
  from jaxinsert.benchmarks.d4rl import diagnostics
  from jaxinsert.data.converters import d4rl_hdf5
  from jaxinsert.data.converters.common import ConvertOptions
  from jaxinsert.training import checkpoints, offline, runs

  with open(os.path.join(workdir, "d4rl_results.json")) as handle:
    results = json.load(handle)
  if results["agent"] not in ("iql", "awac"):
    raise ValueError(f"{workdir}: diagnose needs an IQL or AWAC run (an advantage-weighted actor "
                     f"with a critic); this one is {results['agent']!r}")
  if not 0 <= seed < results["seeds"]:
    raise ValueError(f"{workdir}: seed {seed} is not one of its {results['seeds']} seeds")
  with open(os.path.join(workdir, "train", "provenance.json")) as handle:
    config = ml_collections.ConfigDict(json.load(handle)["config"])
  # The run's own config restores its checkpoint (its fingerprint includes the dataset path as
  # given then); the data is read from the run directory, wherever it is now.
  dataset_config = config.dataset.copy_and_resolve_references()
  dataset_config.path = os.path.join(workdir, "rlds")
  _, spec, info = runs.load_offline_dataset(dataset_config)
  template = offline.init_run_state(get_agent(config.agent_name), config.agent, spec, config.seed,
                                    config.num_seeds)
  checkpointer = checkpoints.Checkpointer(os.path.join(workdir, "train", "checkpoints"),
                                          offline.run_description(config, spec),
                                          keep=config.keep_checkpoints)
  try:
    restored = checkpointer.restore_latest(template)
  finally:
    checkpointer.close()
  if restored is None:
    raise FileNotFoundError(f"{workdir}/train/checkpoints holds no checkpoint to diagnose")
  step, run_state = restored
  agent = jax.tree_util.tree_map(lambda leaf: leaf[seed], run_state.agent)
  value_fn, q_fn, rows = _advantage_functions(results["agent"], agent)
  data = d4rl_hdf5.read_layout(results["hdf5"], ConvertOptions())
  if config.dataset.get("action_clip"):  # the actions training saw
    data["actions"] = np.clip(data["actions"], -config.dataset.action_clip, config.dataset.action_clip)
  profile = diagnostics.advantage_profile(
      value_fn, q_fn, data, reward_scale=info.get("reward_scale", 1.0),
      discount=config.agent.discount, beta=config.agent.beta, weight_cap=config.agent.exp_adv_max,
      window=window, batch=rows)
  profile |= {"workdir": os.path.abspath(workdir), "seed": seed, "step": int(step),
              "hdf5": results["hdf5"]}
  write_json_atomically(os.path.join(workdir, f"diagnose_seed{seed}.json"), profile)
  title = f"{results['agent'].upper()} on {results['dataset']} after {profile['step']} updates, seed {seed}"
  return profile, title + "\n" + diagnostics.format_profile(profile)


# ----------------------------------------------------------------------------- suites of cells


def _dataset_is_current(summary, env_id, kind, steps=None):
  """The file exists, has the requested budget (if given) and was made from the policies that
  are committed now (only those it uses: a new expert leaves medium data be)."""
  from jaxinsert.benchmarks.d4rl import protocol

  stored = summary.get("policies")
  if isinstance(stored, dict):  # summaries before session 4 held the whole manifest
    stored = protocol.dataset_sources(stored, kind)
  return ((steps is None or summary.get("requested_steps") == steps) and os.path.exists(summary["hdf5"])
          and stored == protocol.dataset_sources(protocol.load_manifest(env_id), kind))


def dataset_path(workdir, env, kind, steps, progress=True):
  """Regenerates (once) and returns (hdf5 path, dataset summary)."""
  from jaxinsert.benchmarks.d4rl import protocol

  env_id = protocol.gymnasium_id(env)
  name = protocol.dataset_name(env_id, kind)
  data_dir = os.path.join(workdir, "data")
  summary_path = os.path.join(data_dir, f"{name}.json")
  if os.path.exists(summary_path):
    with open(summary_path) as handle:
      summary = json.load(handle)
    if _dataset_is_current(summary, env_id, kind, steps):
      return summary["hdf5"], summary
  started = time.time()
  summary = protocol.generate_dataset(env_id, kind, data_dir, steps=steps, rlds=False,
                                     progress=progress)
  summary.update(requested_steps=steps, seconds=time.time() - started,
                 policies=protocol.dataset_sources(protocol.load_manifest(env_id), kind))
  write_json_atomically(summary_path, summary)  # the summary marks a finished file
  return summary["hdf5"], summary


def cell_training_rate(cell):
  """Updates/s per seed while training, from the cell's metrics log."""
  return training_rate(os.path.join(os.path.dirname(cell["results_path"]), "train", "metrics.jsonl"))


def cell_table(cells, datasets):
  """Markdown: one row per (dataset, agent) with the published number and the checks."""
  from jaxinsert.benchmarks import d4rl

  lines = ["| dataset | our data (score) | agent | updates x seeds | ours | published | band | in band | "
           "seed-upd/s | wall-clock |", "|---|---|---|---|---|---|---|---|---|---|"]
  for (name, agent), cell in sorted(cells.items()):
    published = ("n/a" if cell["published_mean"] is None else
                 f"{cell['published_mean']:.1f}" + (f" ± {cell['published_std']:.1f}"
                                                    if cell["published_std"] is not None else ""))
    std = cell["score_std"] or 0.0
    in_band = "n/a" if cell["in_band"] is None else ("yes" if cell["in_band"] else "no")
    lines.append(f"| {name} | {datasets[name]['score_mean']:.1f} | {agent} | "
                 f"{cell['updates_per_seed']:,} x {cell['seeds']} | {cell['score_mean']:.1f} ± {std:.1f} | "
                 f"{published} | ±{cell['band']:.1f} | {in_band} | "
                 f"{cell_training_rate(cell) * cell['seeds']:.0f} | "
                 f"{cell['wall_clock_seconds'] / 60:.1f} min |")
  checks = []
  for name in sorted({name for name, _ in cells}):
    bc, iql = cells.get((name, "bc")), cells.get((name, "iql"))
    if bc and iql:
      relation = ">=" if iql["score_mean"] >= bc["score_mean"] else "<"
      checks.append(f"- {name}: IQL {iql['score_mean']:.1f} {relation} BC {bc['score_mean']:.1f}")
    if bc and name.endswith("-medium-v2"):
      published_bc = d4rl.TABLE_1.column("BC")[d4rl.TABLE_1.find_row(name)][0]
      gap = bc["score_mean"] - published_bc
      checks.append(f"- {name}: BC {bc['score_mean']:.1f} vs D4RL's BC {published_bc:.1f}: "
                    f"{gap:+.1f} points ({'within' if abs(gap) <= 10 else 'outside'} 10)")
  return "\n".join(lines + [""] + checks) + "\n"


def plot_cells(cells, datasets, path):
  """Bars: our mean +- std per agent and dataset; dots: the published number; dashes: our data."""
  plt = logging.pyplot()
  import numpy as np

  names = sorted({name for name, _ in cells})
  agents = sorted({agent for _, agent in cells})
  width = 0.8 / len(agents)
  fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(names), 3.6))
  for index, agent in enumerate(agents):
    x = np.arange(len(names)) + (index - (len(agents) - 1) / 2) * width
    present = [(i, cells[name, agent]) for i, name in enumerate(names) if (name, agent) in cells]
    ax.bar([x[i] for i, _ in present], [c["score_mean"] for _, c in present], width,
           yerr=[c["score_std"] or 0.0 for _, c in present], capsize=3, label=f"{agent} (ours)")
    published = [(x[i], c["published_mean"]) for i, c in present if c["published_mean"] is not None]
    if published:
      ax.scatter(*zip(*published), marker="o", color="k", zorder=3,
                 label="published (IQL Table 1)" if index == 0 else None)
  ax.hlines([datasets[name]["score_mean"] for name in names], np.arange(len(names)) - 0.45,
            np.arange(len(names)) + 0.45, colors="gray", linestyles="--", label="our dataset")
  ax.set_xticks(np.arange(len(names)), [name.replace("-v2", "") for name in names], rotation=20,
                fontsize=8)
  ax.set_ylabel("normalised score")
  ax.legend(fontsize=7)
  logging.save_figure(fig, path, dpi=120)


def _finished_cell(results, hdf5):
  """A cell's results if it finished after its dataset was made (regenerated data retrains)."""
  if os.path.exists(results) and os.path.getmtime(results) >= os.path.getmtime(hdf5):
    with open(results) as handle:
      return json.load(handle)
  return None


def finished_cells(workdir, updates):
  """({(dataset, agent): results}, {dataset: summary}) of the cells already finished in `workdir`
  with `updates` updates per seed, on datasets that are still current."""
  from jaxinsert.benchmarks.d4rl import protocol

  cells, datasets = {}, {}
  data_dir = os.path.join(workdir, "data")
  for file in sorted(os.listdir(data_dir)) if os.path.isdir(data_dir) else []:
    if not file.endswith(".json"):
      continue
    with open(os.path.join(data_dir, file)) as handle:
      summary = json.load(handle)
    name = file[:-len(".json")]
    env, kind = name[:-len("-v2")].split("-", 1)  # halfcheetah-medium-expert-v2
    if not _dataset_is_current(summary, protocol.gymnasium_id(env), kind):
      continue
    for agent in PUBLISHED_COLUMN:
      results = os.path.join(workdir, f"{name}-{agent}-{updates}", "d4rl_results.json")
      cell = _finished_cell(results, summary["hdf5"])
      if cell is not None:
        cells[name, agent] = dict(cell, results_path=results)
        datasets[name] = summary
  return cells, datasets


def run_suite(workdir, envs, kinds, agents, seeds, updates, dataset_steps, eval_episodes=10,
              progress=True):
  """Runs the missing cells; returns (cells {(dataset, agent): results}, datasets, table)."""
  from jaxinsert.benchmarks.d4rl import protocol

  os.makedirs(workdir, exist_ok=True)
  # The table also keeps the cells of earlier calls with other envs / kinds / agents (same
  # budget): a suite directory accumulates, e.g. medium-expert added once an expert exists.
  cells, datasets = finished_cells(workdir, updates)
  table = ""
  for env in envs:
    for kind in kinds:
      name = protocol.dataset_name(protocol.gymnasium_id(env), kind)
      hdf5, datasets[name] = dataset_path(workdir, env, kind, dataset_steps, progress)
      for agent in agents:
        run_dir = os.path.join(workdir, f"{name}-{agent}-{updates}")
        results = os.path.join(run_dir, "d4rl_results.json")
        cell = _finished_cell(results, hdf5)
        if cell is None or cell["seeds"] != seeds:
          cell = run_benchmark(name, hdf5, agent, seeds, run_dir, steps=updates,
                               eval_episodes=eval_episodes, progress=progress,
                               retrain_on_new_data=True)
          print(cell.pop("table"), flush=True)
        cells[name, agent] = dict(cell, results_path=results)
        table = cell_table(cells, datasets)
        with open(os.path.join(workdir, "suite_table.md"), "w") as handle:
          handle.write(table)
        plot_cells(cells, datasets, os.path.join(workdir, "suite.png"))
        with open(os.path.join(workdir, "suite.json"), "w") as handle:
          json.dump({"datasets": datasets, "cells": [dict(cell, agent=agent) for (_, agent), cell in
                                                     sorted(cells.items())]}, handle, indent=2)
  return cells, datasets, table
