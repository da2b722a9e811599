"""Planning to Practice on the multi-stage insertion task: collect play -> latent models ->
goal-conditioned IQL offline -> evaluate -> finetune online with planned subgoals (and the
model-free final-goal baseline) -> report.

  python experiments/ptp.py --config=experiments/configs/ptp_default.py --workdir=runs/ptp

Stages run on `stages.StageRunner`. With `config.models_per_seed` (the default) every seed
trains its own latent models (state VAE, three CVAE generators) on the run's play data, so the
spread over seeds covers the models; with it off they are trained once and shared. The models
and the goal-conditioned agents of the `config.num_seeds` seeds are trained in vmapped
programs; the models are stored stacked on a leading seed axis. The workdir holds data/play.npz, models/*.msgpack,
agents/*.msgpack, summary.json (success table) and finetune_curve.png.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, List, Optional, Tuple

import flax.serialization
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxinsert.agents import gciql
from jaxinsert.data import samplers
from jaxinsert.envs.multistage import make_task, play_episodes
from jaxinsert.planning import cvae, gcp, image_vae, mppi, vae
from jaxinsert.planning.modes import BUFFERED_MODES
from jaxinsert.training import logging, stages
from jaxinsert.training.ptp_loops import MODES, PlannerSettings, PTPLoops
from jaxinsert.types import Spec, Transition

DEFAULT_FINETUNE_METHODS = ("ptp", "final_goal")


def _save(path: str, tree: Any) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + ".tmp", "wb") as handle:
    handle.write(flax.serialization.to_bytes(jax.device_get(tree)))
  os.replace(path + ".tmp", path)


def _load(path: str, template: Any) -> Any:
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} is missing; run the stage that writes it again (--redo)")
  with open(path, "rb") as handle:
    return flax.serialization.from_bytes(template, handle.read())


class PTPPipeline:
  def __init__(self, config: ml_collections.ConfigDict, workdir: str, progress: bool = True,
               redo: bool = False):
    self.config = config
    self.workdir = os.path.abspath(workdir)
    self.progress = progress
    self.env = make_task(config.env.get("task", "tray_socket"),
                         max_episode_steps=config.env.max_episode_steps)
    self.runner = stages.StageRunner(config, self.workdir, progress, redo=redo)
    self.agent_config = gciql.get_config()
    self.agent_config.update(config.agent.to_dict())
    self._loops: Optional[PTPLoops] = None
    self._models = None
    self._gcp = None
    self._offline: Optional[samplers.IndexedDataset] = None
    self._evaluators: Dict[Tuple[str, bool], Any] = {}

  @property
  def finetune_methods(self):
    return tuple(self.config.finetune.get("methods", DEFAULT_FINETUNE_METHODS))

  @property
  def latent_space(self) -> str:
    return self.config.get("latent_space", "state")

  @property
  def uses_gcp(self) -> bool:
    return "gcp" in tuple(self.config.eval.offline_modes) + self.finetune_methods

  def stages(self) -> List[stages.Stage]:
    # The image VAE's settings and the GCP model enter the fingerprints only where they are
    # used, so that state-VAE runs without GCP keep the fingerprints they had before either.
    model_fields = ("seed", "vae", "cvae", "models_per_seed", "num_seeds")
    if self.latent_space != "state":
      model_fields += ("latent_space", "image_vae")
    declared = [
        stages.Stage("collect", self.collect, ("seed", "env", "collect"), outputs=("data",)),
        stages.Stage("models", self.train_models, model_fields, ("collect",),
                     outputs=("models",), defaults={"isotropic_state_latent": False}),
        stages.Stage("offline", self.train_offline,
                     ("seed", "num_seeds", "agent", "batch_size", "offline_steps"), ("models",),
                     outputs=("agents/offline.msgpack",)),
    ]
    evaluation_inputs = ("offline",)
    if self.uses_gcp:
      declared.append(stages.Stage("gcp_model", self.train_gcp_models,
                                   ("seed", "gcp", "models_per_seed", "num_seeds"), ("models",),
                                   outputs=("models_gcp",)))
      evaluation_inputs += ("gcp_model",)
    declared += [
        stages.Stage("offline_eval", self.evaluate_offline, ("seed", "planner", "eval"),
                     evaluation_inputs),
        stages.Stage("finetune", self.finetune, ("seed", "planner", "eval", "finetune"),
                     evaluation_inputs, outputs=("agents/finetuned", "episodes")),
    ]
    return declared

  def run(self) -> Dict[str, Any]:
    os.makedirs(self.workdir, exist_ok=True)
    logging.write_provenance(self.workdir, self.config.to_dict())
    records = self.runner.run(self.stages())
    return self.report(records)

  def _say(self, message: str) -> None:
    if self.progress:
      print(message, flush=True)

  # ---------------------------------------------------------------------------- stages
  def collect(self) -> Dict[str, Any]:
    play = play_episodes(self.env, jax.random.PRNGKey(self.config.seed),
                         self.config.collect.num_episodes, self.config.collect.action_noise)
    positions = np.asarray(play["positions"])
    path = os.path.join(self.workdir, "data", "play.npz")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez(path, positions=positions, actions=np.asarray(play["actions"]))
    stage = np.asarray(jax.vmap(jax.vmap(self.env.stage))(play["positions"]))
    from_tray = stage[:, 0] == 0
    record = {"episodes": int(positions.shape[0]), "steps": int(play["actions"].shape[1]),
              "fraction_steps_inserted": float(np.mean(stage == 3)),
              "episodes_from_tray_inserted": int(np.sum(from_tray & np.any(stage == 3, 1)))}
    if self.env.lid is not None:   # the lid's offset is the states' 4th column
      lid_open = positions[:, :, 3] >= self.env.open_offset_m
      record["episodes_moving_the_lid"] = int(np.sum(np.any(np.diff(positions[:, :, 3]) != 0, 1)))
      record["episodes_opening_the_lid"] = int(np.sum(np.any(~lid_open[:, :-1] & lid_open[:, 1:],
                                                             1)))
      closed_before = np.maximum.accumulate(~lid_open, axis=1)
      record["episodes_closed_then_inserted"] = int(np.sum(np.any(closed_before & (stage == 3), 1)))
    return record

  def _play(self):
    data = np.load(os.path.join(self.workdir, "data", "play.npz"))
    return jnp.asarray(data["positions"]), jnp.asarray(data["actions"])

  def _vae_config(self):
    """The latent space's config: the state VAE's, or the image VAE's (config.latent_space)."""
    if self.latent_space == "image":
      return image_vae.ImageVAEConfig(**{k: tuple(v) if isinstance(v, (list, tuple)) else v
                                         for k, v in self.config.image_vae.to_dict().items()})
    if self.latent_space != "state":
      raise ValueError(f"config.latent_space must be 'state' or 'image', got "
                       f"{self.latent_space!r}")
    return vae.VAEConfig(**self.config.vae.to_dict(),
                         isotropic=bool(self.config.get("isotropic_state_latent", False)))

  def _train_latent(self, key, states, config):
    train = image_vae.train_image_vae if self.latent_space == "image" else vae.train_vae
    return train(key, states, config)

  @property
  def latent_dim(self) -> int:
    return self._vae_config().latent_dim

  def _cvae_configs(self) -> List[cvae.CVAEConfig]:
    c = self.config.cvae
    return [cvae.CVAEConfig(dt=dt, dt_tolerance=tol, rollout_steps=steps, z_dim=c.z_dim,
                            hidden_dims=tuple(c.hidden_dims), num_steps=c.num_steps,
                            batch_size=c.batch_size)
            for dt, tol, steps in zip(c.dts, c.dt_tolerances, c.rollout_steps)]

  @property
  def num_model_sets(self) -> int:
    """Independent sets of latent models: one per seed, or one shared by all seeds."""
    return self.config.num_seeds if self.config.get("models_per_seed", True) else 1

  def _model_keys(self) -> jax.Array:
    """(model sets, 4) keys: set 0 keeps the shared models' keys (PRNGKey(seed + 1))."""
    base = jax.random.PRNGKey(self.config.seed + 1)
    keys = [base] + [jax.random.fold_in(base, i) for i in range(1, self.num_model_sets)]
    return jnp.stack([jax.random.split(k, 4) for k in keys])

  def train_models(self) -> Dict[str, Any]:
    positions, _ = self._play()
    keys = self._model_keys()
    vae_config = self._vae_config()
    states = positions.reshape(-1, positions.shape[-1])   # (N, env.state_dim)
    state_vae, vae_metrics = jax.vmap(lambda k: self._train_latent(k, states, vae_config))(
        keys[:, 0])
    _save(os.path.join(self.workdir, "models", "vae.msgpack"), state_vae)
    latents = jax.vmap(lambda v: v.encode(positions))(state_vae)
    record = {"model_sets": self.num_model_sets,
              "vae": {k: np.asarray(v).tolist() for k, v in vae_metrics.items()}, "cvae": []}
    for level, config in enumerate(self._cvae_configs()):
      generator, metrics = jax.vmap(lambda k, l, c=config: cvae.train_cvae(k, l, c))(
          keys[:, level + 1], latents)
      _save(os.path.join(self.workdir, "models", f"cvae_{level}.msgpack"), generator)
      record["cvae"].append({"dt": config.dt, **{k: np.asarray(v).tolist()
                                                  for k, v in metrics.items()}})
      self._say(f"  generator dt={config.dt}: {record['cvae'][-1]}")
    return record

  def models(self):
    """(VAE, generators) stacked on a leading axis of num_seeds (shared models repeated)."""
    if self._models is not None:
      return self._models
    positions, _ = self._play()
    keys = self._model_keys()
    zeros = lambda tree: jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), tree)
    vae_template, _ = jax.eval_shape(jax.vmap(lambda k: self._train_latent(
        k, positions[:2, 0], dataclasses.replace(self._vae_config(), num_steps=1))), keys[:, 0])
    state_vae = _load(os.path.join(self.workdir, "models", "vae.msgpack"), zeros(vae_template))
    generators, templates = [], []
    for level, config in enumerate(self._cvae_configs()):
      example = jnp.zeros((1, config.span + 2, state_vae.config.latent_dim))
      template, _ = jax.eval_shape(jax.vmap(lambda k, c=config: cvae.train_cvae(
          k, example, dataclasses.replace(c, num_steps=1))), keys[:, level + 1])
      templates.append(template)
      generators.append(_load(os.path.join(self.workdir, "models", f"cvae_{level}.msgpack"),
                              zeros(template)))
    models = (state_vae, tuple(generators))
    # A workdir from before the seed axis (shared models, stored unstacked): add the axis.
    models = jax.tree_util.tree_map(lambda x, t: x[None] if x.ndim == len(t.shape) - 1 else x,
                                    models, (vae_template, tuple(templates)))
    if self.num_model_sets != self.config.num_seeds:
      models = jax.tree_util.tree_map(
          lambda x: jnp.repeat(x, self.config.num_seeds, axis=0), models)
    self._models = models
    return models

  def _settings(self) -> PlannerSettings:
    p = self.config.planner
    return PlannerSettings(
        mppi=mppi.MPPIConfig(num_samples=p.num_samples, noise_levels=tuple(p.noise_levels),
                             temperature=p.temperature, values_weight=p.values_weight,
                             prior_weight=p.prior_weight),
        top_subgoals=p.top_subgoals, multiplier=p.multiplier, subgoal_timeout=p.subgoal_timeout,
        reach_threshold=p.reach_threshold)

  def _loops_for(self, models) -> PTPLoops:
    """The study's jitted pieces for one seed's models (called inside the vmap over seeds):
    (VAE, generators) or (VAE, generators, GCP midpoint model or None)."""
    state_vae, generators, *rest = models
    midpoint = rest[0] if rest else None
    return PTPLoops(self.env, state_vae, generators, self.agent_config, self._settings(),
                    midpoint)

  # ------------------------------------------------------------------ GCP (a baseline)
  def _gcp_config(self) -> gcp.GCPConfig:
    c = self.config.gcp
    return gcp.GCPConfig(min_half_span=c.min_half_span, max_half_span=c.max_half_span,
                         z_dim=c.z_dim, hidden_dims=tuple(c.hidden_dims), num_steps=c.num_steps,
                         batch_size=c.batch_size)

  def _gcp_keys(self) -> jax.Array:
    return jax.random.split(jax.random.PRNGKey(self.config.seed + 4), self.num_model_sets)

  def train_gcp_models(self) -> Dict[str, Any]:
    """GCP's midpoint predictor, one per set of latent models, in that set's latent space."""
    positions, _ = self._play()
    state_vae = self.models()[0]
    latents = jax.jit(jax.vmap(lambda v: v.encode(positions)))(state_vae)[:self.num_model_sets]
    config = self._gcp_config()
    midpoint, metrics = jax.vmap(lambda k, l: gcp.train_gcp(k, l, config))(self._gcp_keys(),
                                                                           latents)
    _save(os.path.join(self.workdir, "models_gcp", "gcp.msgpack"), midpoint)
    record = {k: np.asarray(v).tolist() for k, v in metrics.items()}
    self._say(f"  GCP midpoint model: {record}")
    return record

  def gcp_models(self):
    """The midpoint models stacked on num_seeds, or None when no mode uses GCP."""
    if not self.uses_gcp:
      return None
    if self._gcp is None:
      example = jnp.zeros((1, 2 * self._gcp_config().max_half_span + 2, self.latent_dim))
      config = dataclasses.replace(self._gcp_config(), num_steps=1)
      template, _ = jax.eval_shape(jax.vmap(lambda k: gcp.train_gcp(k, example, config)),
                                   self._gcp_keys())
      zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), template)
      midpoint = _load(os.path.join(self.workdir, "models_gcp", "gcp.msgpack"), zeros)
      if self.num_model_sets != self.config.num_seeds:
        midpoint = jax.tree_util.tree_map(
            lambda x: jnp.repeat(x, self.config.num_seeds, axis=0), midpoint)
      self._gcp = midpoint
    return self._gcp

  def study_models(self):
    """(VAE, generators, GCP model or None), each stacked on num_seeds: what the vmapped
    evaluation and finetuning take."""
    return self.models() + (self.gcp_models(),)

  def loops(self) -> PTPLoops:
    """Seed 0's loops, for what does not depend on the models (buffers, sizes)."""
    if self._loops is None:
      self._loops = self._loops_for(jax.tree_util.tree_map(lambda x: x[0], self.models()))
    return self._loops

  def offline_dataset(self) -> samplers.IndexedDataset:
    """The play data in each seed's latent space, stacked on a leading seed axis."""
    if self._offline is None:
      positions, actions = self._play()
      state_vae = self.models()[0]
      all_latents = np.asarray(jax.jit(jax.vmap(lambda v: v.encode(positions)))(state_vae))
      episodes, steps = actions.shape[:2]
      flat = lambda x: x.reshape((episodes * steps,) + x.shape[2:])
      datasets = []
      for latents in all_latents:
        placeholder_goal = jnp.zeros_like(latents[:, :-1])   # every offline row is relabelled
        transitions = Transition(
            obs=flat(jnp.concatenate([latents[:, :-1], placeholder_goal], -1)),
            action=flat(actions), reward=jnp.zeros(episodes * steps),
            mask=jnp.ones(episodes * steps),
            next_obs=flat(jnp.concatenate([latents[:, 1:], placeholder_goal], -1)))
        datasets.append(samplers.index_dataset(transitions, np.repeat(np.arange(episodes), steps)))
      self._offline = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *datasets)
    return self._offline

  def spec(self) -> Spec:
    return Spec(obs_shape=(2 * self.latent_dim,), action_dim=3)

  def agent_template(self):
    keys, spec = jax.random.split(jax.random.PRNGKey(0), self.config.num_seeds), self.spec()
    shapes = jax.eval_shape(jax.vmap(lambda k: gciql.create(self.agent_config, k, spec)), keys)
    return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

  def train_offline(self) -> Dict[str, Any]:
    offline, models = self.offline_dataset(), self.models()
    keys = jax.random.split(jax.random.PRNGKey(self.config.seed + 2), self.config.num_seeds)
    spec = self.spec()
    states = jax.jit(jax.vmap(lambda k: gciql.create(self.agent_config, k, spec)))(keys)
    train = jax.jit(jax.vmap(lambda s, k, d, m: self._loops_for(m).train(
        s, d, None, None, k, self.config.offline_steps, self.config.batch_size, 0.0)))
    states, metrics = train(states, jax.random.split(keys[0], self.config.num_seeds), offline,
                            models)
    _save(os.path.join(self.workdir, "agents", "offline.msgpack"), states)
    return {k: np.asarray(v).tolist() for k, v in metrics.items()}

  # -------------------------------------------------------------------------- evaluation
  def _evaluator(self, mode: str, deterministic: bool = True):
    """One compiled evaluation per mode (and action rule) for the whole study, not one per call."""
    if (mode, deterministic) not in self._evaluators:
      episodes = self.config.eval.episodes
      self._evaluators[mode, deterministic] = jax.jit(jax.vmap(
          lambda s, b, k, m: self._loops_for(m).episodes(s, b, k, episodes, mode, deterministic)))
    return self._evaluators[mode, deterministic]

  def _seed_buffers(self, mode: str):
    loops = self.loops()   # built outside the trace: it holds concrete arrays (the goal latent)
    return jax.vmap(lambda _: loops.empty_buffers(mode))(jnp.arange(self.config.num_seeds))

  def evaluate(self, states, buffers, mode: str, key, deterministic: bool = True
               ) -> Dict[str, Any]:
    """Success of every seed's `eval.episodes` episodes; the study's evaluations act with the
    policy's mean (`deterministic`), collection samples its actions."""
    out = self._evaluator(mode, deterministic)(
        states, buffers, jax.random.split(key, self.config.num_seeds), self.study_models())
    self._last_evaluation = out
    success = np.asarray(out["success"])
    result = {"success_per_seed": success.mean(1).tolist(),
              "success_k": int(success.sum()), "success_n": int(success.size),
              "final_stage_counts": np.bincount(np.asarray(out["stage"]).ravel() + 1,
                                                minlength=5).tolist()}
    if "lid_open" in out:   # a task with a lid: episodes that end with the hole open
      result["final_lid_open_k"] = int(np.sum(out["lid_open"]))
    return result

  def saved_agents(self, name: str = "offline") -> Any:
    """Every seed's agents saved as workdir/agents/<name>.msgpack ("offline", "finetuned/ptp")."""
    return _load(os.path.join(self.workdir, "agents", name + ".msgpack"), self.agent_template())

  def evaluate_offline(self) -> Dict[str, Any]:
    states = self.saved_agents()
    key = jax.random.PRNGKey(self.config.seed + 3)
    record = {}
    for mode in self.config.eval.offline_modes:
      record[mode] = self.evaluate(states, self._seed_buffers(mode), mode, key)
      self._say(f"  offline {mode}: {record[mode]['success_per_seed']}")
    return record

  def _finetune_key(self) -> jax.Array:
    return jax.random.PRNGKey(self.config.seed + 10)

  def finetune_eval_key(self, iteration: int) -> jax.Array:
    """The key of the finetuning stage's evaluation at `iteration` (its reset states), for
    scripts that re-evaluate saved agents on the study's own starts."""
    return jax.random.fold_in(self._finetune_key(), 10_000 + iteration)

  def finetune(self) -> Dict[str, Any]:
    f, loops = self.config.finetune, self.loops()
    offline, models = self.offline_dataset(), self.study_models()
    capacity = f.iterations * f.episodes_per_iteration
    steps = self.env.max_episode_steps
    latent_dim = loops.latent_dim
    record = {}
    for method in self.finetune_methods:
      states = self.saved_agents()
      buffers = self._seed_buffers(method)
      online = jax.vmap(lambda _: Transition(
          obs=jnp.zeros((capacity, steps, 2 * latent_dim)), action=jnp.zeros((capacity, steps, 3)),
          reward=jnp.zeros((capacity, steps)), mask=jnp.ones((capacity, steps)),
          next_obs=jnp.zeros((capacity, steps, 2 * latent_dim))))(jnp.arange(self.config.num_seeds))
      iterate = jax.jit(jax.vmap(
          lambda s, b, o, n, k, d, m: self._iteration(s, b, o, n, k, d, m, method),
          in_axes=(0, 0, 0, None, 0, 0, 0)))
      key = self._finetune_key()
      curve = []
      for iteration in range(f.iterations + 1):
        if iteration % f.eval_every == 0 or iteration == f.iterations:
          eval_key = self.finetune_eval_key(iteration)
          result = self.evaluate(states, buffers, method, eval_key)
          curve.append({"iteration": iteration,
                        "env_steps": iteration * f.episodes_per_iteration * steps, **result})
          self._say(f"  [{method}] iteration {iteration}: success {result['success_per_seed']}")
          if iteration in (0, f.iterations):
            self.save_episode(f"episodes/{method}_iteration{iteration}.npz")
            if method == "ptp":
              self.plan_figure(f"plan_ptp_iteration{iteration}.png",
                               f"PTP, iteration {iteration}, seed 0, episode 0")
        if iteration == f.iterations:
          break
        keys = jax.random.split(jax.random.fold_in(key, iteration), self.config.num_seeds)
        filled = jnp.int32(iteration * f.episodes_per_iteration)
        states, buffers, online, metrics, collect_success = iterate(
            states, buffers, online, filled, keys, offline, models)
        curve[-1].setdefault("collect_success", []).append(np.asarray(collect_success).tolist())
      _save(os.path.join(self.workdir, "agents", "finetuned", f"{method}.msgpack"), states)
      record[method] = curve
    return record

  def _iteration(self, state, buffers, online, filled, key, offline, models, method):
    f, loops = self.config.finetune, self._loops_for(models)
    collect_key, train_key = jax.random.split(key)
    episodes = loops.episodes(state, buffers, collect_key, f.episodes_per_iteration, method, False)
    online = jax.tree_util.tree_map(
        lambda buffer, new: jax.lax.dynamic_update_slice_in_dim(buffer, new, filled, 0),
        online, episodes["transitions"])
    if method in BUFFERED_MODES:
      buffers = loops.add_to_buffers(buffers, episodes["level_latents"])
    state, metrics = loops.train(state, offline, online, filled + f.episodes_per_iteration,
                                 train_key, f.updates_per_iteration, self.config.batch_size,
                                 f.online_fraction, f.get("hard_negatives", True))
    return state, buffers, online, metrics, jnp.mean(episodes["success"])

  def save_episode(self, name: str) -> str:
    """Seed 0's first episode of the last evaluation (the report's video draws it)."""
    out = jax.tree_util.tree_map(lambda x: np.asarray(x[0, 0]), self._last_evaluation)
    path = os.path.join(self.workdir, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez(path, start=out["start"], positions=out["positions"], subgoals=out["subgoals"],
             subgoal_index=out["subgoal_index"], success=out["success"])
    return path

  def plan_figure(self, name: str, title: str) -> str:
    """Side view of seed 0's first episode of the last evaluation, with its planned subgoals."""
    from jaxinsert.training import ptp_report
    out = jax.tree_util.tree_map(lambda x: np.asarray(x[0, 0]), self._last_evaluation)
    success = "inserted" if out["success"] else "not inserted"
    return ptp_report.plot_plan(self.env, out["positions"], out["subgoals"], out["subgoal_index"],
                                os.path.join(self.workdir, name), f"{title} ({success})")

  # ------------------------------------------------------------------------------ report
  def report(self, records: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    from jaxinsert.training import ptp_report
    return ptp_report.write_summary(self, records)


def run(config: ml_collections.ConfigDict, workdir: str, progress: bool = True,
        redo: bool = False) -> Dict[str, Any]:
  unknown = set(config.eval.offline_modes) - set(MODES)
  if unknown:
    raise ValueError(f"config.eval.offline_modes has unknown modes {sorted(unknown)}; "
                     f"modes: {', '.join(MODES)}")
  unknown = set(config.finetune.get("methods", DEFAULT_FINETUNE_METHODS)) - set(MODES)
  if unknown:
    raise ValueError(f"config.finetune.methods has unknown modes {sorted(unknown)}; "
                     f"modes: {', '.join(MODES)}")
  return PTPPipeline(config, workdir, progress, redo).run()
