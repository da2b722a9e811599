"""Online finetuning as one compiled program for functional environments, seeds vmapped.

The host loop of `online.OnlineTrainer` dispatches an action, a step, an insert and an update
per environment step for one seed. For a `FunctionalEnv` (point mass, probe MDPs, MJX
insertion) the whole iteration is pure, so here `lax.scan` runs `chunk` iterations (act with
exploration noise, autoreset step of every environment, insert into the replay ring,
`num_envs * updates_per_env_step` updates through `offline.scan_updates`) and `vmap` runs every
seed at once. The host wakes once per chunk to log, evaluate and checkpoint; a chunk is the
largest number of iterations that divides the evaluation and checkpoint intervals.

State per seed: the agent, its replay ring, its key, its environments and its counters. The
environments are checkpointed too, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, Optional

import jax
import jax.numpy as jnp
import ml_collections
from flax import struct
from tqdm import tqdm

from jaxinsert.agents import get_agent
from jaxinsert.data import replay
from jaxinsert.envs.base import EnvState, FunctionalEnv, autoreset_step
from jaxinsert.training import offline
from jaxinsert.training.online import OnlineBookkeeping, make_online_update
from jaxinsert.types import Spec, Transition


@struct.dataclass
class ScannedOnlineState:
  agent: Any
  buffer: Any
  env: EnvState
  running_success: jax.Array  # per environment: this episode has succeeded
  key: jax.Array
  env_steps: jax.Array        # environment steps taken (summed over environments)
  episodes: jax.Array
  successes: jax.Array


def chunk_iterations(config: ml_collections.ConfigDict, num_envs: int) -> int:
  """Iterations per compiled call: every evaluation and checkpoint falls on a chunk boundary."""
  total = config.online_steps * num_envs
  boundary = math.gcd(total, *(interval for interval in (config.eval_interval, config.checkpoint_interval)
                              if interval))
  if boundary % num_envs:
    raise ValueError(f"config.eval_interval={config.eval_interval} and config.checkpoint_interval="
                     f"{config.checkpoint_interval} must be multiples of config.env.num_envs={num_envs} "
                     "(they count environment steps summed over environments)")
  return boundary // num_envs


def make_chunk(agent, env: FunctionalEnv, config: ml_collections.ConfigDict, num_envs: int,
               iterations: int) -> Callable:
  """`chunk(state, offline_data) -> (state, mean metrics)` for one seed; vmap it for seeds."""
  update = make_online_update(agent, config.batch_size, num_envs * config.updates_per_env_step,
                              config.offline_ratio)
  step = jax.vmap(lambda s, a: autoreset_step(env, s, a))
  noise = float(config.exploration_noise)
  mean = bool(config.get("explore_with_mean", False))

  def iteration(state, offline_data):
    key, act_key, noise_key = jax.random.split(state.key, 3)
    obs = state.env.obs
    actions = agent.act(state.agent, obs, act_key, mean)
    if noise:
      actions = actions + noise * jax.random.normal(noise_key, actions.shape)
    actions = jnp.clip(actions, -1.0, 1.0)
    following, stepped = step(state.env, actions)
    buffer = replay.add(state.buffer, Transition(
        obs=obs, action=actions, reward=stepped.reward.astype(jnp.float32),
        mask=1.0 - stepped.terminal.astype(jnp.float32), next_obs=stepped.obs,
        task_id=jnp.zeros(num_envs, jnp.int32), domain_id=jnp.zeros(num_envs, jnp.int32)))
    agent_state, key, metrics = update(state.agent, buffer, offline_data, key)
    success = stepped.privileged.get("success", jnp.zeros(num_envs, bool))
    running = state.running_success | success
    ended = stepped.done
    state = state.replace(
        agent=agent_state, buffer=buffer, env=following, key=key, running_success=running & ~ended,
        env_steps=state.env_steps + num_envs, episodes=state.episodes + jnp.sum(ended),
        successes=state.successes + jnp.sum(running & ended))
    return state, metrics

  def chunk(state, offline_data):
    # The offline data never changes: closed over, not carried through the loop.
    state, metrics = jax.lax.scan(lambda carry, _: iteration(carry, offline_data), state, None,
                                  length=iterations)
    return state, jax.tree_util.tree_map(jnp.mean, metrics)

  return chunk


class ScannedOnlineTrainer(OnlineBookkeeping):
  """Finetunes `config.num_seeds` seeds online in a functional environment, one compiled call per
  chunk. `agent_states` carry a leading seed axis (the offline trainer's output)."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, offline_data: Transition,
               spec: Spec, env: FunctionalEnv,
               evaluator: Optional[Callable[[Any, int], Dict[str, Any]]] = None,
               progress: bool = True):
    from jaxinsert.training import config as run_config

    run_config.validate(config)
    self.config, self.workdir, self.spec, self.env = config, workdir, spec, env
    self.num_envs = config.env.num_envs
    self.agent = get_agent(config.agent_name)
    self.offline_data = offline_data
    self.evaluator = evaluator
    self.progress = progress
    self.iterations = chunk_iterations(config, self.num_envs)
    chunk = make_chunk(self.agent, env, config, self.num_envs, self.iterations)
    self._chunk = jax.jit(offline.vmap_seeds(chunk, (0, None)), donate_argnums=(0,))
    self._open_records(config, workdir, spec, {"phase": "online", "loop": "scan"})

  def initial_state(self, agent_states: Any, seed: int) -> ScannedOnlineState:
    config, num_envs = self.config, self.num_envs
    seeds = jax.tree_util.tree_leaves(agent_states)[0].shape[0]
    if config.get("initialize_replay_with_offline", False):
      buffer = replay.from_transitions(self.offline_data, config.replay_capacity)
    else:
      buffer = replay.init(self.spec, config.replay_capacity)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(seed), i))(jnp.arange(seeds))
    run_keys, env_keys = jnp.split(jax.vmap(jax.random.split)(keys), 2, axis=1)
    reset = jax.vmap(jax.vmap(self.env.reset, in_axes=(0, None)), in_axes=(0, None))
    envs = reset(jax.vmap(lambda k: jax.random.split(k, num_envs))(env_keys[:, 0]), None)
    zeros = jnp.zeros((seeds,), jnp.int32)
    template = ScannedOnlineState(
        agent=agent_states, buffer=jax.tree_util.tree_map(lambda x: jnp.stack([x] * seeds), buffer),
        env=envs, running_success=jnp.zeros((seeds, num_envs), bool), key=run_keys[:, 0],
        env_steps=zeros, episodes=zeros, successes=zeros)
    restored = self.checkpointer.restore_latest(template)
    self.logger.drop_after(0 if restored is None else restored[0])
    return offline.own_buffers(template if restored is None else restored[1])

  def train(self, state: ScannedOnlineState) -> ScannedOnlineState:
    config = self.config
    total = config.online_steps * self.num_envs
    steps = int(state.env_steps[0])
    per_call = self.iterations * self.num_envs
    bar = tqdm(total=total, initial=steps, desc=f"{config.agent_name} online (scan)", unit="env step",
               disable=not self.progress, dynamic_ncols=True)
    started, start_steps = time.perf_counter(), steps
    while steps < total:
      state, metrics = self._chunk(state, self.offline_data)
      steps += per_call
      bar.update(per_call)
      due_eval = bool(config.eval_interval) and steps % config.eval_interval == 0
      due_save = bool(config.checkpoint_interval) and steps % config.checkpoint_interval == 0
      rate = (steps - start_steps) / max(time.perf_counter() - started, 1e-9)
      self._at_boundary(state, steps, metrics, due_eval, due_save, steps >= total,
                        dict(episodes=state.episodes, successes=state.successes,
                             env_steps_per_second=rate * state.env_steps.shape[0]))
    bar.close()
    self._save_final(state, steps)
    return state

  def evaluate(self, state: ScannedOnlineState) -> Optional[Dict[str, Any]]:
    if self.evaluator is None:
      return None
    summary = self.evaluator(state.agent, int(state.env_steps[0]))
    self.logger.write(int(state.env_steps[0]),
                      {k: v for k, v in summary.items() if not isinstance(v, tuple)}
                      | {"online_episodes": [int(e) for e in state.episodes]}, prefix="eval/")
    return summary
