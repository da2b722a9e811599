"""LOTJ's policy side: image IQL with DAIB trained offline leave-one-out, 20-trial evaluations
(learned and scripted), and self-rewarded finetuning on a held-out connector.

Every evaluation is the paper's protocol: 20 trials of at most 20 steps from the scenario's
start distribution, success counted by the simulator (the paper counted by hand); the learned
policy acts on images with the bottleneck's mean. Scripted baselines act on the state vector
(the nominal socket frame) as the controllers module defines them.
"""

from __future__ import annotations

from typing import Dict, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxinsert.agents import lotj
from jaxinsert.data import samplers, transitions
from jaxinsert.envs import controllers, factory
from jaxinsert.envs import tasks as tasks_lib
from jaxinsert.training import lotj_data, lotj_finetune


def image_transitions(episodes, image_size: int):
  """Transitions on the device with uint8 image observations (and domain ids)."""
  data, spec, _ = transitions.load_transitions(list(episodes), obs_keys=["image"],
                                               spec=lotj_data.spec_name(image_size))
  return data, spec


def train_offline(config: ml_collections.ConfigDict, data, spec, steps: int, batch_size: int,
                  seed: int, shift_pad: int = 2, chunk: int = 250):
  """One LOTJ agent trained `steps` updates on uniform, random-shifted batches."""
  if steps % chunk:
    raise ValueError(f"offline steps must be a multiple of {chunk}, got {steps}")
  agent = lotj.create(config, jax.random.PRNGKey(seed), spec)
  augment = samplers.shift_observations(shift_pad)

  @jax.jit
  def run(agent, key):
    def body(agent, key):
      sample_key, shift_key, update_key = jax.random.split(key, 3)
      batch = augment(samplers.uniform(data, sample_key, batch_size), shift_key)
      return lotj.update(agent, batch, update_key)
    agent, metrics = jax.lax.scan(body, agent, jax.random.split(key, chunk))
    return agent, jax.tree_util.tree_map(jnp.mean, metrics)

  key = jax.random.PRNGKey(seed + 1)
  metrics = {}
  for start in range(0, steps, chunk):
    agent, metrics = run(agent, jax.random.fold_in(key, start))
  return agent, {k: float(v) for k, v in metrics.items()}


def _first_trial_success(env, act, steps: int, seed: int) -> np.ndarray:
  """Success of each environment's first trial (one trial per environment)."""
  obs = env.reset(seed)
  done = np.zeros(env.num_envs, bool)
  success = np.zeros(env.num_envs, bool)
  for step in range(steps):
    next_obs, _, terminal, truncated, info = env.step(act(obs, step))
    fresh = ~done
    success |= fresh & np.asarray(info["success"])
    done |= np.asarray(terminal) | np.asarray(truncated)
    obs = next_obs
    if done.all():
      break
  return success


def evaluate_agent(agent: lotj.LOTJState, task: tasks_lib.InsertionTask, trials: int, seed: int,
                   image_size: int) -> int:
  env = factory.make([task], backend="c", num_envs=trials, obs_mode="image", image_size=image_size)
  policy = jax.jit(lambda obs: lotj.act(agent, obs, jax.random.PRNGKey(0), True))
  try:
    success = _first_trial_success(env, lambda obs, _: np.asarray(policy(jnp.asarray(obs))),
                                   task.max_episode_steps, seed)
  finally:
    env.close()
  return int(success.sum())


def evaluate_scripted(name: str, task: tasks_lib.InsertionTask, trials: int, seed: int) -> int:
  env = factory.make([task], backend="c", num_envs=trials)
  policy = controllers.batched(controllers.make_policy(name, env.config))
  key = jax.random.PRNGKey(seed)

  def act(obs, step):
    keys = jax.random.split(jax.random.fold_in(key, step), env.num_envs)
    return np.asarray(policy(keys, obs, env.policy_context()))
  try:
    return int(_first_trial_success(env, act, task.max_episode_steps, seed).sum())
  finally:
    env.close()


def finetune(agent: lotj.LOTJState, reward, spec, offline, task: tasks_lib.InsertionTask,
             trials: int, num_envs: int, updates_per_step: int, batch_size: int, seed: int,
             image_size: int, act_noise: float, capacity: int = 8192):
  """Self-rewarded practice: `trials` trials of 20 steps on `task` (num_envs at a time)."""
  if trials % num_envs:
    raise ValueError(f"trials ({trials}) must be a multiple of num_envs ({num_envs})")
  env = factory.make([task], backend="c", num_envs=num_envs, obs_mode="image",
                     image_size=image_size, terminate_on_success=False)
  hidden = lotj_finetune.HiddenRewardEnv(env)
  learner = lotj_finetune.start(agent, reward, spec, capacity)
  try:
    learner = lotj_finetune.run_trials(learner, hidden, offline, trials // num_envs,
                                       task.max_episode_steps, updates_per_step, batch_size, seed,
                                       act_noise)
  finally:
    env.close()
  log = np.stack(hidden.success_log)              # [steps, envs]
  per_trial = log.reshape(trials // num_envs, task.max_episode_steps, num_envs).any(axis=1)
  return learner, per_trial.reshape(-1).astype(int).tolist()


def held_out_tasks(connector: str, scenario: str) -> Sequence[tasks_lib.InsertionTask]:
  return lotj_data.lotj_tasks([connector], start=scenario)


def premise(reward_accuracy: float, zero_shot: Dict[str, int], trials: int) -> Dict[str, object]:
  """LOTJ-11: held-out reward accuracy beside zero-shot policy success there."""
  rates = {k: v / trials for k, v in zero_shot.items()}
  return {"reward_balanced_accuracy": reward_accuracy, "zero_shot_success": rates,
          "holds": bool(reward_accuracy > max(rates.values(), default=0.0))}
