"""The ODA pipeline (seed 000): collect -> meta-train offline -> zero-shot adaptation from
demonstrations on the test and out-of-distribution tasks -> data scaling -> online finetuning
(Algorithm 2; against DDPGfD from scratch) -> report, with multi-task AWAC without context
trained and evaluated on the same data and harness, and BC on each task's demonstrations and
offline DDPG zero-shot (`other_baselines`). The stages after zero-shot are in
`oda_studies`.

Stages run on `stages.StageRunner` (reused while their fingerprint matches). The workdir holds
data/offline and data/demos (RLDS with task ids), oda/ and awac/ (checkpoints, metrics, the
observation normaliser), scaling/oda_<n>_tasks/, finetune/<method>/<task>/ per finetuned task,
stages/, summary.json and plots.

Data, standing in for the paper's DDPGfD replay buffers, noisy reruns and space-mouse demos
(digest A8): per training task, scripted episodes that know the true socket pose (the
collector, with two levels of action noise) and episodes that do not (spiral search, a P
controller to the nominal socket); plus `demos_per_task` successful low-noise collector
demonstrations of every task (training, test and out-of-distribution). ODA reads a task only
through its demonstrations (the context), which are also part of its training task's offline
data (digest A8); the AWAC baseline is the same agent, data and settings "minus the encoder"
(z = 0, `oda.use_context=False`), with the demonstrations in its offline data (digest A10).
With `oracle=True` a third agent, "oracle", is the baseline whose observation is concatenated
with the task's true hidden parameters (`oracle_features`): the upper bound that tells whether
the family makes task information necessary at all (no-context far below the oracle) before
ODA is asked to recover it from demonstrations.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxinsert.agents import oda
from jaxinsert.data import samplers
from jaxinsert.envs import insertion, suites
from jaxinsert.training import insertion_tasks, logging, stages
from jaxinsert.training.config import offline_run_config
from jaxinsert.training.offline import OfflineTrainer
from jaxinsert.types import Spec, Transition

OBS_KEYS = [name for name, _ in insertion.OBSERVATION_FEATURES]


def _concat(parts: Sequence[Transition]) -> Transition:
  return jax.tree_util.tree_map(lambda *x: jnp.concatenate(x), *parts)


SECTIONS = ("rect", "keyed", "trapezoid", "multipin", "round")


def oracle_features(task) -> np.ndarray:
  """What differs between tasks and the robot cannot observe, each of order 1: the socket pose
  error (x, y in units of 1.5 mm, yaw in units of 2 degrees; the "slots" kind puts x and y at
  +-1.41), friction, clearance (0.1 mm),
  pin count and the cross-section (one-hot)."""
  spec = task.connector
  pose = [task.socket_offset_m[0] / 1.5e-3, task.socket_offset_m[1] / 1.5e-3,
          task.socket_yaw_rad / np.deg2rad(2.0)]
  shape = [float(spec.cross_section == name) for name in SECTIONS]
  pins = spec.pin_count if spec.cross_section == "multipin" else 0
  return np.asarray(pose + [spec.friction, spec.clearance_m / 1e-4, pins / 4.0] + shape,
                    np.float32)


def _with_features(batch: Transition, table: np.ndarray) -> Transition:
  """obs and next_obs concatenated with the features of each row's task (table[task_id])."""
  features = jnp.asarray(table[np.asarray(batch.task_id)])
  return batch.replace(obs=jnp.concatenate([batch.obs, features], -1),
                       next_obs=jnp.concatenate([batch.next_obs, features], -1))


def _select(batch: Transition, rows: np.ndarray) -> Transition:
  index = jnp.asarray(np.flatnonzero(rows))
  return jax.tree_util.tree_map(lambda x: x[index], batch)


# The stage that trains each offline agent.
TRAIN_STAGES = {"oda": "meta_train", "awac": "baseline_train", "oracle": "oracle_train"}


