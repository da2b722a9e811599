"""Insertion tasks as the pipeline sees them: task lists from config strings, the residual
controller as an environment, and per-connector success evaluation on the CPU backend.

A policy here is `policy(obs) -> actions` on a batch (NumPy in and out), so the same evaluation
serves a learned agent, a scripted controller and residual RL. Residual RL (thesis Algorithm 6)
is an environment property: `ResidualVectorEnv` executes `clip(pi_H(s) + u)` and hands back only
what the agent chose, so the online trainer stores the residual `u` in its replay without
knowing about the controller, and the P controller alone is the residual env with `u = 0`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Dict, List, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxinsert.envs import controllers, episodes as episodes_lib, factory, tasks as tasks_lib
from jaxinsert.training import evaluation

Policy = Callable[[np.ndarray], np.ndarray]


def resolve(names: str, goal_noise_m: float = -1.0) -> List[tasks_lib.InsertionTask]:
  """Tasks named by a comma-separated string of "suite/task", "suite:split" or task names.

  A negative `goal_noise_m` keeps each task's own goal noise; otherwise it replaces it.
  Raises ValueError naming the entry that does not exist.
  """
  entries = [entry.strip() for entry in names.split(",") if entry.strip()]
  if not entries:
    raise ValueError("empty task list; name tasks as 'suite/task' or 'suite:split'")
  resolved: List[tasks_lib.InsertionTask] = []
  for entry in entries:
    try:
      resolved.extend(factory.resolve_tasks(entry))
    except KeyError as error:
      raise ValueError(f"unknown insertion task {entry!r}: {error.args[0]}") from None
  if goal_noise_m >= 0:
    resolved = [task.replace(goal_noise_m=goal_noise_m) for task in resolved]
  return resolved


def check_compatible(*task_lists: Sequence[tasks_lib.InsertionTask]) -> None:
  """One policy acts in every task: the action mode and episode length must agree."""
  kinds = {(t.action_mode, t.max_episode_steps) for tasks in task_lists for t in tasks}
  if len(kinds) != 1:
    listing = sorted({f"{t.name}: {t.action_mode}, {t.max_episode_steps} steps"
                      for tasks in task_lists for t in tasks})
    raise ValueError("tasks differ in action mode or episode length, so one policy cannot act "
                     f"in all of them: {listing}")


def task_names(tasks: Sequence[tasks_lib.InsertionTask]) -> List[str]:
  return [task.name for task in tasks]


class ResidualVectorEnv:
  """A VectorEnv that adds a scripted base controller to every action (see module doc)."""

  def __init__(self, env, base: str = "p_controller"):
    self.env = env
    self.num_envs = env.num_envs
    self.spec = env.spec
    self.config = env.config
    self._base = controllers.batched(controllers.make_policy(base, env.config))
    self._obs: Optional[np.ndarray] = None
    self._key = jax.random.PRNGKey(0)

  def __getattr__(self, name):  # task ids, policy_context, render, close, ...
    return getattr(self.env, name)

  def base_action(self) -> np.ndarray:
    self._key, key = jax.random.split(self._key)
    keys = jax.random.split(key, self.num_envs)
    return np.asarray(self._base(keys, jnp.asarray(self._obs), self.env.policy_context()))

  def reset(self, seed: int) -> np.ndarray:
    self._key = jax.random.PRNGKey(seed)
    self._obs = self.env.reset(seed)
    return self._obs

  def step(self, actions: np.ndarray):
    executed = np.clip(self.base_action() + np.asarray(actions), -1.0, 1.0).astype(np.float32)
    result = self.env.step(executed)
    self._obs = result[0]
    return result


def make_env(tasks: Sequence[tasks_lib.InsertionTask], num_envs: int, residual_base: str = "",
             **env_kwargs):
  """CPU-backend environments of `tasks` (env i runs tasks[i % len(tasks)]), residual or not."""
  env = factory.make(list(tasks), backend="c", num_envs=num_envs, **env_kwargs)
  return ResidualVectorEnv(env, residual_base) if residual_base else env


def collect_episodes(env, policy_name: str, noise: float, count: int, seed: int,
                     **policy_kwargs) -> List[Dict]:
  """`count` finished episodes of a scripted policy (plus Gaussian action noise of std `noise`),
  spread evenly over the environment's tasks (taken round-robin over its environments)."""
  num_envs = env.num_envs
  policy = controllers.make_policy(policy_name, env.config, **policy_kwargs)
  if noise > 0:
    policy = controllers.with_action_noise(policy, 0.0, noise)
  rounds = math.ceil(count / num_envs) + 1
  rollouts = episodes_lib.run_policy(env, controllers.batched(policy),
                                     env.config.max_episode_steps * rounds, seed)
  per_env: Dict[int, List[Dict]] = {}
  finished = episodes_lib.rollouts_to_episodes(rollouts)
  # rollouts_to_episodes lists environment 0's episodes first; take round-robin instead.
  env_index = np.repeat(np.arange(num_envs),
                        [int((rollouts["terminal"][:, i] | rollouts["truncated"][:, i]).sum())
                         for i in range(num_envs)])
  for episode, index in zip(finished, env_index):
    per_env.setdefault(int(index), []).append(episode)
  ordered = [e for rank in range(rounds + 1) for i in sorted(per_env)
             for e in per_env[i][rank:rank + 1]]
  return ordered[:count]


