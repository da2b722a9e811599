"""Online finetuning: environment steps interleaved with updates, replay seeded offline.

Per iteration: act with exploration in `num_envs` environments, append the transitions to an
on-device replay ring, then run `num_envs * updates_per_env_step` updates in one jitted scan.
Each batch mixes a fraction `offline_ratio` from the offline dataset with the rest from the
replay ring; with `initialize_replay_with_offline` the ring starts out holding the offline data
(the official IQL finetuning protocol, used with offline_ratio = 0).

Resuming restores the agent, the replay ring, keys and counters; environments restart from a
reset, so an online run resumes faithfully but not bit-for-bit (host environments such as
gymnasium cannot be checkpointed). Only one seed per online run.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import struct
from tqdm import tqdm

from jaxinsert.agents import get_agent
from jaxinsert.data import replay, samplers
from jaxinsert.envs.base import VectorEnv
from jaxinsert.training import checkpoints, logging, offline
from jaxinsert.types import Spec, Transition


@struct.dataclass
class OnlineState:
  agent: Any
  buffer: Any
  key: jax.Array
  env_steps: jax.Array       # environment steps taken (summed over environments)
  episodes: jax.Array        # episodes finished online
  successes: jax.Array       # of which successful (privileged signal, for reporting only)


def make_online_update(agent, batch_size: int, num_updates: int, offline_ratio: float) -> Callable:
  """Returns `update(agent_state, buffer, offline_data, key) -> (agent_state, key, metrics)`."""

  def update(agent_state, buffer, offline_data, key):
    def sample(sample_key):
      if offline_ratio > 0:
        return samplers.mixed(offline_data, buffer, sample_key, batch_size, offline_ratio)
      return replay.sample(buffer, sample_key, batch_size)

    return offline.scan_updates(agent.update, sample, agent_state, key, num_updates)

  return update


def exploration_rng(state: OnlineState) -> np.random.Generator:
  """The host generator of exploration noise: from the run's key (so from its seed) and the
  environment step it starts at, so seeds explore differently and a resumed run continues
  with the noise it would have drawn."""
  return np.random.default_rng([*np.asarray(jax.random.key_data(state.key)).tolist(),
                                int(state.env_steps)])


class OnlineBookkeeping:
  """What both online loops (this host loop, `online_scan`'s scanned one) do where their steps
  stop: the divergence checks, the metric records, the evaluations and the checkpoints."""

  def _open_records(self, config: ml_collections.ConfigDict, workdir: str, spec: Spec,
                    description: Dict[str, Any]) -> None:
    self.checkpointer = checkpoints.Checkpointer(
        os.path.join(workdir, "checkpoints_online"),
        offline.run_description(config, spec) | description, keep=config.keep_checkpoints)
    self.logger = logging.MetricsLogger(workdir)

  def _at_boundary(self, state, steps: int, metrics, due_eval: bool, due_save: bool, last: bool,
                   extra: Dict[str, Any]) -> None:
    if due_eval or due_save or last:
      # Never evaluate or save a diverged agent: the newest checkpoint stays the last good one.
      metrics = jax.device_get(metrics)
      offline.check_finite(metrics, steps, self.checkpointer, self.spec.action_dim)
    if due_eval:
      self.logger.write(steps, dict(metrics, **extra), prefix="online/")
      self.evaluate(state)
    if due_save:
      offline.check_state_finite(state.agent, steps, self.checkpointer)
      self.checkpointer.save(steps, state)

  def _save_final(self, state, steps: int) -> None:
    if self.checkpointer.latest_step() != steps:
      offline.check_state_finite(state.agent, steps, self.checkpointer)
      self.checkpointer.save(steps, state)

  def close(self) -> None:
    self.logger.close()
    self.checkpointer.close()


class OnlineTrainer(OnlineBookkeeping):
  """Finetunes one seed online in `vec_env`; `agent_state` usually comes from offline training."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, offline_data: Transition,
               spec: Spec, vec_env: VectorEnv,
               evaluator: Optional[Callable[[Any, int], Dict[str, Any]]] = None,
               progress: bool = True):
    from jaxinsert.training import config as run_config

    run_config.validate(config)
    if config.num_seeds != 1:
      raise ValueError("online finetuning runs one seed per process (config.num_seeds=1)")
    self.config = config
    self.workdir = workdir
    self.spec = spec
    self.agent = get_agent(config.agent_name)
    self.vec_env = vec_env
    self.offline_data = offline_data
    self.evaluator = evaluator
    self.progress = progress
    updates = vec_env.num_envs * config.updates_per_env_step
    self._update = jax.jit(make_online_update(self.agent, config.batch_size, updates,
                                              config.offline_ratio), donate_argnums=(0,))
    self._add = jax.jit(replay.add, donate_argnums=(0,))
    mean = bool(config.get("explore_with_mean", False))
    self._act = jax.jit(lambda state, obs, key: self.agent.act(state, obs, key, mean))
    self._open_records(config, workdir, spec, {"phase": "online"})

  def initial_state(self, agent_state: Any, seed: int) -> OnlineState:
    if self.config.get("initialize_replay_with_offline", False):
      buffer = replay.from_transitions(self.offline_data, self.config.replay_capacity)
    else:
      buffer = replay.init(self.spec, self.config.replay_capacity)
    template = OnlineState(agent=agent_state, buffer=buffer, key=jax.random.PRNGKey(seed),
                           env_steps=jnp.zeros((), jnp.int32), episodes=jnp.zeros((), jnp.int32),
                           successes=jnp.zeros((), jnp.int32))
    restored = self.checkpointer.restore_latest(template)
    self.logger.drop_after(0 if restored is None else restored[0])
    return offline.own_buffers(template if restored is None else restored[1])

  def train(self, state: OnlineState) -> OnlineState:
    config, env = self.config, self.vec_env
    total = config.online_steps * env.num_envs
    bar = tqdm(total=total, initial=int(state.env_steps), desc=f"{config.agent_name} online",
               unit="env step", disable=not self.progress, dynamic_ncols=True)
    obs = env.reset(int(jax.random.randint(state.key, (), 0, 2**30)))
    noise_rng = exploration_rng(state)
    steps, episodes, successes = int(state.env_steps), int(state.episodes), int(state.successes)
    key, agent_state, buffer = state.key, state.agent, state.buffer
    running_success = np.zeros(env.num_envs, bool)
    stop_after = int(config.get("stop_after_consecutive_successes", 0))
    streak, self.stopped_early = 0, False
    last_eval = steps // config.eval_interval if config.eval_interval else 0
    last_save = steps // config.checkpoint_interval if config.checkpoint_interval else 0
    started = time.perf_counter()
    while steps < total:
      key, act_key = jax.random.split(key)
      actions = np.asarray(self._act(agent_state, jnp.asarray(obs), act_key))
      if config.exploration_noise:
        actions = actions + noise_rng.normal(0.0, config.exploration_noise, actions.shape)
      actions = np.clip(actions, -1.0, 1.0).astype(np.float32)
      next_obs, reward, terminal, truncated, info = env.step(actions)
      batch = Transition(obs=jnp.asarray(obs), action=jnp.asarray(actions),
                         reward=jnp.asarray(reward, jnp.float32),
                         mask=jnp.asarray(1.0 - terminal.astype(np.float32)),
                         next_obs=jnp.asarray(info["final_obs"]),
                         task_id=jnp.zeros(env.num_envs, jnp.int32),
                         domain_id=jnp.zeros(env.num_envs, jnp.int32))
      buffer = self._add(buffer, batch)
      agent_state, key, metrics = self._update(agent_state, buffer, self.offline_data, key)
      steps += env.num_envs
      running_success |= np.asarray(info.get("success", np.zeros(env.num_envs, bool)), bool)
      ended = np.logical_or(terminal, truncated)
      episodes += int(ended.sum())
      successes += int(running_success[ended].sum())
      for succeeded in running_success[ended]:     # episodes ending together, in env order
        streak = streak + 1 if succeeded else 0
        self.stopped_early |= bool(stop_after) and streak >= stop_after
      running_success[ended] = False
      obs = next_obs
      bar.update(env.num_envs)
      state = OnlineState(agent=agent_state, buffer=buffer, key=key,
                          env_steps=jnp.asarray(steps, jnp.int32),
                          episodes=jnp.asarray(episodes, jnp.int32),
                          successes=jnp.asarray(successes, jnp.int32))
      due_eval = bool(config.eval_interval) and steps // config.eval_interval > last_eval
      due_save = bool(config.checkpoint_interval) and steps // config.checkpoint_interval > last_save
      self._at_boundary(state, steps, metrics, due_eval, due_save,
                        steps >= total or self.stopped_early,
                        dict(episodes=episodes, successes=successes,
                             env_steps_per_second=steps / max(time.perf_counter() - started, 1e-9)))
      if due_eval:
        last_eval = steps // config.eval_interval
      if due_save:
        last_save = steps // config.checkpoint_interval
      if self.stopped_early:
        break
    bar.close()
    self._save_final(state, steps)
    return state

  def evaluate(self, state: OnlineState) -> Optional[Dict[str, Any]]:
    if self.evaluator is None:
      return None
    seeded = jax.tree_util.tree_map(lambda x: x[None], state.agent)
    summary = self.evaluator(seeded, int(state.env_steps))
    self.logger.write(int(state.env_steps),
                      {k: v for k, v in summary.items() if not isinstance(v, tuple)}
                      | {"online_episodes": int(state.episodes)}, prefix="eval/")
    return summary