class ODAPipeline:
  """One ODA study in `workdir` (see the module docstring)."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, progress: bool = True,
               redo: bool = False):
    self.config = config
    self.workdir = os.path.abspath(workdir)
    self.progress = progress
    resolve = lambda names: suites.with_oda_pose_error(
        insertion_tasks.resolve(names), config.tasks.get("pose_error", "uniform"))
    self.train_tasks = resolve(config.tasks.train)
    self.test_tasks = resolve(config.tasks.test)
    self.ood_tasks = resolve(config.tasks.ood) if config.tasks.ood else []
    insertion_tasks.check_compatible(self.train_tasks, self.test_tasks, self.ood_tasks)
    self.runner = stages.StageRunner(config, self.workdir, progress, redo=redo)
    self._data: Optional[Dict[str, Any]] = None
    self._evaluators: Dict[Any, insertion_tasks.TaskEvaluator] = {}
    all_tasks = self.train_tasks + self.test_tasks + self.ood_tasks
    self.feature_table = np.zeros((max(t.task_id for t in all_tasks) + 1,
                                   len(oracle_features(all_tasks[0]))), np.float32)
    for task in all_tasks:
      self.feature_table[task.task_id] = oracle_features(task)
    if config.get("oracle_features", "all") == "pose":   # the socket pose error only
      self.feature_table = self.feature_table[:, :3]
    self._states: Dict[str, List[Any]] = {}
    self.jitted_policies: Dict[str, Any] = {}   # of agents other than ODA (oda_studies)
    # One jitted deterministic policy for every evaluation (it retraces only for a new state
    # structure, e.g. a finetuned state's optimiser settings), not one per call.
    self._act = jax.jit(lambda state, obs, z: oda.act_with_latent(
        state, obs, z, jax.random.PRNGKey(0), True))

  # ------------------------------------------------------------------------------ stages
  def stages(self) -> List[stages.Stage]:
    from jaxinsert.training import oda_studies

    declared = [
        stages.Stage("collect", self.collect, ("seed", "tasks", "collect"), outputs=("data",)),
        stages.Stage("meta_train", lambda: self.train("oda"),
                     ("seed", "num_seeds", "oda", "offline_steps", "batch_per_task"), ("collect",),
                     outputs=("oda",)),
    ]
    if self.baseline:
      declared.append(stages.Stage("baseline_train", lambda: self.train("awac"),
                                   ("seed", "num_seeds", "oda", "offline_steps", "batch_per_task"),
                                   ("collect",), outputs=("awac",)))
    if self.oracle:
      declared.append(stages.Stage("oracle_train", lambda: self.train("oracle"),
                                   ("seed", "num_seeds", "oda", "offline_steps", "batch_per_task"),
                                   ("collect",), outputs=("oracle",),
                                   defaults={"oracle_features": "all"}))
    declared += [
        stages.Stage("zero_shot", self.zero_shot, ("seed", "eval"),
                     tuple(TRAIN_STAGES[method] for method in self.methods())),
        stages.Stage("latent_probe", self.latent_probe, ("seed", "eval"), ("meta_train",)),
    ]
    if oda_studies.other_baselines_settings(self.config):   # refused here when unknown
      declared.append(stages.Stage("other_baselines", lambda: oda_studies.other_baselines(self),
                                   ("seed", "num_seeds", "oda", "offline_steps", "batch_per_task",
                                    "steps_per_call", "eval", "other_baselines", "ddpgfd"),
                                   ("collect", "zero_shot")))
    # Data scaling before finetuning: its cost is bounded by a few short trainings, while
    # finetuning's grows with the number of tasks left below the threshold.
    if self.config.get("scaling") is not None and self.config.scaling.task_counts:
      declared.append(stages.Stage("data_scaling", lambda: oda_studies.data_scaling(self),
                                   ("seed", "oda", "offline_steps", "batch_per_task", "eval",
                                    "scaling"), ("collect", "zero_shot"), outputs=("scaling",)))
    if self.config.finetune.online_steps > 0:
      oda_studies.finetune_settings(self.config)   # refuse bad settings before any stage runs
      declared.append(stages.Stage("finetune", lambda: oda_studies.finetune(self),
                                   ("seed", "finetune", "eval", "ddpgfd"), ("zero_shot",),
                                   outputs=("finetune",)))
    return declared

  @property
  def oracle(self) -> bool:
    return bool(self.config.get("oracle", False))

  @property
  def baseline(self) -> bool:
    """Whether multi-task AWAC without context is trained and compared (`config.baseline`)."""
    return bool(self.config.get("baseline", True))

  def methods(self) -> Tuple[str, ...]:
    """The offline agents trained and evaluated zero-shot."""
    return ("oda",) + (("awac",) if self.baseline else ()) + (("oracle",) if self.oracle else ())

  def run(self) -> Dict[str, Any]:
    os.makedirs(self.workdir, exist_ok=True)
    logging.write_provenance(self.workdir, self.config.to_dict())
    records = self.runner.run(self.stages())
    from jaxinsert.training import oda_report
    return oda_report.write_summary(self, records)

  def _say(self, message: str) -> None:
    if self.progress:
      print(message, flush=True)

  # -------------------------------------------------------------------------------- data
  def data_path(self, name: str) -> str:
    return os.path.join(self.workdir, "data", name)

  def collect(self) -> Dict[str, Any]:
    from jaxinsert.data import rlds

    collect, seed = self.config.collect, self.config.seed
    counts: Dict[str, Any] = {}
    env = insertion_tasks.make_env(self.train_tasks, collect.envs_per_task * len(self.train_tasks))
    episodes = []
    try:
      total = collect.episodes_per_task * len(self.train_tasks)
      for index, (policy, fraction, noise) in enumerate(
          (("collector", collect.expert_fraction, collect.expert_noise),
           ("collector", collect.noisy_fraction, collect.noisy_noise),
           ("spiral_search", collect.search_fraction, collect.search_noise),
           ("p_controller", collect.nominal_fraction, collect.nominal_noise))):
        wanted = int(round(total * fraction))
        if wanted:
          chosen = insertion_tasks.collect_episodes(env, policy, noise, wanted, seed + 101 * index)
          counts[f"{policy}+noise{noise:g}"] = {
              "episodes": len(chosen),
              "successes": int(sum(bool(e["steps"]["is_terminal"][-1]) for e in chosen))}
          episodes.extend(chosen)
      demos = self._demos(env, self.train_tasks, seed + 1000)
    finally:
      env.close()
    for tasks, offset in ((self.test_tasks, 2000), (self.ood_tasks, 3000)):
      if tasks:
        env = insertion_tasks.make_env(tasks, collect.envs_per_task * len(tasks))
        try:
          demos += self._demos(env, tasks, seed + offset)
        finally:
          env.close()
    provenance = {"generator": "jaxinsert.training.oda_pipeline", "seed": seed,
                  "tasks": {t.name: t.task_id for t in self.train_tasks}, "sources": counts}
    rlds.write_dataset(self.data_path("offline"), episodes, "insertion-state",
                       provenance=provenance, overwrite=True, progress=False)
    all_tasks = self.train_tasks + self.test_tasks + self.ood_tasks
    rlds.write_dataset(self.data_path("demos"), demos, "insertion-state",
                       provenance=provenance | {"tasks": {t.name: t.task_id for t in all_tasks}},
                       overwrite=True, progress=False)
    return {"offline_episodes": len(episodes), "demo_episodes": len(demos), "sources": counts}

  def _demos(self, env, tasks, seed: int) -> List[Dict]:
    """`demos_per_task` successful low-noise collector episodes of every task."""
    wanted = self.config.collect.demos_per_task
    episodes = insertion_tasks.collect_episodes(
        env, "collector", self.config.collect.demo_noise, 3 * wanted * len(tasks), seed,
        random_probability=0.0)
    chosen = []
    for task in tasks:
      good = [e for e in episodes if e["task_id"] == task.task_id and e["steps"]["is_terminal"][-1]]
      if len(good) < wanted:
        raise RuntimeError(f"only {len(good)} of {3 * wanted} demonstrations on {task.name} "
                           f"succeeded; {wanted} are needed")
      chosen.extend(good[:wanted])
    return chosen

  def data(self) -> Dict[str, Any]:
    """Offline and demonstration transitions, normalised with the offline data's statistics."""
    if self._data is None:
      from jaxinsert.data import transitions

      offline_data, spec, offline_info = transitions.load_transitions(
          self.data_path("offline"), obs_keys=OBS_KEYS, action_clip=None)
      demos, _, demo_info = transitions.load_transitions(
          self.data_path("demos"), obs_keys=OBS_KEYS, action_clip=None)
      normalizer = insertion_tasks.Normalizer.fit(np.asarray(offline_data.obs))
      self._data = dict(
          spec=spec, normalizer=normalizer,
          offline=normalizer.transitions(offline_data),
          offline_episodes=np.asarray(offline_info["episode_index"]),
          demos=normalizer.transitions(demos),
          demo_episodes=np.asarray(demo_info["episode_index"]))
    return self._data

  def task_demos(self, task) -> Transition:
    data = self.data()
    return _select(data["demos"], np.asarray(data["demos"].task_id) == task.task_id)

  # ---------------------------------------------------------------------------- training
  def trainer_config(self, method: str, num_seeds: Optional[int] = None
                     ) -> ml_collections.ConfigDict:
    """"oda"; "awac": the same agent, data and settings minus the encoder (digest A10);
    "oracle": "awac" with the true task parameters in its observation."""
    config = offline_run_config("oda")
    config.agent = self.config.oda.copy_and_resolve_references()
    config.agent.use_context = method == "oda"
    config.seed = self.config.seed
    config.num_seeds = self.config.num_seeds if num_seeds is None else num_seeds
    config.max_steps = self.config.offline_steps
    config.batch_size = self.config.batch_per_task
    config.steps_per_call = self.config.steps_per_call
    config.log_interval = self.config.steps_per_call
    config.eval_interval = 0
    config.checkpoint_interval = self.config.checkpoint_interval
    config.dataset.kind = "rlds"
    config.dataset.path = self.data_path("offline")
    return config

  def trainer(self, method: str, tasks: Optional[Sequence[Any]] = None,
              name: Optional[str] = None, num_seeds: Optional[int] = None) -> OfflineTrainer:
    """The offline trainer of `method` on `tasks` (default: every training task), its
    checkpoints and metrics in workdir/`name` (default: the method's name)."""
    data = self.data()
    config = self.trainer_config(method, num_seeds)
    workdir = os.path.join(self.workdir, name or method)
    task_ids = [t.task_id for t in (self.train_tasks if tasks is None else tasks)]
    is_train = np.isin(np.asarray(data["demos"].task_id), task_ids)
    train_demos = _select(data["demos"], is_train)
    demo_episodes = data["demo_episodes"][is_train]
    in_tasks = np.isin(np.asarray(data["offline"].task_id), task_ids)
    offline_rows = _select(data["offline"], in_tasks) if not in_tasks.all() else data["offline"]
    offline_episodes = data["offline_episodes"][in_tasks]
    # D_offline holds the task's demonstrations too (digest A8: ~500 RL + 20 demo episodes per
    # task), for both methods: they differ only in the encoder.
    offline = _concat([offline_rows, train_demos])
    spec = data["spec"]
    if method == "oracle":
      offline = _with_features(offline, self.feature_table)
      train_demos = _with_features(train_demos, self.feature_table)
      spec = Spec((spec.obs_dim + self.feature_table.shape[1],), spec.action_dim)
    episodes = np.concatenate([offline_episodes,
                               demo_episodes + data["offline_episodes"].max() + 1])
    offline_index = samplers.index_dataset(offline, episodes)
    demo_index = samplers.index_dataset(train_demos, demo_episodes)
    samplers.check_same_tasks(offline_index, demo_index)
    context_size = config.agent.context_size
    sampler = lambda dataset, key, batch: samplers.demo_meta_batch(
        dataset[0], dataset[1], key, batch, context_size)
    trainer = OfflineTrainer(config, workdir, (offline_index, demo_index), spec,
                             progress=self.progress, sampler=sampler)
    logging.write_json_atomically(os.path.join(workdir, "normalisation.json"),
                                  data["normalizer"].to_dict())
    return trainer

  def train(self, method: str) -> Dict[str, Any]:
    trainer = self.trainer(method)
    try:
      state = trainer.train()
    finally:
      trainer.close()
    logging.plot_learning_curves(os.path.join(self.workdir, method, "metrics.jsonl"),
                                 os.path.join(self.workdir, method, "learning_curves.png"),
                                 title=f"{method} offline")
    return {"updates": int(state.step)}

  def agent_states(self, method: str) -> List[Any]:
    """The trained state of every seed (restored once from the stage's checkpoint)."""
    if method not in self._states:
      trainer = self.trainer(method)
      try:
        state = trainer.initial_state()
      finally:
        trainer.close()
      self._states[method] = [jax.tree_util.tree_map(lambda x, i=i: x[i], state.agent)
                              for i in range(self.config.num_seeds)]
    return self._states[method]

  # -------------------------------------------------------------------------- evaluation
  def evaluator(self, tasks, trials: int) -> insertion_tasks.TaskEvaluator:
    key = (tuple(t.name for t in tasks), trials)
    if key not in self._evaluators:
      self._evaluators[key] = insertion_tasks.TaskEvaluator(tasks, trials,
                                                            seed=self.config.seed + 20_000)
    return self._evaluators[key]

  def task_latents(self, state, tasks) -> jax.Array:
    """[tasks, latent]: each task's posterior mean from its demonstrations."""
    return jnp.stack([oda.task_latent(oda.adapt(state, self.task_demos(t))) for t in tasks])

  def oda_policy(self, state, tasks, latents: Optional[jax.Array] = None,
                 oracle: bool = False) -> insertion_tasks.Policy:
    """Environment i runs tasks[i % len(tasks)] and acts on latents[i % len(tasks)] (default:
    that task's demo latent); `oracle`: its observation also carries that task's features."""
    if latents is None:
      latents = (jnp.zeros((len(tasks), state.config.latent_dim)) if oracle
                 else self.task_latents(state, tasks))
    normalizer = self.data()["normalizer"]
    features = self.feature_table[[t.task_id for t in tasks]]

    def policy(obs):
      rows = np.arange(obs.shape[0]) % len(tasks)
      obs = normalizer(obs)
      if oracle:
        obs = np.concatenate([obs, features[rows]], -1)
      return np.asarray(self._act(state, jnp.asarray(obs, jnp.float32), latents[rows]))
    return policy

  def evaluate(self, state, tasks, trials: int, oracle: bool = False) -> Dict[str, Any]:
    return self.evaluator(tasks, trials)(self.oda_policy(state, tasks, oracle=oracle))

  def zero_shot(self) -> Dict[str, Any]:
    trials = self.config.eval.trials
    results: Dict[str, Any] = {}
    for method in self.methods():
      per_seed = []
      for state in self.agent_states(method):
        per_seed.append({split: self.evaluate(state, tasks, trials, oracle=method == "oracle")
                         for split, tasks in (("test", self.test_tasks),
                                              ("train", self.train_tasks),
                                              ("ood", self.ood_tasks)) if tasks})
      results[method] = per_seed
    return results

  def latent_probe(self) -> Dict[str, Any]:
    """How well z names the task: nearest-class-mean accuracy (a linear classifier) on held-out
    posterior means from random demo contexts of `context_size`, and a 2-D PCA plot."""
    state = self.agent_states("oda")[0]
    size, draws = state.config.context_size, self.config.eval.probe_contexts
    tasks = self.train_tasks + self.test_tasks
    key = jax.random.PRNGKey(self.config.seed + 30_000)
    latents, labels = [], []
    posterior = jax.jit(lambda s, c: oda.posterior(s, s.encoder.params, c, jnp.ones(size))[0])
    for index, task in enumerate(tasks):
      demos = self.task_demos(task)
      for draw in range(draws):
        rows = jax.random.randint(jax.random.fold_in(key, index * draws + draw), (size,), 0,
                                  demos.size)
        latents.append(np.asarray(posterior(state, jax.tree_util.tree_map(lambda x: x[rows], demos))))
        labels.append(index)
    latents, labels = np.stack(latents), np.asarray(labels)
    fit = np.arange(len(labels)) % 2 == 0
    means = np.stack([latents[fit & (labels == i)].mean(0) for i in range(len(tasks))])
    predicted = np.argmin(((latents[~fit, None] - means[None]) ** 2).sum(-1), axis=1)
    accuracy = float(np.mean(predicted == labels[~fit]))
    path = os.path.join(self.workdir, "latent_pca.png")
    _plot_pca(latents, labels, [t.name for t in tasks], len(self.train_tasks), path)
    return {"probe_accuracy": accuracy, "chance": 1.0 / len(tasks), "plot": path,
            "contexts_per_task": draws}

  def close(self) -> None:
    for evaluator in self._evaluators.values():
      evaluator.close()

  def __enter__(self) -> "ODAPipeline":
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()


def _plot_pca(latents, labels, names, num_train, path) -> None:
  plt = logging.pyplot()

  centred = latents - latents.mean(0)
  _, _, vt = np.linalg.svd(centred, full_matrices=False)
  points = centred @ vt[:2].T
  figure, axis = plt.subplots(figsize=(7, 5.5))
  for index, name in enumerate(names):
    chosen = labels == index
    axis.scatter(points[chosen, 0], points[chosen, 1], s=10,
                 marker="o" if index < num_train else "^", label=name)
  axis.set_xlabel("PC 1 of z")
  axis.set_ylabel("PC 2 of z")
  axis.set_title("posterior means of z from 64-transition demo contexts (o train, ^ test)")
  axis.legend(fontsize=6, ncol=2)
  logging.save_figure(figure, path, dpi=120)


def run(config: ml_collections.ConfigDict, workdir: str, progress: bool = True,
        redo: bool = False) -> Dict[str, Any]:
  with ODAPipeline(config, workdir, progress, redo) as pipeline:
    return pipeline.run()
