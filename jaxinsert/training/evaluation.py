"""Policy evaluation: N deterministic episodes, returns and success with 95% intervals.

Two paths with the same summary: `evaluate_functional` rolls a `FunctionalEnv` out as one
jitted `lax.scan` over steps, vmapped over episodes (and over seeds by the caller);
`evaluate_vector_env` steps a host-side `VectorEnv` (MuJoCo's C backend, gymnasium).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from jaxinsert.envs.base import FunctionalEnv, VectorEnv


def wilson_interval(successes: int, trials: int, confidence: float = 0.95):
  """Wilson score interval for a binomial proportion (sensible at k = 0 or k = n)."""
  if trials == 0:
    return (0.0, 1.0)
  z = stats.norm.ppf(0.5 + confidence / 2)
  rate = successes / trials
  denominator = 1 + z * z / trials
  centre = (rate + z * z / (2 * trials)) / denominator
  half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / denominator
  return (max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(values: np.ndarray, confidence: float = 0.95):
  """Student-t interval of the mean."""
  values = np.asarray(values, dtype=float)
  if values.size < 2:
    return (float(values.mean()), float(values.mean())) if values.size else (math.nan, math.nan)
  half = stats.t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size)
  return (float(values.mean() - half), float(values.mean() + half))


def mcnemar_exact(before: Sequence[bool], after: Sequence[bool]) -> Dict[str, Any]:
  """Exact McNemar test of paired binary outcomes (the same trials before and after).

  Only discordant pairs count: `gained` failed before and succeeded after, `lost` the reverse.
  Under "no change" each discordant pair is a fair coin; the p-value is two-sided.
  """
  before = np.asarray(before, bool).reshape(-1)
  after = np.asarray(after, bool).reshape(-1)
  if before.shape != after.shape:
    raise ValueError(f"paired outcomes need equal lengths, got {before.size} and {after.size}")
  gained = int(np.sum(~before & after))
  lost = int(np.sum(before & ~after))
  n = gained + lost
  p_value = float(stats.binomtest(gained, n, 0.5).pvalue) if n else 1.0
  return {"gained": gained, "lost": lost, "p_value": p_value}


def summarize(returns: np.ndarray, successes: np.ndarray, lengths: np.ndarray) -> Dict[str, Any]:
  returns = np.asarray(returns, dtype=float).reshape(-1)
  successes = np.asarray(successes, dtype=bool).reshape(-1)
  k, n = int(successes.sum()), int(successes.size)
  return {
      "return_mean": float(returns.mean()),
      "return_std": float(returns.std()),
      "return_ci95": mean_interval(returns),
      "success_rate": k / n if n else math.nan,
      "success_k": k,
      "success_n": n,
      "success_ci95": wilson_interval(k, n),
      "episode_length_mean": float(np.mean(lengths)),
      "episodes": n,
  }


def make_functional_rollout(env: FunctionalEnv, act: Callable, num_episodes: int,
                            task: Any = None) -> Callable:
  """Returns `rollout(agent_state, key) -> (returns, successes, lengths)`, jit/vmap-able.

  Each episode runs until its first end (no autoreset); steps after the end are ignored.
  """
  horizon = env.spec.max_episode_steps

  def one_episode(agent_state, key):
    reset_key, act_key = jax.random.split(key)
    env_state = env.reset(reset_key, task)

    def body(carry, step_key):
      state, total, success, length, alive = carry
      action = act(agent_state, state.obs, step_key, True)
      following = env.step(state, action)
      total = total + jnp.where(alive, following.reward, 0.0)
      succeeded = following.privileged.get("success", jnp.zeros((), bool))
      success = jnp.logical_or(success, jnp.logical_and(alive, succeeded))
      length = length + alive.astype(jnp.int32)
      alive = jnp.logical_and(alive, jnp.logical_not(following.done))
      return (following, total, success, length, alive), None

    carry = (env_state, jnp.zeros(()), jnp.zeros((), bool), jnp.zeros((), jnp.int32),
             jnp.ones((), bool))
    (_, total, success, length, _), _ = jax.lax.scan(
        body, carry, jax.random.split(act_key, horizon))
    return total, success, length

  def rollout(agent_state, key):
    keys = jax.random.split(key, num_episodes)
    return jax.vmap(one_episode, in_axes=(None, 0))(agent_state, keys)

  return rollout


def evaluate_vector_env(vec_env: VectorEnv, policy: Callable[[np.ndarray], np.ndarray],
                        num_episodes: int, seed: int = 0):
  """Steps `vec_env` with `policy` until `num_episodes` episodes have ended.

  Each environment contributes its first ceil(num_episodes / num_envs) episodes, so short
  episodes are not over-represented (counting episodes in order of ending would bias the mean
  toward whatever ends early). Returns (returns, successes, lengths) arrays of num_episodes.
  """
  per_env = -(-num_episodes // vec_env.num_envs)
  obs = vec_env.reset(seed)
  totals = np.zeros(vec_env.num_envs)
  lengths = np.zeros(vec_env.num_envs, dtype=np.int64)
  succeeded = np.zeros(vec_env.num_envs, dtype=bool)
  finished = [[] for _ in range(vec_env.num_envs)]
  while min(len(f) for f in finished) < per_env:
    obs, reward, terminal, truncated, info = vec_env.step(policy(obs))
    totals += reward
    lengths += 1
    if "success" in info:
      succeeded |= np.asarray(info["success"], dtype=bool)
    for index in np.flatnonzero(np.logical_or(terminal, truncated)):
      if len(finished[index]) < per_env:
        finished[index].append((totals[index], succeeded[index], lengths[index]))
      totals[index], lengths[index], succeeded[index] = 0.0, 0, False
  episodes = [episode for rank in range(per_env) for env_episodes in finished
              for episode in env_episodes[rank:rank + 1]][:num_episodes]
  returns, successes, episode_lengths = (np.array(column) for column in zip(*episodes))
  return returns, successes, episode_lengths


def make_evaluator(agent, env_name: str, num_episodes: int, num_envs: int = 10, seed: int = 0,
                   env_kwargs: Dict[str, Any] | None = None) -> Callable[[Any, int], Dict[str, Any]]:
  """Returns `evaluate(agent_states, step) -> summary` for states with a leading seed axis.

  jaxinsert's functional environments are evaluated in one jitted program for all seeds;
  gymnasium environments on the host, seed after seed. The summary pools every seed's
  episodes and also lists per-seed means (`return_mean_per_seed`, `success_rate_per_seed`).
  """
  from jaxinsert.training import environments

  env_kwargs = env_kwargs or {}
  if environments.is_gymnasium_id(env_name):
    vec_env = environments.make_vector_env(env_name, num_envs, **env_kwargs)
    act = jax.jit(lambda state, obs: agent.act(state, obs, jax.random.PRNGKey(0), True))

    def evaluate(agent_states, step):
      num_seeds = jax.tree_util.tree_leaves(agent_states)[0].shape[0]
      per_seed = []
      for index in range(num_seeds):
        seed_state = jax.tree_util.tree_map(lambda x: x[index], agent_states)
        policy = lambda obs: np.asarray(act(seed_state, jnp.asarray(obs)))
        per_seed.append(evaluate_vector_env(vec_env, policy, num_episodes, seed=seed + 1000 * index))
      return _pooled(per_seed)

    return evaluate

  env = environments.make_functional_env(env_name, **env_kwargs)
  rollout = jax.jit(jax.vmap(make_functional_rollout(env, agent.act, num_episodes)))

  def evaluate(agent_states, step):
    num_seeds = jax.tree_util.tree_leaves(agent_states)[0].shape[0]
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(seed), i))(jnp.arange(num_seeds))
    returns, successes, lengths = jax.device_get(rollout(agent_states, keys))
    return _pooled(list(zip(returns, successes, lengths)))

  return evaluate


def _pooled(per_seed) -> Dict[str, Any]:
  returns = np.concatenate([np.asarray(r) for r, _, _ in per_seed])
  successes = np.concatenate([np.asarray(s) for _, s, _ in per_seed])
  lengths = np.concatenate([np.asarray(l) for _, _, l in per_seed])
  summary = summarize(returns, successes, lengths)
  summary["return_mean_per_seed"] = [float(np.mean(r)) for r, _, _ in per_seed]
  summary["success_rate_per_seed"] = [float(np.mean(s)) for _, s, _ in per_seed]
  return summary
