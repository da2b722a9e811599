"""The SMAC pipeline (seed 003): online PEARL data -> SMAC / meta-BC offline -> self-supervised
online phase (SMAC) and the same phase with true rewards (the oracle) -> report.

Stages run on `stages.StageRunner`. The workdir holds data/rl and data/encoder (PEARL's per-task
RL and encoder buffers as RLDS with task ids, digest B.5), pearl/, offline/ and online/ (agent
states of every seed as msgpack, curves), stages/, summary.json and the plots.

Seeds: the dataset comes from one PEARL run (`seed`), as in the paper ("the replay buffer from
a single PEARL run"); the offline and online phases of `num_seeds` seeds run at once, vmapped.
Everything is evaluated by the same meta-test harness (`meta_rl.meta_test`, S11) on the test
tasks (and the training tasks): post-adaptation return of the last of T trajectories.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List

import flax.serialization
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxinsert.agents import pearl, smac
from jaxinsert.data import task_replay
from jaxinsert.envs import meta_families
from jaxinsert.training import logging, meta_rl, smac_loops, stages
from jaxinsert.types import Spec

# Key streams (smac_loops.seed_keys): data, agent creation, training, evaluation, diagnostics.
DATA, CREATE, TRAIN, EVAL, DIAGNOSE = range(5)
# Offline methods: the agent-config fields each one changes on top of config.smac.
METHODS_OFFLINE = {
    "smac": {},
    "meta_bc": {"actor_objective": "bc"},                        # the meta-BC baseline
    "actor_ablation": {"actor_objective": "pearl"},              # Eq. 2 -> PEARL's actor loss
    # Fig. 7's "only Q-loss (online & offline)": the critic loss, not the decoder's, moves the
    # encoder, in both phases (the decoder still trains offline on a stopped z, for labels).
    "encoder_q_only": {"q_loss_into_encoder": True, "reward_loss_into_encoder": False,
                       "train_encoder_online": True},
}
# Online methods: (the offline method whose states it starts from and labels with, rewards).
METHODS_ONLINE = {
    "smac": ("smac", "decoder"),
    "oracle": ("smac", "true"),                                  # the same phase, true rewards
    # The control: the online phase's updates on the offline buffers, nothing collected (what
    # the updates alone do to the return; a rise of SMAC above it is the new data's).
    "no_new_data": ("smac", "none"),
    "actor_ablation": ("actor_ablation", "decoder"),
    "encoder_q_only": ("encoder_q_only", "decoder"),
}
DEFAULT_OFFLINE_METHODS = ("smac", "meta_bc")
DEFAULT_ONLINE_METHODS = ("smac", "oracle")
RL_SLICES = ("first", "last")
# PEARL's critic reward: the env's own, or the family's dense shaping (sparse families; the
# buffers and the encoder keep the env's reward either way).
CRITIC_REWARDS = ("env", "shaped")


def offline_methods(config: ml_collections.ConfigDict) -> tuple:
  return tuple(config.offline.get("methods", DEFAULT_OFFLINE_METHODS))


def online_methods(config: ml_collections.ConfigDict) -> tuple:
  return tuple(config.online.get("methods", DEFAULT_ONLINE_METHODS))


def check_config(config: ml_collections.ConfigDict) -> None:
  """Method lists and data slices, refused with the field named before any stage runs."""
  offline, online = offline_methods(config), online_methods(config)
  for field, names, known in (("offline.methods", offline, METHODS_OFFLINE),
                              ("online.methods", online, METHODS_ONLINE)):
    unknown = sorted(set(names) - set(known))
    if unknown:
      raise ValueError(f"config.{field} has unknown methods {unknown}; known: "
                       f"{', '.join(known)}")
  for method in online:
    source = METHODS_ONLINE[method][0]
    if source not in offline:
      raise ValueError(f"config.online.methods has {method!r}, which starts from the offline "
                       f"method {source!r}: add it to config.offline.methods")
  if "smac" not in offline:
    raise ValueError("config.offline.methods must hold 'smac' (the z-shift diagnostic and the "
                     "report read it)")
  critic_reward = config.pearl.get("critic_reward", "env")
  if critic_reward not in CRITIC_REWARDS:
    raise ValueError(f"config.pearl.critic_reward must be one of {CRITIC_REWARDS}, got "
                     f"{critic_reward!r}")
  if critic_reward == "shaped" and not hasattr(
      meta_families.environment_class(config.family.name), "shaped_reward"):
    raise ValueError(f"config.pearl.critic_reward='shaped' needs a family with a shaping "
                     f"reward; {config.family.name!r} has none")
  rl_slice = config.data.get("rl_slice", "first")
  if rl_slice not in RL_SLICES:
    raise ValueError(f"config.data.rl_slice must be one of {RL_SLICES}, got {rl_slice!r}")


class SMACPipeline:
  """One SMAC study in `workdir` (see the module docstring)."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, progress: bool = True,
               redo: bool = False):
    check_config(config)
    self.config = config
    self.workdir = os.path.abspath(workdir)
    self.progress = progress
    family = config.family
    env_kwargs = dict(family.get("env", {}))   # the family's environment fields
    if "reward_type" in family:
      env_kwargs["reward_type"] = family.reward_type
    self.family = meta_families.make_family(family.name, family.task_seed, family.num_train,
                                            family.num_test, **env_kwargs)
    self.env = self.family.env
    self.spec = Spec(obs_shape=tuple(self.env.spec.obs_shape), action_dim=self.env.spec.action_dim)
    self.train_tasks = jnp.asarray(self.family.train_tasks)
    self.test_tasks = jnp.asarray(self.family.test_tasks)
    self.runner = stages.StageRunner(config, self.workdir, progress, redo=redo)

  # ------------------------------------------------------------------------------ stages
  def stages(self) -> List[stages.Stage]:
    return [
        stages.Stage("pearl_data", self.pearl_data, ("seed", "family", "pearl", "eval"),
                     outputs=("data", "pearl")),
        stages.Stage("offline", self.offline, ("seed", "num_seeds", "smac", "data", "offline",
                                               "eval", "diagnostic"), ("pearl_data",),
                     outputs=("offline",), defaults={"smac.lambda_pearl": 1.0}),
        stages.Stage("online", self.online, ("seed", "num_seeds", "online", "eval",
                                             "diagnostic"), ("offline",), outputs=("online",)),
    ]

  def run(self) -> Dict[str, Any]:
    os.makedirs(self.workdir, exist_ok=True)
    logging.write_provenance(self.workdir, self.config.to_dict())
    records = self.runner.run(self.stages())
    from jaxinsert.training import smac_report
    return smac_report.write_summary(self, records)

  def _say(self, message: str) -> None:
    if self.progress:
      print(message, flush=True)

  def path(self, *parts: str) -> str:
    return os.path.join(self.workdir, *parts)

  # ------------------------------------------------------------------------- evaluation
  def evaluate(self, agent, states, tasks, key, vmapped: bool = True) -> np.ndarray:
    """Meta-test returns [seeds, tasks, repeats, T] (or without the seed axis)."""
    ev = self.config.eval
    run = lambda state, k: smac_loops.evaluate(self.env, agent, state, ev.num_trajectories,
                                               ev.repeats, tasks, k)
    if not vmapped:
      return np.asarray(run(states, key))
    keys = jax.random.split(key, jax.tree_util.tree_leaves(states)[0].shape[0])
    return np.asarray(jax.vmap(run)(states, keys))

  # ------------------------------------------------------------------------------ PEARL
  def pearl_config(self) -> ml_collections.ConfigDict:
    config = pearl.get_config()
    config.update(self.config.pearl.agent.to_dict())
    return config

  def pearl_data(self) -> Dict[str, Any]:
    """Online PEARL on the training tasks; its buffers become SMAC's offline data."""
    cfg = self.config.pearl
    horizon = self.family.horizon
    state = pearl.create(self.pearl_config(), smac_loops.seed_keys(self.config.seed, 1, CREATE)[0],
                         self.spec)
    num_tasks = self.train_tasks.shape[0]
    # Upper bound on a task's rows: every iteration might pick it.
    capacity = horizon * (cfg.initial_trajectories + cfg.iterations
                          * (cfg.prior_trajectories + cfg.posterior_trajectories))
    obs_dim, action_dim = self.spec.obs_dim, self.spec.action_dim
    buffers = smac_loops.Buffers(task_replay.empty(num_tasks, capacity, obs_dim, action_dim),
                                 task_replay.empty(num_tasks, capacity, obs_dim, action_dim),
                                 task_replay.empty(1, 1, obs_dim, action_dim))
    keys = smac_loops.seed_keys(self.config.seed, cfg.iterations + 1, DATA)
    buffers = smac_loops.pearl_initial(self.env, state, buffers, self.train_tasks,
                                       cfg.initial_trajectories, keys[0])
    loop = (cfg.tasks_per_iteration, cfg.prior_trajectories, cfg.posterior_trajectories,
            cfg.grad_steps, cfg.meta_batch, cfg.batch_per_task, cfg.context_size)
    shaped = cfg.get("critic_reward", "env") == "shaped"
    curve, eval_key = [], smac_loops.seed_keys(self.config.seed, 1, EVAL)[0]
    for iteration in range(cfg.iterations):
      state, buffers, metrics = smac_loops.pearl_iteration(self.env, loop, state, buffers,
                                                           self.train_tasks, keys[iteration + 1],
                                                           shaped_critic=shaped)
      if (iteration + 1) % cfg.eval_every == 0 or iteration + 1 == cfg.iterations:
        returns = self.evaluate(pearl, state, self.test_tasks, eval_key, vmapped=False)
        post, first = meta_rl.summarize_returns(returns)
        curve.append({"iteration": iteration + 1, "test_post_adaptation": post,
                      "test_first": first, **smac_loops.mean_metrics(metrics)})
        self._say(f"[pearl] iteration {iteration + 1}: test post-adaptation {post:.2f} "
                  f"(first trajectory {first:.2f})")
    self._write_buffers(buffers)
    os.makedirs(self.path("pearl"), exist_ok=True)
    with open(self.path("pearl", "state.msgpack"), "wb") as handle:
      handle.write(flax.serialization.to_bytes(state))
    counts = np.asarray(buffers.rl.count)
    return {"curve": curve, "rl_rows_per_task": [int(counts.min()), int(counts.max())],
            "encoder_rows_per_task": [int(np.min(buffers.encoder.count)),
                                      int(np.max(buffers.encoder.count))],
            "env_steps": int(counts.sum() + 0)}

  def _write_buffers(self, buffers: smac_loops.Buffers) -> None:
    from jaxinsert.data import rlds

    task_ids = list(range(self.train_tasks.shape[0]))
    provenance = {"generator": "jaxinsert.training.smac_pipeline (online PEARL)",
                  "family": self.family.name, "task_seed": self.config.family.task_seed,
                  "train_goals": np.asarray(self.family.train_tasks).tolist()}
    for name, buffer in (("rl", buffers.rl), ("encoder", buffers.encoder)):
      episodes = _episodes(task_replay.to_transitions(buffer, task_ids), self.family.horizon, name)
      rlds.write_dataset(self.path("data", name), episodes,
                         f"meta-state:{self.family.name}", provenance=provenance | {"buffer": name},
                         overwrite=True, progress=False)

  # ---------------------------------------------------------------------------- offline
  def load_buffers(self) -> smac_loops.Buffers:
    """SMAC's offline buffers (S2): each task's first (`data.rl_slice="first"`, Cheetah) or
    last ("last", Ant) `data.rl_rows` RL rows and last `data.encoder_rows` encoder rows of the
    PEARL run."""
    from jaxinsert.data import transitions

    data = self.config.data
    task_ids = list(range(self.train_tasks.shape[0]))
    loaded = {}
    for name in ("rl", "encoder"):
      rows, _, _ = transitions.load_transitions(self.path("data", name), obs_keys=["state"])
      loaded[name] = rows
    if data.get("rl_slice", "first") == "first":
      rl = task_replay.from_transitions(loaded["rl"], task_ids, data.rl_rows, 0, data.rl_rows)
    else:
      rl = task_replay.from_transitions(loaded["rl"], task_ids, data.rl_rows, -data.rl_rows,
                                        None)
    encoder = task_replay.from_transitions(loaded["encoder"], task_ids, data.encoder_rows,
                                           -data.encoder_rows, None)
    return smac_loops.Buffers(rl=rl, encoder=encoder, reward_context=encoder)

  def agent_config(self, method: str) -> ml_collections.ConfigDict:
    config = smac.get_config()
    config.update(self.config.smac.to_dict())
    config.update(METHODS_OFFLINE[method])
    return config

  def create_states(self, method: str):
    config = self.agent_config(method)
    keys = smac_loops.seed_keys(self.config.seed, self.config.num_seeds, CREATE)
    return jax.jit(jax.vmap(lambda key: smac.create(config, key, self.spec)))(keys)

  def save_states(self, states, *parts: str) -> None:
    os.makedirs(os.path.dirname(self.path(*parts)), exist_ok=True)
    with open(self.path(*parts), "wb") as handle:
      handle.write(flax.serialization.to_bytes(states))

  def load_states(self, method: str, *parts: str):
    with open(self.path(*parts), "rb") as handle:
      return flax.serialization.from_bytes(self.create_states(method), handle.read())

  def offline(self) -> Dict[str, Any]:
    buffers = self.load_buffers()
    off = self.config.offline
    sizes = (off.meta_batch, off.batch_per_task, off.context_size)
    record: Dict[str, Any] = {}
    for method in offline_methods(self.config):
      states = self.create_states(method)
      keys = smac_loops.seed_keys(self.config.seed, off.steps // off.steps_per_call, TRAIN)
      log = []
      for call, key in enumerate(keys):
        seed_keys = jax.random.split(key, self.config.num_seeds)
        states, metrics = jax.vmap(lambda s, k: smac_loops.smac_offline(
            smac, off.steps_per_call, sizes, s, buffers, k))(states, seed_keys)
        log.append({"step": (call + 1) * off.steps_per_call, **smac_loops.mean_metrics(metrics)})
      self._say(f"[offline] {method}: {log[-1]}")
      self.save_states(states, "offline", f"{method}.msgpack")
      eval_key = smac_loops.seed_keys(self.config.seed, 1, EVAL)[0]
      record[method] = {"log": log, **self._scores(states, eval_key)}
    record["z_shift"] = self.z_shift(self.load_states("smac", "offline", "smac.msgpack"),
                                     buffers.reward_context)
    return record

  def _scores(self, states, key) -> Dict[str, Any]:
    test = self.evaluate(smac, states, self.test_tasks, key)
    train = self.evaluate(smac, states, self.train_tasks, key)
    return {"test_post_adaptation": test[..., -1].mean(axis=(1, 2)).tolist(),
            "test_first": test[..., 0].mean(axis=(1, 2)).tolist(),
            "train_post_adaptation": train[..., -1].mean(axis=(1, 2)).tolist()}

  def z_shift(self, states, offline_encoder: task_replay.TaskBuffers) -> Dict[str, Any]:
    """Fig. 2 for every seed: KL(q(z|h) || p) with offline and online h, [seeds, tasks, draws]
    (and the conditioned returns and the contexts' mean true reward, the same shape)."""
    diag = self.config.diagnostic
    key = smac_loops.seed_keys(self.config.seed, 1, DIAGNOSE)[0]
    run = jax.jit(lambda s, b, k: meta_rl.z_shift(
        self.env, smac, s, self.train_tasks, b, k, diag.draws, diag.context_size,
        diag.online_trajectories))
    per_seed = []
    for seed in range(jax.tree_util.tree_leaves(states)[0].shape[0]):
      pick = lambda tree: jax.tree_util.tree_map(lambda x: x[seed], tree)
      context = offline_encoder if offline_encoder.count.ndim == 1 else pick(offline_encoder)
      per_seed.append(run(pick(states), context, key))
    return {name: np.stack([np.asarray(r[name]) for r in per_seed]).tolist()
            for name in per_seed[0]}

  # ----------------------------------------------------------------------------- online
  def online_start(self, method: str, offline_buffers: smac_loops.Buffers):
    """What the online phase of `method` starts from: (labeller, states, buffers, keys, step),
    `step(states, labeller, buffers, keys)` being one vmapped online iteration. The online stage
    and `experiments/smac_online_probe.py` both start here."""
    on = self.config.online
    rows = self.family.horizon * on.iterations * (on.prior_trajectories + on.posterior_trajectories)
    seeds = self.config.num_seeds
    source, reward_source = METHODS_ONLINE[method]
    labeller = self.load_states(source, "offline", f"{source}.msgpack")  # the snapshot at the switch
    states = jax.vmap(smac.to_online)(labeller)
    buffers = jax.tree_util.tree_map(
        lambda x: jnp.broadcast_to(x, (seeds,) + x.shape),
        smac_loops.Buffers(
            rl=task_replay.with_capacity(offline_buffers.rl, self.config.data.rl_rows + rows),
            encoder=task_replay.with_capacity(offline_buffers.encoder,
                                              self.config.data.encoder_rows + rows),
            reward_context=offline_buffers.reward_context))
    loop = (on.tasks_per_iteration, on.prior_trajectories, on.posterior_trajectories,
            on.grad_steps, on.meta_batch, on.batch_per_task, on.context_size,
            bool(on.freeze_encoder_buffer))
    keys = smac_loops.seed_keys(self.config.seed, on.iterations, TRAIN + 10)
    step = jax.vmap(lambda s, lab, b, k: smac_loops.smac_online_iteration(
        self.env, loop, reward_source, s, lab, b, self.train_tasks, k))
    return labeller, states, buffers, keys, step

  def online(self) -> Dict[str, Any]:
    on = self.config.online
    offline_buffers = self.load_buffers()
    horizon = self.family.horizon
    seeds = self.config.num_seeds
    eval_key = smac_loops.seed_keys(self.config.seed, 1, EVAL)[0]
    record: Dict[str, Any] = {}
    for method in online_methods(self.config):
      labeller, states, buffers, keys, run = self.online_start(method, offline_buffers)
      step0 = self.evaluate(smac, states, self.test_tasks, eval_key)
      curve = [{"iteration": 0, "env_steps": 0,
                "test_post_adaptation": step0[..., -1].mean(axis=(1, 2)).tolist()}]
      for iteration in range(on.iterations):
        states, buffers, metrics = run(states, labeller, buffers,
                                       jax.random.split(keys[iteration], seeds))
        if (iteration + 1) % on.eval_every == 0 or iteration + 1 == on.iterations:
          returns = self.evaluate(smac, states, self.test_tasks, eval_key)
          steps = (iteration + 1) * on.tasks_per_iteration * horizon * (
              on.prior_trajectories + on.posterior_trajectories)
          curve.append({"iteration": iteration + 1, "env_steps": steps,
                        "test_post_adaptation": returns[..., -1].mean(axis=(1, 2)).tolist(),
                        **smac_loops.mean_metrics(metrics)})
          self._say(f"[online] {method} iteration {iteration + 1}: test post-adaptation "
                    f"{np.mean(curve[-1]['test_post_adaptation']):.2f}")
      self.save_states(states, "online", f"{method}.msgpack")
      record[method] = {"curve": curve, **self._scores(states, eval_key)}
      if method == "smac":
        record["z_shift"] = self.z_shift(states, buffers.reward_context)
    return record


def _episodes(rows, horizon: int, buffer: str) -> List[Dict[str, Any]]:
  """Consecutive `horizon`-row chunks of one task's rows as RLDS episodes (every append is
  whole trajectories, so chunks are trajectories)."""
  episodes = []
  total = rows.reward.shape[0]
  for start in range(0, total, horizon):
    chunk = slice(start, start + horizon)
    if int(rows.task_id[start]) != int(rows.task_id[start + horizon - 1]):
      raise ValueError(f"buffer {buffer}: rows {start}..{start + horizon - 1} mix tasks")
    obs = np.concatenate([rows.obs[chunk], rows.next_obs[chunk][-1:]]).astype(np.float32)
    action = np.concatenate([rows.action[chunk], np.zeros_like(rows.action[:1])])
    reward = np.append(rows.reward[chunk], 0.0).astype(np.float32)
    terminal = bool(rows.mask[chunk][-1] == 0)
    flags = np.zeros(horizon + 1, bool)
    episodes.append({
        "steps": {"observation": {"state": obs}, "action": action.astype(np.float32),
                  "reward": reward, "discount": np.append(np.ones(horizon), 0.0 if terminal else 1.0
                                                          ).astype(np.float32),
                  "is_first": np.eye(1, horizon + 1, 0, dtype=bool)[0],
                  "is_last": np.eye(1, horizon + 1, horizon, dtype=bool)[0],
                  "is_terminal": flags | (terminal & np.eye(1, horizon + 1, horizon,
                                                            dtype=bool)[0])},
        "task_id": int(rows.task_id[start]), "domain_id": 0, "buffer": buffer})
  return episodes


def run(config: ml_collections.ConfigDict, workdir: str, progress: bool = True,
        redo: bool = False) -> Dict[str, Any]:
  return SMACPipeline(config, workdir, progress, redo).run()