@dataclasses.dataclass(frozen=True)
class Normalizer:
  """obs -> (obs - mean) / std, fitted on offline data; saved as a run's normalisation.json."""

  mean: np.ndarray
  std: np.ndarray

  @classmethod
  def fit(cls, obs: np.ndarray, min_std: float = 1e-6) -> "Normalizer":
    obs = np.asarray(obs, np.float64)
    return cls(obs.mean(0).astype(np.float32),
               np.maximum(obs.std(0), min_std).astype(np.float32))

  def __call__(self, obs):
    return (obs - self.mean) / self.std

  def transitions(self, batch):
    return batch.replace(obs=jnp.asarray(self(np.asarray(batch.obs))),
                         next_obs=jnp.asarray(self(np.asarray(batch.next_obs))))

  def to_dict(self) -> Dict[str, Any]:
    return {"obs_mean": self.mean.tolist(), "obs_std": self.std.tolist()}


class NormalizedVectorEnv:
  """A VectorEnv whose observations (and info["final_obs"]) are normalised."""

  def __init__(self, env, normalizer: Normalizer):
    self.env = env
    self.normalizer = normalizer
    self.num_envs = env.num_envs
    self.spec = env.spec
    self.config = env.config

  def __getattr__(self, name):
    return getattr(self.env, name)

  def reset(self, seed: int) -> np.ndarray:
    return self.normalizer(self.env.reset(seed)).astype(np.float32)

  def step(self, actions: np.ndarray):
    obs, reward, terminal, truncated, info = self.env.step(actions)
    info = dict(info, final_obs=self.normalizer(info["final_obs"]).astype(np.float32))
    return self.normalizer(obs).astype(np.float32), reward, terminal, truncated, info


def agent_policy(agent, agent_state) -> Policy:
  """The deterministic policy of one (unbatched) agent state."""
  act = jax.jit(lambda state, obs: agent.act(state, obs, jax.random.PRNGKey(0), True))
  return lambda obs: np.asarray(act(agent_state, jnp.asarray(obs)))


def zero_policy(action_dim: int) -> Policy:
  return lambda obs: np.zeros((obs.shape[0], action_dim), np.float32)


@dataclasses.dataclass
class TaskEvaluator:
  """`trials` episodes per task, all tasks in one batch of environments, one episode each.

  Environment i runs tasks[i % len(tasks)], so every task gets exactly `trials` episodes from
  the same seeds on every call: before/after comparisons see the same starts and goal offsets.
  """

  tasks: Sequence[tasks_lib.InsertionTask]
  trials: int
  seed: int = 0
  residual_base: str = ""
  env_kwargs: Dict[str, Any] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    self.env = make_env(self.tasks, len(self.tasks) * self.trials, self.residual_base,
                        **self.env_kwargs)

  def __call__(self, policy: Policy) -> Dict[str, Any]:
    count = self.env.num_envs
    returns, successes, lengths = evaluation.evaluate_vector_env(self.env, policy, count,
                                                                 self.seed)
    names = np.array([self.tasks[i % len(self.tasks)].name for i in range(count)])
    per_task = {}
    for task in self.tasks:
      chosen = names == task.name
      per_task[task.name] = evaluation.summarize(returns[chosen], successes[chosen],
                                                 lengths[chosen])
    pooled = evaluation.summarize(returns, successes, lengths)
    # Trial by trial (environment order, same starts on every call): for paired comparisons.
    pooled["outcomes"] = np.asarray(successes, bool).astype(int).tolist()
    return {"pooled": pooled, "per_task": per_task}

  def close(self) -> None:
    self.env.close()


def flat_metrics(result: Dict[str, Any]) -> Dict[str, float]:
  """Scalars of an evaluation for the metrics log: pooled and per-task success rates."""
  metrics = {"success_rate": result["pooled"]["success_rate"],
             "return_mean": result["pooled"]["return_mean"]}
  for name, summary in result["per_task"].items():
    metrics[f"success_rate/{name}"] = summary["success_rate"]
  return metrics


def params_finite(tree: Any) -> bool:
  return all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree_util.tree_leaves(tree)
             if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating))
