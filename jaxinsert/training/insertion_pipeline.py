"""The insertion pipeline: collect -> offline -> zero-shot -> online finetuning -> eval -> summary.

`run(config, workdir)` runs the stages in order on `stages.StageRunner`: each stage leaves
`stages/<name>.json` with the fingerprint of the config fields and input stages it depends on
(`STAGE_DEPENDENCIES`) and is reused only while that matches (otherwise the run stops and names
what changed; `--redo` runs it again). The training stages also resume
from their newest checkpoint, so an interrupted run continues from where it stopped. The workdir holds
dataset/ (RLDS), offline/ and online/ (checkpoints, metrics.jsonl, TensorBoard), stages/,
summary.json, success_vs_online_trials.png and a rollout video of the final policy.

`config.pipeline.method` picks what is learned:
  offline_to_online  IQL (or any offline agent) on collected data, finetuned on held-out tasks;
  online             from scratch on the held-out tasks (pure RL, or residual RL with
                     `config.pipeline.residual_base`);
  controller         no learning: the residual base controller alone (chapter 9's P controller).
"""

from __future__ import annotations

import os
import types
from typing import Any, Callable, Dict, Optional, Tuple

import jax
import ml_collections

from jaxinsert.agents import get_agent
from jaxinsert.envs import insertion
from jaxinsert.training import insertion_report, insertion_tasks, logging, stages
from jaxinsert.training.offline import DivergenceError, OfflineTrainer
from jaxinsert.types import Spec, Transition

METHODS = ("offline_to_online", "online", "controller")
_ONLINE_FIELDS = ("online_steps", "updates_per_env_step", "offline_ratio", "replay_capacity",
                  "exploration_noise", "initialize_replay_with_offline", "env", "eval_interval",
                  "checkpoint_interval", "batch_size")
# stage -> (config fields it depends on, earlier stages whose outputs it reads)
STAGE_DEPENDENCIES = {
    "collect": (("seed", "tasks", "collect", "dataset"), ()),
    "offline": (("agent_name", "agent", "seed", "offline_steps", "batch_size", "steps_per_call",
                 "dataset"), ("collect",)),
    "zero_shot": (("agent_name", "agent", "seed", "tasks", "pipeline"), ("offline",)),
    "online": (("agent_name", "agent", "seed", "tasks", "pipeline") + _ONLINE_FIELDS,
               ("offline",)),
    "finetuned": (("tasks", "pipeline"), ("online",)),
}


