"""Rollouts of latent-conditioned policies in a task family, the meta-test harness (SMAC S11)
and the z-shift diagnostic (SMAC Fig. 2, S10).

Every function takes the agent module (`pearl` or `smac`: both expose `act_with_latent` and
`posterior`) and a functional environment whose `reset(key, task)` takes the task parameters,
and is pure: callers jit (and vmap over seeds) the whole thing with `functools.partial`.

Meta-test (digest B.2.5): per task, T trajectories; the first with z ~ p(z) = N(0, I), then the
posterior of everything collected so far (with its true rewards) after each trajectory, z drawn
from it; deterministic actions. The score is the last trajectory's return ("post-adaptation");
every trajectory's return is kept.
"""

from __future__ import annotations

from typing import Dict, Tuple

import jax
import jax.numpy as jnp

from jaxinsert.data import task_replay
from jaxinsert.networks import context as context_lib
from jaxinsert.types import Transition


def rollout(env, agent, state, tasks: jax.Array, z: jax.Array, key: jax.Array,
            deterministic: bool) -> Transition:
  """One trajectory per row of `tasks` [n, ...] conditioned on z [n, latent]: leaves [n, T, ...]
  with the true rewards (mask 0 only on true terminations)."""
  reset_key, step_key = jax.random.split(key)
  count = z.shape[0]
  states = jax.vmap(env.reset)(jax.random.split(reset_key, count), tasks)

  def step(env_states, action_key):
    action = agent.act_with_latent(state, env_states.obs, z, action_key, deterministic)
    following = jax.vmap(env.step)(env_states, action)
    row = Transition(obs=env_states.obs, action=action, reward=following.reward,
                     mask=1.0 - following.terminal.astype(jnp.float32), next_obs=following.obs)
    return following, row

  _, rows = jax.lax.scan(step, states, jax.random.split(step_key, env.spec.max_episode_steps))
  return jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), rows)


def prior_latents(key: jax.Array, count: int, latent_dim: int) -> jax.Array:
  return jax.random.normal(key, (count, latent_dim))


def posterior_latents(agent, state, context: Transition, mask: jax.Array, key: jax.Array,
                      use_mean: bool = False) -> jax.Array:
  mu, variance = agent.posterior(state, state.encoder.params, context, mask)
  return mu if use_mean else context_lib.sample(key, mu, variance)


def meta_test(env, agent, state, tasks: jax.Array, key: jax.Array, num_trajectories: int = 3,
              repeats: int = 1, posterior_mean: bool = False) -> jax.Array:
  """Returns [tasks, repeats, num_trajectories]: each trajectory's return (S11 protocol)."""
  if num_trajectories < 1:
    raise ValueError(f"num_trajectories must be >= 1, got {num_trajectories}")
  count = tasks.shape[0] * repeats
  rows = jnp.repeat(tasks, repeats, axis=0)
  horizon = env.spec.max_episode_steps
  keys = jax.random.split(key, 2 * num_trajectories + 1)
  z = prior_latents(keys[0], count, state.config.latent_dim)
  history, returns = [], []
  for index in range(num_trajectories):
    trajectory = rollout(env, agent, state, rows, z, keys[1 + 2 * index], True)
    returns.append(jnp.sum(trajectory.reward, axis=1))
    history.append(trajectory)
    if index + 1 < num_trajectories:
      context = jax.tree_util.tree_map(lambda *x: jnp.concatenate(x, axis=1), *history)
      mask = jnp.ones((count, horizon * len(history)), jnp.float32)
      z = posterior_latents(agent, state, context, mask, keys[2 + 2 * index], posterior_mean)
  return jnp.stack(returns, -1).reshape(tasks.shape[0], repeats, num_trajectories)


def z_shift(env, agent, state, tasks: jax.Array, offline_encoder: task_replay.TaskBuffers,
            key: jax.Array, draws: int, context_size: int, online_trajectories: int = 4
            ) -> Dict[str, jax.Array]:
  """Fig. 2: KL(q(z | h) || p(z)) [tasks, draws] with h from the task's offline encoder data
  and with h from `online_trajectories` of the policy's own exploration (z ~ prior, its
  stochastic actions, true rewards), `context_size` rows each; the return of one
  deterministic trajectory conditioned on z from each [tasks, draws] (S10); and each context's
  mean true reward [tasks, draws] (how the two data sources differ, seen without the encoder)."""
  num_tasks = tasks.shape[0]
  keys = jax.random.split(key, 7)
  slots = jnp.arange(num_tasks)
  offline_rows = jax.vmap(lambda k: task_replay.sample(offline_encoder, k, slots, context_size)[0]
                          )(jax.random.split(keys[0], draws))          # [draws, tasks, C, ...]
  explore_tasks = jnp.repeat(tasks, online_trajectories, axis=0)
  explore_z = prior_latents(keys[1], explore_tasks.shape[0], state.config.latent_dim)
  explored = rollout(env, agent, state, explore_tasks, explore_z, keys[2], False)
  pool = jax.tree_util.tree_map(
      lambda x: x.reshape((num_tasks, -1) + x.shape[2:]), explored)   # [tasks, trajs * T, ...]
  pick = jax.random.randint(keys[3], (draws, num_tasks, context_size), 0, pool.reward.shape[1])
  online_rows = jax.tree_util.tree_map(
      lambda x: x[jnp.arange(num_tasks)[None, :, None], pick], pool)
  ones = jnp.ones((draws, num_tasks, context_size), jnp.float32)
  result = {}
  for name, rows, draw_key, run_key in (("offline", offline_rows, keys[4], keys[5]),
                                        ("online", online_rows, keys[6], keys[5])):
    mu, variance = agent.posterior(state, state.encoder.params, rows, ones)
    result[f"kl_{name}"] = jnp.swapaxes(context_lib.kl_to_standard_normal(mu, variance), 0, 1)
    result[f"context_reward_{name}"] = jnp.swapaxes(jnp.mean(rows.reward, -1), 0, 1)
    z = context_lib.sample(draw_key, mu, variance).reshape(-1, mu.shape[-1])
    run_tasks = jnp.tile(tasks, (draws, 1))
    trajectory = rollout(env, agent, state, run_tasks, z, run_key, True)
    result[f"return_{name}"] = jnp.sum(trajectory.reward, 1).reshape(draws, num_tasks).T
  return result


def summarize_returns(returns: jax.Array) -> Tuple[float, float]:
  """(mean post-adaptation return, mean first-trajectory return) of meta_test's output."""
  return float(jnp.mean(returns[..., -1])), float(jnp.mean(returns[..., 0]))
