"""The ODA pipeline's studies after zero-shot adaptation (digest A11): online finetuning by
Algorithm 2 of every test and out-of-distribution task ODA leaves below the threshold, against
the no-context baseline and DDPGfD from scratch, the data-scaling study (ODA trained on the
first n training tasks) and digest A10's other zero-shot baselines (BC on each task's
demonstrations, offline DDPG). Each function takes the `oda_pipeline.ODAPipeline` and is one
stage.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxinsert.agents import oda
from jaxinsert.training import insertion_tasks, logging
from jaxinsert.training.config import online_run_config


# The finetuned methods (`config.finetune.methods`) and the offline state each starts from.
FINETUNE_METHODS = {
    "oda": "oda",             # Algorithm 2 as written: the online buffer B starts empty
    "oda_demos": "oda",       # ODA with the task's demonstrations in B's initial contents
    "awac": "awac",           # the no-context baseline, demos in its initial buffer (A10)
    "ddpgfd": None,           # DDPGfD from scratch, demos in every batch
}


def finetune_settings(config: ml_collections.ConfigDict) -> Tuple[Tuple[str, ...], int]:
  """(methods, seeds) of the finetune stage, refused with the field named when malformed;
  checked when the stages are declared, before any of them runs."""
  methods = tuple(config.finetune.methods)
  unknown = [m for m in methods if m not in FINETUNE_METHODS]
  if unknown or not methods:
    raise ValueError(f"config.finetune.methods = {methods}: each must be one of "
                     f"{sorted(FINETUNE_METHODS)} (and at least one given); unknown {unknown}")
  if "awac" in methods and not config.get("baseline", True):
    raise ValueError(f"config.finetune.methods = {methods} finetunes 'awac', the no-context "
                     "baseline, but config.baseline = False trains none")
  ratio = float(config.finetune.get("demo_ratio", 0.0))
  if not 0.0 <= ratio < 1.0:
    raise ValueError(f"config.finetune.demo_ratio = {ratio}: the share of each batch drawn from "
                     "the demonstrations, in [0, 1)")
  latent = config.finetune.get("adapted_latent", "sample")
  if latent not in ("sample", "mean"):
    raise ValueError(f"config.finetune.adapted_latent = {latent!r}: 'sample' or 'mean'")
  num_seeds = int(config.finetune.get("num_seeds", 1))
  if not 1 <= num_seeds <= config.num_seeds:
    raise ValueError(f"config.finetune.num_seeds = {num_seeds}: between 1 and config.num_seeds "
                     f"({config.num_seeds}), the seeds trained offline")
  return methods, num_seeds


def finetune(pipeline) -> Dict[str, Any]:
  """Every method of `finetune.methods` on every test and out-of-distribution task, for each of
  the first `finetune.num_seeds` seeds whose ODA zero-shot success is below
  `finetune.threshold`, from that seed's offline agents: Algorithm 2 as written ("oda"), ODA
  with the task's demonstrations in its initial buffer ("oda_demos"), the no-context baseline
  with the demonstrations in its initial buffer (digest A10) and DDPGfD from scratch.
  Record: task -> {"split", "seeds": [{"zero_shot", "skipped", "runs": {method: run}}]}."""
  zero_shot = pipeline.runner.records["zero_shot"]
  methods, num_seeds = finetune_settings(pipeline.config)
  results: Dict[str, Any] = {}
  for split, tasks in (("test", pipeline.test_tasks), ("ood", pipeline.ood_tasks)):
    for task in tasks:
      per_seed = []
      for seed_index in range(num_seeds):
        rates = {method: zero_shot[method][seed_index][split]["per_task"][task.name]["success_rate"]
                 for method in ("oda", "awac") if method in zero_shot}
        entry = {"zero_shot": rates["oda"],
                 "skipped": rates["oda"] >= pipeline.config.finetune.threshold, "runs": {}}
        for method in methods if not entry["skipped"] else ():
          start = FINETUNE_METHODS[method]
          entry["runs"][method] = finetune_task(pipeline, task, method, seed_index) | {
              "zero_shot": rates[start] if start else None}
        per_seed.append(entry)
        results[task.name] = {"split": split, "seeds": per_seed}
        logging.write_json_atomically(os.path.join(pipeline.workdir, "finetune", "partial.json"),
                                      results, default=float)
  return {"tasks": results}


def ddpgfd_config(pipeline) -> ml_collections.ConfigDict:
  """DDPGfD from scratch: `config.ddpgfd`, with its demonstration rows set from the ratio."""
  config = online_run_config("ddpgfd")
  config.agent = pipeline.config.ddpgfd.copy_and_resolve_references()
  ratio = pipeline.config.finetune.ddpgfd_demo_ratio
  config.agent.demo_rows = int(round(pipeline.config.batch_per_task * ratio))
  config.offline_ratio = ratio            # samplers.mixed: the demonstration rows come first
  config.initialize_replay_with_offline = False
  config.exploration_noise = 0.0          # the agent's own Gaussian noise (config.ddpgfd)
  return config


def finetune_task(pipeline, task, method: str, seed_index: int = 0, label: str = ""
                  ) -> Dict[str, Any]:
  """Finetunes one seed of `method` on `task` (its run under finetune/<method><label>/)."""
  from jaxinsert.training.online import OnlineTrainer

  finetune = pipeline.config.finetune
  data = pipeline.data()
  demos = pipeline.task_demos(task)
  if method == "ddpgfd":
    from jaxinsert.agents import ddpgfd

    config = ddpgfd_config(pipeline)
    state = ddpgfd.create(config.agent, jax.random.PRNGKey(pipeline.config.seed + seed_index),
                          data["spec"])
  else:
    config = online_run_config("oda")
    config.agent = pipeline.config.oda.copy_and_resolve_references()
    config.agent.use_context = method != "awac"
    for name in ("actor_lr", "critic_lr", "encoder_lr"):
      config.agent[name] = finetune.learning_rate
    if not finetune.get("train_encoder", True):    # Algorithm 2 line 12 trains it
      config.agent.encoder_lr = 0.0
    config.agent.warmup_steps = finetune.warmup_steps
    with config.agent.unlocked():                  # not a field of the offline agent
      config.agent.actor_delay_steps = finetune.get("actor_delay_steps", 0)  # critic warm-up
      config.agent.adapted_latent = finetune.get("adapted_latent", "sample")
    # The baseline's buffer starts holding the task's demonstrations (digest A10); ODA's only
    # for "oda_demos" (Algorithm 2 itself starts from an empty buffer).
    config.initialize_replay_with_offline = method in ("awac", "oda_demos")
    # Algorithm 2 samples the online buffer B only; the methods that hold the demonstrations
    # draw `demo_ratio` of every batch from them as well (digest A12.9 leaves it open).
    config.offline_ratio = (finetune.get("demo_ratio", 0.0)
                            if config.initialize_replay_with_offline else 0.0)
    config.exploration_noise = finetune.exploration_noise
    config.explore_with_mean = finetune.get("explore_with_mean", False)
    offline = pipeline.agent_states(FINETUNE_METHODS[method])[seed_index]
    state = oda.with_optimizers(oda.adapt(offline, demos), config.agent)
  config.seed = pipeline.config.seed + seed_index
  config.online_steps = finetune.online_steps
  config.stop_after_consecutive_successes = finetune.stop_after_successes
  config.batch_size = pipeline.config.batch_per_task
  config.replay_capacity = finetune.online_steps * finetune.num_envs + demos.size
  config.env.num_envs = finetune.num_envs
  config.eval_interval = finetune.eval_interval
  config.checkpoint_interval = finetune.eval_interval
  config.log_interval = finetune.eval_interval
  config.dataset.kind = "rlds"
  config.dataset.path = pipeline.data_path("demos")
  env = insertion_tasks.NormalizedVectorEnv(
      insertion_tasks.make_env([task], finetune.num_envs), data["normalizer"])
  curve = []
  evaluator = pipeline.evaluator([task], finetune.eval_trials)

  def evaluate(seeded_state, step):
    agent_state = jax.tree_util.tree_map(lambda x: x[0], seeded_state)
    result = evaluator(method_policy(pipeline, method, agent_state, [task]))
    curve.append((step, result["pooled"]["success_rate"]))
    return {"success_rate": result["pooled"]["success_rate"]}

  # The starting policy on the final evaluation's own starts: "start" and "final" are paired
  # trial by trial (the zero-shot stage's evaluator deals its starts over all the test tasks at
  # once, so its count for this task is an unpaired draw: 24/100 there, 18/100 here for
  # multipin-2-wide seed 0 on 2026-12-03), and the curve begins at step 0.
  final_evaluator = pipeline.evaluator([task], pipeline.config.eval.trials)
  start_policy = method_policy(pipeline, method, state, [task])
  start = final_evaluator(start_policy)["pooled"]
  curve.append((0, evaluator(start_policy)["pooled"]["success_rate"]))
  workdir = os.path.join(pipeline.workdir, "finetune", method + label, task.name,
                         f"seed{seed_index}")
  started = time.perf_counter()
  trainer = OnlineTrainer(config, workdir, demos, data["spec"], env, evaluate, progress=pipeline.progress)
  try:
    initial = trainer.initial_state(state, config.seed)
    initial_buffer = int(initial.buffer.size) if int(initial.env_steps) == 0 else None
    online = trainer.train(initial)
  finally:
    trainer.close()
    env.close()
  final = final_evaluator(method_policy(pipeline, method, online.agent, [task]))["pooled"]
  reached = [step for step, rate in curve if rate >= pipeline.config.finetune.threshold]
  return {"curve": curve, "start": start, "final": final, "env_steps": int(online.env_steps),
          "initial_buffer": initial_buffer,   # transitions in B before the first step
          "stopped_early": trainer.stopped_early,   # the consecutive-successes rule fired
          "steps_to_threshold": reached[0] if reached else None,
          "seconds": time.perf_counter() - started}


def method_policy(pipeline, method: str, state, tasks) -> insertion_tasks.Policy:
  """The deterministic policy of a finetuned `method` (a key of FINETUNE_METHODS) on `tasks`."""
  if method != "ddpgfd":
    return pipeline.oda_policy(state, tasks)
  return per_task_policy(pipeline, method, [state])


# Digest A10's zero-shot baselines besides multi-task AWAC (`config.other_baselines`).
OTHER_BASELINES = ("bc_demos", "offline_ddpg")


def other_baselines_settings(config: ml_collections.ConfigDict) -> Tuple[str, ...]:
  """The baselines of `config.other_baselines`, refused with the field named when unknown."""
  names = tuple(config.get("other_baselines", ()))
  unknown = [name for name in names if name not in OTHER_BASELINES]
  if unknown:
    raise ValueError(f"config.other_baselines = {names}: each must be one of {OTHER_BASELINES}; "
                     f"unknown {unknown}")
  return names


def other_baselines(pipeline) -> Dict[str, Any]:
  """Digest A10's remaining baselines, zero-shot on the test and out-of-distribution tasks with
  the zero-shot stage's evaluator (the same starts, trial by trial), `num_seeds` seeds each:
  "bc_demos": behaviour cloning on the task's own demonstrations only, ODA's actor widths,
  log-std bounds, learning rate and update count, minus encoder and critic (W; Adam with its
  default moments); one policy per task and seed. "offline_ddpg": DDPG (twin critic, no target
  smoothing, no demonstration loss) without context, trained offline on the AWAC baseline's
  data (the training tasks' offline data with their demonstrations), as many rows per update
  as ODA's meta-batch, one policy for every task; the paper reports it near 0% on the test
  tasks. Record: {"methods": method -> per seed {split:
  evaluation}}, the zero-shot stage's layout."""
  trials, results = pipeline.config.eval.trials, {}
  splits = [(split, tasks) for split, tasks in (("test", pipeline.test_tasks),
                                                ("ood", pipeline.ood_tasks)) if tasks]
  for method in other_baselines_settings(pipeline.config):
    per_task = method == "bc_demos"
    # The stacked seeds' agents: one per task (BC), or a single one that acts everywhere.
    trained = ([_train_other(pipeline, method, task) for _, tasks in splits for task in tasks]
               if per_task else [_train_other(pipeline, method, None)])
    per_seed = []
    for seed_index in range(pipeline.config.num_seeds):
      seed = [jax.tree_util.tree_map(lambda x, i=seed_index: x[i], state) for state in trained]
      by_split, first = {}, 0
      for split, tasks in splits:
        states = seed[first:first + len(tasks)] if per_task else seed
        first += len(tasks)
        by_split[split] = pipeline.evaluator(tasks, trials)(
            per_task_policy(pipeline, method, states))
      per_seed.append(by_split)
    results[method] = per_seed
  return {"methods": results}


def _train_other(pipeline, method: str, task) -> Any:
  """The stacked seeds of `method` trained offline: "bc_demos" on `task`'s demonstrations,
  "offline_ddpg" on every training task's data (workdir/<method>[/<task>])."""
  from jaxinsert.data import samplers
  from jaxinsert.training.config import offline_run_config
  from jaxinsert.training.oda_pipeline import _concat, _select
  from jaxinsert.training.offline import OfflineTrainer

  data, settings = pipeline.data(), pipeline.config
  config = offline_run_config("bc" if method == "bc_demos" else "ddpgfd")
  if method == "bc_demos":
    for name, source in (("hidden_dims", "policy_hidden_dims"), ("actor_lr", "actor_lr"),
                         ("log_std_min", "log_std_min"), ("log_std_max", "log_std_max")):
      config.agent[name] = settings.oda[source]
    dataset = pipeline.task_demos(task)
    config.batch_size = settings.batch_per_task
  else:
    config.agent = settings.ddpgfd.copy_and_resolve_references()
    config.agent.demo_rows = 0            # DDPG: no demonstration loss
    ids = [t.task_id for t in pipeline.train_tasks]
    dataset = _concat([data["offline"],
                       _select(data["demos"], np.isin(np.asarray(data["demos"].task_id), ids))])
    config.batch_size = settings.batch_per_task * len(pipeline.train_tasks)
  config.seed, config.num_seeds = settings.seed, settings.num_seeds
  config.max_steps, config.steps_per_call = settings.offline_steps, settings.steps_per_call
  config.log_interval = settings.steps_per_call
  config.eval_interval, config.checkpoint_interval = 0, settings.checkpoint_interval
  workdir = os.path.join(pipeline.workdir, method, *([task.name] if task is not None else []))
  trainer = OfflineTrainer(config, workdir, dataset, data["spec"], progress=pipeline.progress,
                           sampler=samplers.uniform)
  try:
    return trainer.train().agent
  finally:
    trainer.close()


def per_task_policy(pipeline, method: str, states) -> insertion_tasks.Policy:
  """The deterministic policy of `method` ("bc_demos", "offline_ddpg" or "ddpgfd") where
  environment i acts with states[i % len(states)]: one state per task in the evaluator's layout
  (environment i runs task i % len(tasks)), or a single state for every environment; one
  jitted call over the states stacked on a leading axis."""
  from jaxinsert.agents import bc, ddpgfd

  module = bc if method == "bc_demos" else ddpgfd
  if method not in pipeline.jitted_policies:
    act = lambda s, obs: module.act(s, obs, jax.random.PRNGKey(0), True)
    pipeline.jitted_policies[method] = jax.jit(jax.vmap(act, in_axes=(0, None)))
  act, normalizer = pipeline.jitted_policies[method], pipeline.data()["normalizer"]
  stacked = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *states)

  def policy(obs):
    actions = np.asarray(act(stacked, jnp.asarray(normalizer(obs), jnp.float32)))
    rows = np.arange(obs.shape[0])
    return actions[rows % len(states), rows]
  return policy


