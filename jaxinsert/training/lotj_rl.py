"""LOTJ's policy side: image IQL with DAIB trained offline leave-one-out, 20-trial evaluations
(learned and scripted), and self-rewarded finetuning on a held-out connector.

Every evaluation is the paper's protocol: 20 trials of at most 20 steps from the scenario's
start distribution, success counted by the simulator (the paper counted by hand); the learned
policy acts on images with the bottleneck's mean. Scripted baselines act on the state vector
(the nominal socket frame) as the controllers module defines them.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxinsert.agents import lotj
from jaxinsert.data import samplers, transitions
from jaxinsert.envs import controllers, factory, insertion
from jaxinsert.envs import tasks as tasks_lib
from jaxinsert.training import lotj_data, lotj_finetune
from jaxinsert.types import Spec


def offline_transitions(episodes, image_size: int, obs_key: str = "image",
                        reward_offset: float = 0.0):
  """Transitions on the device (domain ids kept) observing `obs_key`: uint8 images for LOTJ, or
  the calibrated pose `tcp_pose_in_socket` (6-D) for State-IQL, which the paper trains from state
  and localizes online. `reward_offset` is added to the 0/1 success rewards (-1: AntMaze's r - 1,
  the reward IQL's sparse settings were tuned with)."""
  data, spec, _ = transitions.load_transitions(list(episodes), obs_keys=[obs_key],
                                               spec=lotj_data.spec_name(image_size))
  return data.replace(reward=data.reward + reward_offset), spec


def _train_in_chunks(update, sample, state, steps: int, seed: int, chunk: int, what: str):
  """`steps` updates through `offline.scan_updates` (the project's one update loop), jitted
  `chunk` at a time; returns the state and the last chunk's mean metrics as floats."""
  from jaxinsert.training import offline

  if steps % chunk:
    raise ValueError(f"{what} steps must be a multiple of {chunk}, got {steps}")
  run = jax.jit(lambda state, key: offline.scan_updates(update, sample, state, key, chunk))
  key = jax.random.PRNGKey(seed + 1)
  metrics = {}
  for start in range(0, steps, chunk):
    state, _, metrics = run(state, jax.random.fold_in(key, start))
  return state, {k: float(v) for k, v in metrics.items()}


def train_offline(config: ml_collections.ConfigDict, data, spec, steps: int, batch_size: int,
                  seed: int, shift_pad: int = 2, chunk: int = 250, agent_module=lotj,
                  colour: bool = False):
  """One agent (LOTJ's image IQL by default; `agents.iql` for State-IQL) trained `steps`
  updates on uniform batches, random-shifted when `shift_pad` > 0 and colour-jittered
  (`samplers.colour_observations`) when `colour`."""
  agent = agent_module.create(config, jax.random.PRNGKey(seed), spec)
  augment = samplers.shift_observations(shift_pad) if shift_pad else (lambda batch, key: batch)
  recolour = samplers.colour_observations() if colour else (lambda batch, key: batch)

  def sample(key):
    row_key, shift_key = jax.random.split(key)
    batch = augment(samplers.uniform(data, row_key, batch_size), shift_key)
    return recolour(batch, jax.random.fold_in(key, 1))
  return _train_in_chunks(agent_module.update, sample, agent, steps, seed, chunk, "offline")


def _first_trial_success(env, act, steps: int, seed: int) -> np.ndarray:
  """Success of each environment's first trial (one trial per environment)."""
  return _first_trials(env, act, steps, seed)[0]


def _first_trials(env, act, steps: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
  """(success, final state) of each environment's first trial: the state vector (N, D) at the
  trial's end, before the autoreset (`info["final_state"]` of image environments)."""
  obs = env.reset(seed)
  done = np.zeros(env.num_envs, bool)
  success = np.zeros(env.num_envs, bool)
  final = None
  for step in range(steps):
    next_obs, _, terminal, truncated, info = env.step(act(obs, step))
    fresh = ~done
    success |= fresh & np.asarray(info["success"])
    done |= np.asarray(terminal) | np.asarray(truncated)
    state = np.asarray(info.get("final_state", info["final_obs"]))
    final = state.copy() if final is None else np.where(fresh[:, None], state, final)
    obs = next_obs
    if done.all():
      break
  return success, final


def _score_on_images(task: tasks_lib.InsertionTask, trials: int, seed: int, image_size: int,
                     act) -> int:
  """Successes of `trials` first trials on image observations; `act(env, images) -> actions`."""
  env = factory.make([task], backend="c", num_envs=trials, obs_mode="image", image_size=image_size)
  try:
    return int(_first_trial_success(env, lambda obs, _: np.asarray(act(env, jnp.asarray(obs))),
                                    task.max_episode_steps, seed).sum())
  finally:
    env.close()


def _deterministic(agent, agent_module):
  """The jitted deterministic action of an image agent (LOTJ's, or image SAC's)."""
  return jax.jit(lambda obs: agent_module.act(agent, obs, jax.random.PRNGKey(0), True))


def _true_tips(env) -> np.ndarray:
  """The plug tip's true position relative to the socket (N, 3), from the simulator."""
  return np.asarray(env.policy_context()["privileged"]["tip_in_socket"])[:, :3]


def evaluate_agent(agent, task: tasks_lib.InsertionTask, trials: int, seed: int,
                   image_size: int, agent_module=lotj) -> int:
  """First-trial successes of an image agent's deterministic action (LOTJ's, or image SAC's
  with `agent_module=agents.sac`)."""
  policy = _deterministic(agent, agent_module)
  return _score_on_images(task, trials, seed, image_size, lambda env, obs: policy(obs))


def final_tips(agent, task: tasks_lib.InsertionTask, trials: int, seed: int, image_size: int,
               agent_module=lotj) -> Tuple[np.ndarray, np.ndarray]:
  """(success, tip position relative to the socket at the trial's end (N, 3), m) of `trials`
  first trials of an image agent's deterministic action, on `evaluate_agent`'s trials: where
  the policy brings the plug on a connector, its failures' offset from the hole included."""
  policy = _deterministic(agent, agent_module)
  env = factory.make([task], backend="c", num_envs=trials, obs_mode="image", image_size=image_size)
  try:
    success, final = _first_trials(env, lambda obs, _: np.asarray(policy(jnp.asarray(obs))),
                                   task.max_episode_steps, seed)
  finally:
    env.close()
  return success, np.asarray(insertion.split_observation(final)["tcp_pose_in_socket"])[:, :3]


def record_trial(agent, task: tasks_lib.InsertionTask, seed: int, image_size: int, path: str,
                 agent_module=lotj, view_size: int = 128) -> Optional[str]:
  """One trial of an image agent's deterministic action saved as a video (None without EGL):
  each frame is the camera at `view_size` beside the `image_size` image the policy acted on
  (magnified), from the start to the first success or the time limit."""
  from jaxinsert.envs import rendering
  from jaxinsert.training import videos

  if not rendering.egl_available():
    return None
  if view_size % image_size:
    raise ValueError(f"view_size {view_size} must be a multiple of image_size {image_size}")
  env = factory.make([task], backend="c", num_envs=1, obs_mode="image", image_size=image_size,
                     terminate_on_success=False)
  viewer = rendering.BatchRenderer([task], view_size)
  policy = _deterministic(agent, agent_module)
  zoom = view_size // image_size

  def frame(image):
    view = viewer.render(env.physics_state["qpos"])[0]
    seen = np.repeat(np.repeat(image, zoom, axis=0), zoom, axis=1)
    return np.concatenate([view, seen], axis=1)

  try:
    obs = env.reset(seed)
    frames = [frame(obs[0])]
    for _ in range(task.max_episode_steps):
      obs, _, _, truncated, info = env.step(np.asarray(policy(jnp.asarray(obs))))
      if truncated[0]:                 # the environment has reset: the outcome is not shown
        break
      frames.append(frame(obs[0]))
      if info["success"][0]:
        break
  finally:
    viewer.close()
    env.close()
  frames += [frames[-1]] * 5           # a looping viewer rests on the outcome
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  return videos.save_video(path, np.stack(frames), fps=5)


# LOTJ's search baselines start from the initial position (seed 001 section VI: "moving straight
# down from the initial starting position and then move to 5 randomly sampled positions"): they
# are centred on the start, not on the socket, whose position they do not know. Radii are not
# given: random points within the scenario's 10 mm; the spiral's 3 mm pitch reaches 7.6 mm in
# the 20 steps.
SCRIPTED_BASELINES = {
    "straight_down": {},
    "random_search": {"centre": "start", "radius_m": 0.010},
    "spiral_search": {"centre": "start", "pitch_m": 0.003},
}


def evaluate_state_iql(agent, task: tasks_lib.InsertionTask, trials: int, seed: int,
                       image_size: int, localizer_state=None) -> int:
  """State-IQL acting on the tip position the Localize regressor estimates from each image (the
  rotation part of the state set to upright), or on the true position without a localizer."""
  from jaxinsert.agents import iql, localizer

  @jax.jit
  def act(images, true_tips):
    tips = true_tips if localizer_state is None else localizer.predict(localizer_state, images)
    state = jnp.concatenate([tips, jnp.zeros_like(tips)], axis=-1)
    return iql.act(agent, state, jax.random.PRNGKey(0), True)

  return _score_on_images(task, trials, seed, image_size,
                          lambda env, obs: act(obs, jnp.asarray(_true_tips(env))))


def evaluate_scripted(name: str, task: tasks_lib.InsertionTask, trials: int, seed: int,
                      **kwargs) -> int:
  """A scripted baseline from state; `kwargs` go to the controller. The tip's position at reset
  is in the context as "start_tip" (for searches centred on the start)."""
  env = factory.make([task], backend="c", num_envs=trials)
  policy = controllers.batched(controllers.make_policy(name, env.config, **kwargs))
  key = jax.random.PRNGKey(seed)
  start = {}

  def act(obs, step):
    if step == 0:
      start["tip"] = jnp.asarray(insertion.split_observation(obs)["tcp_pose_in_socket"][:, :3])
    keys = jax.random.split(jax.random.fold_in(key, step), env.num_envs)
    context = dict(env.policy_context(), start_tip=start["tip"])
    return np.asarray(policy(keys, obs, context))
  try:
    return int(_first_trial_success(env, act, task.max_episode_steps, seed).sum())
  finally:
    env.close()


def finetune(agent, reward, spec, offline, task: tasks_lib.InsertionTask,
             trials: int, num_envs: int, updates_per_step: int, batch_size: int, seed: int,
             image_size: int, act_noise: float, capacity: int = 8192, shift_pad: int = 2,
             true_reward: bool = False, reward_offset: float = 0.0, learning_rate: float = 0.0,
             agent_name: str = "lotj", beta: float = 0.0):
  """Self-rewarded practice: `trials` trials of 20 steps on `task` (num_envs at a time), by
  LOTJ's agent (representation frozen, heads at `learning_rate` or the offline rate, the actor's
  inverse temperature `beta` or the offline one) or by image SAC (`agent_name="sac"`, every
  parameter at its offline rate)."""
  if agent_name == "lotj":
    agent = lotj.freeze_representation(agent, learning_rate, beta)
  elif learning_rate or beta:
    raise ValueError(f"learning_rate and beta apply to LOTJ's frozen heads only, not to {agent_name!r}")
  learner = lotj_finetune.start(agent, reward, spec, capacity, reward_offset, agent_name)
  env = factory.make([task], backend="c", num_envs=num_envs, obs_mode="image",
                     image_size=image_size, terminate_on_success=False)
  return _practise(learner, env, lotj_finetune.HiddenRewardEnv(env), offline, task, trials,
                   updates_per_step, batch_size, seed, act_noise, shift_pad, true_reward)


def _practise(learner, env, hidden, offline, task: tasks_lib.InsertionTask, trials: int,
              updates_per_step: int, batch_size: int, seed: int, act_noise: float,
              shift_pad: int, true_reward: bool, offline_ratio: float = lotj_finetune.OFFLINE_RATIO):
  """`trials` practice trials of `learner` through `hidden` (the view of `env`, closed after,
  `trials` a multiple of its environments); returns the learner and the simulator's success of
  each trial (0/1, in trial order)."""
  num_envs = env.num_envs
  try:
    if trials % num_envs:
      raise ValueError(f"trials ({trials}) must be a multiple of num_envs ({num_envs})")
    learner = lotj_finetune.run_trials(learner, hidden, offline, trials // num_envs,
                                       task.max_episode_steps, updates_per_step, batch_size, seed,
                                       act_noise, shift_pad=shift_pad, true_reward=true_reward,
                                       offline_ratio=offline_ratio)
  finally:
    env.close()
  log = np.stack(hidden.success_log)              # [steps, envs]
  per_trial = log.reshape(trials // num_envs, task.max_episode_steps, num_envs).any(axis=1)
  return learner, per_trial.reshape(-1).astype(int).tolist()


# A state-based stand-in for a new connector's perception (issue 18's bias probe): the calibrated
# pose shifted laterally by a constant `bias_m`, as a learned image model's estimate is biased on
# a connector it has not seen, plus a per-domain code standing in for the connector's appearance
# (a vector the policy can tell domains apart by, irrelevant to the action offline).


def domain_codes(num_domains: int, dim: int, scale_m: float, seed: int) -> np.ndarray:
  """A fixed random code per domain (num_domains, dim), entries N(0, scale_m^2): on the pose's
  scale (metres), so that a network can read it as easily as the pose; dim 0 gives no code."""
  return np.random.default_rng(seed).normal(0.0, scale_m, (num_domains, dim)).astype(np.float32)


def with_domain_codes(data, spec, codes: np.ndarray):
  """Transitions and spec with each row's domain code appended to obs and next_obs."""
  row_codes = jnp.asarray(codes)[data.domain_id]
  data = data.replace(obs=jnp.concatenate([data.obs, row_codes], axis=-1),
                      next_obs=jnp.concatenate([data.next_obs, row_codes], axis=-1))
  return data, Spec((spec.obs_shape[0] + codes.shape[1],), spec.action_dim, spec.obs_dtype)


class ShiftedStateEnv:
  """A state `VectorEnv` seen through a biased perception: the calibrated pose with `bias_m`
  (2,) added to its lateral position, then `code`. `reset`/`step`/`success_log` as
  `lotj_finetune.HiddenRewardEnv`, so that `lotj_finetune.run_trials` practises on it."""

  def __init__(self, env, bias_m, code=()):
    self._env = env
    self.num_envs = env.num_envs
    self._bias = np.concatenate([np.asarray(bias_m, np.float32), np.zeros(4, np.float32)])
    self._code = np.broadcast_to(np.asarray(code, np.float32), (env.num_envs, len(code)))
    self.success_log: List[np.ndarray] = []

  def view(self, flat) -> np.ndarray:
    pose = np.asarray(insertion.split_observation(np.asarray(flat))["tcp_pose_in_socket"])
    return np.concatenate([pose + self._bias, self._code], axis=-1).astype(np.float32)

  def reset(self, seed: int) -> np.ndarray:
    return self.view(self._env.reset(seed))

  def step(self, actions: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    obs, _, _, truncated, info = self._env.step(actions)
    self.success_log.append(np.asarray(info["success"]))
    return self.view(info["final_obs"]), self.view(obs), np.asarray(truncated)


def evaluate_shifted_state(agent, task: tasks_lib.InsertionTask, trials: int, seed: int,
                           bias_m, code=()) -> int:
  """First-trial successes of a state IQL agent's deterministic action through
  `ShiftedStateEnv(bias_m, code)`."""
  from jaxinsert.agents import iql

  env = factory.make([task], backend="c", num_envs=trials)
  shifted = ShiftedStateEnv(env, bias_m, code)
  policy = jax.jit(lambda obs: iql.act(agent, obs, jax.random.PRNGKey(0), True))
  try:
    return int(_first_trial_success(env, lambda obs, _: np.asarray(policy(shifted.view(obs))),
                                    task.max_episode_steps, seed).sum())
  finally:
    env.close()


def finetune_shifted_state(agent, spec, offline, task: tasks_lib.InsertionTask, trials: int,
                           num_envs: int, updates_per_step: int, batch_size: int, seed: int,
                           act_noise: float, bias_m, code=(), capacity: int = 8192,
                           offline_ratio: float = lotj_finetune.OFFLINE_RATIO,
                           reward_offset: float = 0.0):
  """LOTJ's practice (`lotj_finetune.run_trials`: offline and online buffers mixed 75/25 unless
  `offline_ratio` says otherwise, trials of at most 20 steps ending at a success) by a state IQL
  agent through `ShiftedStateEnv`, labelled with the simulator's success: the upper bound of
  what practice can correct. `reward_offset` is added to the labels, as to the offline data's."""
  env = factory.make([task], backend="c", num_envs=num_envs, terminate_on_success=False)
  learner = lotj_finetune.start(agent, None, spec, capacity, reward_offset, agent_name="iql")
  return _practise(learner, env, ShiftedStateEnv(env, bias_m, code), offline, task, trials,
                   updates_per_step, batch_size, seed, act_noise, 0, True, offline_ratio)


def held_out_tasks(connector: str, scenario: str, camera_fovy_deg: Optional[float] = None
                   ) -> Sequence[tasks_lib.InsertionTask]:
  return lotj_data.lotj_tasks([connector], start=scenario, camera_fovy_deg=camera_fovy_deg)


def premise(reward_accuracy: float, zero_shot: Dict[str, int], trials: int) -> Dict[str, object]:
  """LOTJ-11: held-out reward accuracy beside zero-shot policy success there."""
  rates = {k: v / trials for k, v in zero_shot.items()}
  return {"reward_balanced_accuracy": reward_accuracy, "zero_shot_success": rates,
          "holds": bool(reward_accuracy > max(rates.values(), default=0.0))}


def localizer_targets(episodes) -> Dict[str, np.ndarray]:
  """Every stored image with the plug tip's calibrated position relative to the socket (m)."""
  images = [np.asarray(e["steps"]["observation"]["image"], np.uint8) for e in episodes]
  poses = [np.asarray(e["steps"]["observation"]["tcp_pose_in_socket"], np.float32)[:, :3]
           for e in episodes]
  return {"image": np.concatenate(images), "position": np.concatenate(poses)}


def train_localizer(config: ml_collections.ConfigDict, data: Dict[str, np.ndarray], seed: int,
                    chunk: int = 250, colour: bool = False):
  """The Localize baseline's regressor, `config.steps` updates on uniform random-shifted batches
  (colour-jittered too when `colour`)."""
  from jaxinsert.agents import localizer

  images = jnp.asarray(data["image"], jnp.uint8)
  positions = jnp.asarray(data["position"], jnp.float32)
  state = localizer.create(config, jax.random.PRNGKey(seed), images.shape[1:])

  def sample(key):
    row_key, shift_key = jax.random.split(key)
    rows = jax.random.randint(row_key, (config.batch_size,), 0, images.shape[0])
    batch = images[rows]
    if config.shift_pad:
      batch = samplers.random_shift(batch, shift_key, config.shift_pad)
    if colour:
      batch = samplers.colour_jitter(batch, jax.random.fold_in(key, 1))
    return batch, positions[rows]
  return _train_in_chunks(lambda state, batch, key: localizer.update(state, *batch), sample,
                          state, config.steps, seed, chunk, "localizer")


def localizer_error_mm(state, data: Dict[str, np.ndarray], batch: int = 1024) -> Dict[str, float]:
  """Root-mean-square error of the predicted position, per axis and lateral, in millimetres."""
  from jaxinsert.agents import localizer

  predict = jax.jit(localizer.predict)
  predicted = np.concatenate([np.asarray(predict(state, jnp.asarray(data["image"][i:i + batch])))
                              for i in range(0, len(data["image"]), batch)])
  error = (predicted - data["position"]) * localizer.MM_PER_M
  rms = np.sqrt(np.mean(error**2, axis=0))
  return {"x": float(rms[0]), "y": float(rms[1]), "z": float(rms[2]),
          "lateral": float(np.sqrt(np.mean(np.sum(error[:, :2]**2, axis=1))))}


def _collector_controller_on(task: tasks_lib.InsertionTask, trials: int, seed: int,
                             image_size: int, tips) -> int:
  """The collector's hand-designed controller (centreline within 1 mm, then down; no random
  actions) acting on the tip positions `tips(env, images)` (N, 3)."""
  controller = jax.jit(jax.vmap(
      lambda tip: controllers.centerline_then_down(task.config(), random_probability=0.0)(
          jax.random.PRNGKey(0), None, {"privileged": {"tip_in_socket": tip}})))
  return _score_on_images(task, trials, seed, image_size,
                          lambda env, obs: controller(tips(env, obs)))


def evaluate_localize(state, task: tasks_lib.InsertionTask, trials: int, seed: int,
                      image_size: int) -> int:
  """Localize: the collector's controller acting on the regressor's estimate from each image."""
  from jaxinsert.agents import localizer

  predict = jax.jit(lambda obs: localizer.predict(state, obs))
  return _collector_controller_on(task, trials, seed, image_size,
                                  lambda env, obs: predict(obs))


def evaluate_noisy_tip(task: tasks_lib.InsertionTask, trials: int, seed: int, image_size: int,
                       noise_m: float) -> int:
  """The collector's controller on the true tip position plus fresh Gaussian noise of `noise_m`
  per axis and step: the perception precision the insertion needs, without any learning."""
  rng = np.random.default_rng(seed)

  def tips(env, obs):
    true = _true_tips(env)
    return jnp.asarray(true + rng.normal(0.0, noise_m, true.shape), jnp.float32)
  return _collector_controller_on(task, trials, seed, image_size, tips)
