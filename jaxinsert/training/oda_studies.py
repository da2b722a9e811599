"""The ODA pipeline's studies after zero-shot adaptation (digest A11): online finetuning by
Algorithm 2 of every test and out-of-distribution task ODA leaves below the threshold, against
the no-context baseline and DDPGfD from scratch, and the data-scaling study (ODA trained on the
first n training tasks). Each function takes the `oda_pipeline.ODAPipeline` and is one stage.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxinsert.agents import oda
from jaxinsert.training import insertion_tasks, logging
from jaxinsert.training.config import online_run_config


def finetune(pipeline) -> Dict[str, Any]:
  """Algorithm 2 on every test and out-of-distribution task ODA leaves below
  `finetune.threshold` zero-shot (seed 0); on the same tasks the no-context baseline,
  finetuned with the task's demonstrations in its initial buffer (digest A10), and (with
  `finetune.ddpgfd`) DDPGfD from scratch with the demonstrations in every batch."""
  zero_shot = pipeline.runner.records["zero_shot"]
  results: Dict[str, Any] = {}
  for split, tasks in (("test", pipeline.test_tasks), ("ood", pipeline.ood_tasks)):
    for task in tasks:
      rates = {method: zero_shot[method][0][split]["per_task"][task.name]["success_rate"]
               for method in ("oda", "awac")}
      if rates["oda"] >= pipeline.config.finetune.threshold:
        results[task.name] = {"split": split, "skipped": True, "zero_shot": rates["oda"]}
        continue
      entry = finetune_task(pipeline, task, "oda") | {"zero_shot": rates["oda"], "split": split}
      entry["awac"] = finetune_task(pipeline, task, "awac") | {"zero_shot": rates["awac"]}
      if pipeline.config.finetune.get("ddpgfd", False):
        entry["ddpgfd"] = finetune_task(pipeline, task, "ddpgfd") | {"zero_shot": None}
      results[task.name] = entry
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


def finetune_task(pipeline, task, method: str) -> Dict[str, Any]:
  from jaxinsert.training.online import OnlineTrainer

  finetune = pipeline.config.finetune
  data = pipeline.data()
  demos = pipeline.task_demos(task)
  if method == "ddpgfd":
    from jaxinsert.agents import ddpgfd

    config = ddpgfd_config(pipeline)
    state = ddpgfd.create(config.agent, jax.random.PRNGKey(pipeline.config.seed), data["spec"])
  else:
    config = online_run_config("oda")
    config.agent = pipeline.config.oda.copy_and_resolve_references()
    config.agent.use_context = method == "oda"
    for name in ("actor_lr", "critic_lr", "encoder_lr"):
      config.agent[name] = finetune.learning_rate
    config.agent.warmup_steps = finetune.warmup_steps
    config.offline_ratio = 0.0                     # Algorithm 2: the online buffer B only
    # The baseline's buffer starts holding the task's demonstrations (digest A10).
    config.initialize_replay_with_offline = method == "awac"
    config.exploration_noise = finetune.exploration_noise
    state = oda.with_optimizers(oda.adapt(pipeline.agent_states(method)[0], demos), config.agent)
  config.seed = pipeline.config.seed
  config.online_steps = finetune.online_steps
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

  workdir = os.path.join(pipeline.workdir, "finetune", method, task.name)
  started = time.perf_counter()
  trainer = OnlineTrainer(config, workdir, demos, data["spec"], env, evaluate, progress=pipeline.progress)
  try:
    online = trainer.train(trainer.initial_state(state, pipeline.config.seed))
  finally:
    trainer.close()
    env.close()
  final = pipeline.evaluator([task], pipeline.config.eval.trials)(
      method_policy(pipeline, method, online.agent, [task]))["pooled"]
  reached = [step for step, rate in curve if rate >= pipeline.config.finetune.threshold]
  return {"curve": curve, "final": final, "env_steps": int(online.env_steps),
          "steps_to_threshold": reached[0] if reached else None,
          "seconds": time.perf_counter() - started}


def method_policy(pipeline, method: str, state, tasks) -> insertion_tasks.Policy:
  """The deterministic policy of a finetuned `method` ("oda", "awac", "ddpgfd") on `tasks`."""
  if method != "ddpgfd":
    return pipeline.oda_policy(state, tasks)
  from jaxinsert.agents import ddpgfd

  if "ddpgfd" not in pipeline.jitted_policies:
    pipeline.jitted_policies["ddpgfd"] = jax.jit(lambda s, obs: ddpgfd.act(s, obs, jax.random.PRNGKey(0), True))
  act, normalizer = pipeline.jitted_policies["ddpgfd"], pipeline.data()["normalizer"]
  return lambda obs: np.asarray(act(state, jnp.asarray(normalizer(obs), jnp.float32)))


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