def data_scaling(pipeline) -> Dict[str, Any]:
  """ODA trained on the first n training tasks (n in `scaling.task_counts`, `scaling.num_seeds`
  seeds, the main run's settings otherwise), zero-shot on the test tasks; the main run's
  zero-shot is the point n = all."""
  scaling, trials = pipeline.config.scaling, pipeline.config.eval.trials
  points = []
  for count in scaling.task_counts:
    if count >= len(pipeline.train_tasks):
      continue
    tasks = pipeline.train_tasks[:count]
    started = time.perf_counter()
    trainer = pipeline.trainer("oda", tasks, os.path.join("scaling", f"oda_{count}_tasks"),
                           scaling.num_seeds)
    try:
      state = trainer.train()
    finally:
      trainer.close()
    per_seed = []
    for index in range(scaling.num_seeds):
      seed_state = jax.tree_util.tree_map(lambda x, i=index: x[i], state.agent)
      per_seed.append({"test": pipeline.evaluate(seed_state, pipeline.test_tasks, trials)})
    points.append({"train_tasks": [t.name for t in tasks], "per_seed": per_seed,
                   "seconds": time.perf_counter() - started})
  points.append({"train_tasks": [t.name for t in pipeline.train_tasks], "main_run": True,
                 "per_seed": [{"test": seed["test"]}
                              for seed in pipeline.runner.records["zero_shot"]["oda"]]})
  return {"points": points}