class Pipeline:
  """One pipeline run in `workdir` (see the module docstring)."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, progress: bool = True,
               redo: bool = False):
    self.config = config
    self.workdir = os.path.abspath(workdir)
    self.progress = progress
    method = config.pipeline.method
    if method not in METHODS:
      raise ValueError(f"config.pipeline.method={method!r}; expected one of {METHODS}")
    if method == "controller" and not config.pipeline.residual_base:
      raise ValueError("method 'controller' evaluates config.pipeline.residual_base; set it")
    if config.eval_interval and config.checkpoint_interval % config.eval_interval:
      # Parameters are checked for NaN at every evaluation; a checkpoint must follow a check.
      raise ValueError(f"config.checkpoint_interval={config.checkpoint_interval} must be a "
                       f"multiple of config.eval_interval={config.eval_interval}")
    noise = config.tasks.goal_noise_m
    self.held_out = insertion_tasks.resolve(config.tasks.held_out, noise)
    self.train_tasks = (insertion_tasks.resolve(config.tasks.train, noise)
                        if method == "offline_to_online" else [])
    # Evaluated before and after like the others, never trained on (chapter 9: perfect goals).
    also = config.tasks.get("also_evaluate", "")
    self.also_tasks = insertion_tasks.resolve(also, noise) if also else []
    insertion_tasks.check_compatible(self.held_out, self.train_tasks, self.also_tasks)
    self.dataset_path = config.dataset.path or os.path.join(self.workdir, "dataset")
    self.agent = get_agent(config.agent_name)
    self._evaluators: Dict[Tuple, insertion_tasks.TaskEvaluator] = {}
    self._dataset: Optional[Tuple[Transition, Spec, Dict[str, Any]]] = None
    self.runner = stages.StageRunner(config, self.workdir, progress, redo=redo)

  # Stage bookkeeping ------------------------------------------------------------------------

  def record(self, stage: str) -> Optional[Dict[str, Any]]:
    return self.runner.records.get(stage)

  def _stage(self, stage: str, body: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
    depends_on, inputs = STAGE_DEPENDENCIES[stage]
    inputs = [name for name in inputs if name in self.runner.fingerprints]
    outputs = {"offline": ("offline",), "online": ("online",)}.get(stage, ())
    return self.runner.run_stage(stages.Stage(stage, body, depends_on, inputs, outputs))

  def _say(self, message: str) -> None:
    if self.progress:
      print(message, flush=True)

  def run(self) -> Dict[str, Any]:
    os.makedirs(self.workdir, exist_ok=True)
    logging.write_provenance(self.workdir, self.config.to_dict())
    method = self.config.pipeline.method
    if method == "offline_to_online":
      self._stage("collect", self.collect)
      self._stage("offline", self.train_offline)
    self._stage("zero_shot", lambda: self.evaluate("before"))
    if method != "controller" and self.config.online_steps > 0:
      self._stage("online", self.train_online)
      self._stage("finetuned", lambda: self.evaluate("after"))
    summary = insertion_report.write_summary(self)
    return summary

  # Stage 1: data ----------------------------------------------------------------------------

  def collect(self) -> Dict[str, Any]:
    if os.path.exists(self.dataset_path):
      self.load_dataset()  # a dataset someone else made: check it instead of overwriting it
      return {"dataset": self.dataset_path, "reused": True}
    from jaxinsert.data import rlds

    collect = self.config.collect
    total = collect.episodes_per_task * len(self.train_tasks)
    sources = [("collector", collect.demo_fraction, 0.0),
               ("collector", collect.noisy_fraction, collect.action_noise),
               (collect.failure_policy, collect.failure_fraction, collect.failure_action_noise)]
    episodes, counts = [], {}
    num_envs = min(collect.num_envs, max(total, 1))
    num_envs = max(len(self.train_tasks), num_envs - num_envs % len(self.train_tasks))
    env = insertion_tasks.make_env(self.train_tasks, num_envs)  # one env: compiled once
    try:
      for index, (policy_name, fraction, noise) in enumerate(sources):
        wanted = int(round(total * fraction))
        if wanted:
          chosen = insertion_tasks.collect_episodes(env, policy_name, noise, wanted,
                                                    seed=self.config.seed + 101 * index)
          counts[f"{policy_name}+noise{noise:g}"] = {
              "episodes": len(chosen),
              "successes": int(sum(bool(e["steps"]["is_terminal"][-1]) for e in chosen))}
          episodes.extend(chosen)
    finally:
      env.close()
    twist = self.held_out[0].action_mode == "twist"
    spec_name = "insertion-state" if twist else "insertion-state:move"
    provenance = {"generator": "jaxinsert.training.insertion_pipeline",
                  "tasks": insertion_tasks.task_names(self.train_tasks),
                  "goal_noise_m": self.config.tasks.goal_noise_m, "sources": counts,
                  "seed": self.config.seed}
    rlds.write_dataset(self.dataset_path, episodes, spec_name, provenance=provenance,
                       progress=False)
    return {"dataset": self.dataset_path, "episodes": len(episodes), "sources": counts}

  def load_dataset(self) -> Tuple[Transition, Spec, Dict[str, Any]]:
    """The offline transitions, refused with a clear message if they do not fit the tasks."""
    if self._dataset is None:
      from jaxinsert.data import rlds, transitions

      if not os.path.exists(self.dataset_path):
        raise FileNotFoundError(f"dataset {self.dataset_path} does not exist")
      provenance = rlds.load_provenance(self.dataset_path) or {}
      wanted = insertion_tasks.task_names(self.train_tasks)
      if not self.config.dataset.path and provenance.get("tasks") not in (None, wanted):
        raise ValueError(f"the dataset in {self.dataset_path} was collected on "
                         f"{provenance['tasks']}, the config trains on {wanted}; use a new "
                         "--workdir or delete the dataset")
      keys = [name for name, _ in insertion.OBSERVATION_FEATURES]
      dataset, spec, info = transitions.load_transitions(
          self.dataset_path, obs_keys=keys,
          reward_preprocessing=self.config.dataset.reward_preprocessing,
          action_clip=self.config.dataset.action_clip or None)
      env_spec = self.env_spec()
      if (tuple(spec.obs_shape), spec.action_dim) != (tuple(env_spec.obs_shape),
                                                       env_spec.action_dim):
        raise ValueError(f"dataset {self.dataset_path} has observations {spec.obs_shape} and "
                         f"{spec.action_dim}-D actions; the tasks need {env_spec.obs_shape} and "
                         f"{env_spec.action_dim}-D actions")
      self._dataset = (dataset, spec, info)
    return self._dataset

  def env_spec(self) -> Spec:
    config = self.held_out[0].config()
    return Spec(obs_shape=(insertion.OBSERVATION_DIM,), action_dim=config.action_dim)

  # Stage 2: offline -------------------------------------------------------------------------

  def _offline_trainer(self) -> OfflineTrainer:
    dataset, spec, _ = self.load_dataset()
    offline_config = self.config.copy_and_resolve_references()
    with offline_config.unlocked():
      offline_config.max_steps = self.config.offline_steps
      offline_config.eval_interval = 0
      offline_config.checkpoint_interval = self.config.pipeline.offline_checkpoint_interval
      offline_config.log_interval = self.config.pipeline.offline_log_interval
    return OfflineTrainer(offline_config, os.path.join(self.workdir, "offline"), dataset, spec,
                          progress=self.progress)

  def train_offline(self) -> Dict[str, Any]:
    trainer = self._offline_trainer()
    try:
      state = trainer.train()
    finally:
      trainer.close()
    logging.plot_learning_curves(os.path.join(self.workdir, "offline", "metrics.jsonl"),
                                 os.path.join(self.workdir, "offline", "learning_curves.png"),
                                 title=f"{self.config.agent_name} offline")
    return {"updates": int(state.step), "dataset_transitions": self.load_dataset()[0].size}

  def offline_agent_state(self) -> Any:
    trainer = self._offline_trainer()
    try:
      state = trainer.initial_state()
    finally:
      trainer.close()
    return jax.tree_util.tree_map(lambda x: x[0], state.agent)

  # Evaluation -------------------------------------------------------------------------------

  def evaluator(self, which: str) -> insertion_tasks.TaskEvaluator:
    """"held_out" / "train" / "also" at the final trial count; "online": held-out, fewer trials.

    Evaluators with the same tasks and trials are one object (one compiled environment)."""
    tasks = {"train": self.train_tasks, "also": self.also_tasks}.get(which, self.held_out)
    trials = (self.config.pipeline.online_eval_trials if which == "online"
              else self.config.pipeline.eval_trials)
    key = (tuple(insertion_tasks.task_names(tasks)), trials)
    if key not in self._evaluators:
      self._evaluators[key] = insertion_tasks.TaskEvaluator(
          tasks, trials, seed=self.config.seed + 20_000,
          residual_base=self.config.pipeline.residual_base)
    return self._evaluators[key]

  def policy(self, when: str) -> insertion_tasks.Policy:
    method = self.config.pipeline.method
    if method == "controller":
      return insertion_tasks.zero_policy(self.env_spec().action_dim)
    if when == "after":
      state = self._online_state()
    elif method == "offline_to_online":
      state = self.offline_agent_state()
    else:
      state = self.initial_agent_state()
    return insertion_tasks.agent_policy(self.agent, state)

  def evaluate(self, when: str) -> Dict[str, Any]:
    policy = self.policy(when)
    results = {"held_out": self.evaluator("held_out")(policy)}
    if self.train_tasks and self.config.pipeline.evaluate_training_tasks:
      results["train"] = self.evaluator("train")(policy)
    if self.also_tasks:
      results["also"] = self.evaluator("also")(policy)
    return results

  # Stage 3: online --------------------------------------------------------------------------

  def initial_agent_state(self) -> Any:
    key = jax.random.PRNGKey(self.config.seed)
    return self.agent.create(self.config.agent, key, self.env_spec())

  def _online_trainer(self, with_env: bool = True):
    """The online trainer; without an environment it can only restore (nothing to compile)."""
    from jaxinsert.training.online import OnlineTrainer

    if self.config.pipeline.method == "offline_to_online":
      dataset, spec, _ = self.load_dataset()
    else:  # nothing offline: the trainer still wants a dataset argument (offline_ratio = 0)
      spec = self.env_spec()
      dataset = Transition.zeros(spec, 1)
    env = (insertion_tasks.make_env(self.held_out, self.config.env.num_envs,
                                    self.config.pipeline.residual_base) if with_env
           else types.SimpleNamespace(num_envs=self.config.env.num_envs, close=lambda: None))
    trainer = OnlineTrainer(self.config, os.path.join(self.workdir, "online"), dataset, spec,
                            env, evaluator=None, progress=self.progress)
    trainer.evaluator = self._online_evaluator(trainer)
    return trainer

  def _online_evaluator(self, trainer) -> Callable:
    def evaluate(seeded_state, step):
      agent_state = jax.tree_util.tree_map(lambda x: x[0], seeded_state)
      if not insertion_tasks.params_finite(agent_state):
        latest = trainer.checkpointer.latest_step()
        raise DivergenceError(
            f"non-finite parameters after {step} online environment steps; stopped. The last "
            f"good checkpoint is step {latest} in {trainer.checkpointer.directory}"
            if latest is not None else
            f"non-finite parameters after {step} online environment steps; stopped before any "
            "online checkpoint (the offline checkpoint is intact)")
      result = self.evaluator("online")(insertion_tasks.agent_policy(self.agent, agent_state))
      return insertion_tasks.flat_metrics(result)
    return evaluate

  def _starting_state(self) -> Any:
    if self.config.pipeline.method != "offline_to_online":
      return self.initial_agent_state()
    state = self.offline_agent_state()
    beta = self.config.pipeline.get("finetune_beta", 0.0)
    if beta and "beta" in self.config.agent:
      # Sparse rewards give small advantages: exp(3 * 0.05) ~ 1 weights every replayed action
      # alike, so finetuning can sharpen the advantage weights (a static field of the state).
      from jaxinsert.agents import common

      agent_config = self.config.agent.copy_and_resolve_references()
      agent_config.beta = beta
      state = state.replace(config=common.frozen(agent_config))
    return state

  def train_online(self) -> Dict[str, Any]:
    trainer = self._online_trainer()
    try:
      state = trainer.initial_state(self._starting_state(), self.config.seed)
      state = trainer.train(state)
      if not insertion_tasks.params_finite(state.agent):
        trainer.evaluator(jax.tree_util.tree_map(lambda x: x[None], state.agent),
                          int(state.env_steps))
    finally:
      trainer.close()
      trainer.vec_env.close()
    return {"env_steps": int(state.env_steps), "episodes": int(state.episodes),
            "successes": int(state.successes)}

  def _online_state(self) -> Any:
    trainer = self._online_trainer(with_env=False)
    try:
      state = trainer.initial_state(self._starting_state(), self.config.seed)
    finally:
      trainer.close()
      trainer.vec_env.close()
    return state.agent

  def close(self) -> None:
    for evaluator in self._evaluators.values():
      evaluator.close()


def run(config: ml_collections.ConfigDict, workdir: str, progress: bool = True,
        redo: bool = False) -> Dict[str, Any]:
  pipeline = Pipeline(config, workdir, progress, redo)
  try:
    return pipeline.run()
  finally:
    pipeline.close()
