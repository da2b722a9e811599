"""Batched rollouts of a `VectorEnv` and their conversion to RLDS-style episode dicts.

`run_policy` steps a VectorEnv (same-step autoreset) with a batched JAX policy and returns
time-major arrays. `rollouts_to_episodes` is the pure conversion to the data layer's episode
format: one dict per *finished* episode with `steps` = {observation: {feature: (L, ...)},
action (L, A), reward (L,), discount (L,), is_first, is_last, is_terminal} where step t holds
observation_t and the action taken there with the reward it earned, and the last step holds the
final observation with zero action and reward; plus episode-level `task_id`, `domain_id`.
Discount is 1 everywhere except 0 on the last step of a truly terminated episode.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

import jax
import numpy as np

from jaxinsert.envs import insertion


def run_policy(env, policy: Callable, num_steps: int, seed: int = 0,
               record_images: bool = False) -> Dict[str, np.ndarray]:
  """Runs `policy` (jit(vmap) over key, obs, context) for `num_steps` steps of `env`.

  Returns time-major arrays: obs (T, B, D) acted from, action, reward, terminal, truncated,
  final_obs (the true next observation), success, plus task_id/domain_id (B,), and, with
  `record_images`, image (T, B, H, W, C) and final_image. Residual policies returning
  (executed, stored) tuples store the second element as the action.
  """
  obs = env.reset(seed)
  key = jax.random.PRNGKey(seed + 1)
  out: Dict[str, list] = {k: [] for k in ("obs", "action", "executed_action", "reward",
                                          "terminal", "truncated", "final_obs", "success")}
  if record_images:
    out["image"], out["final_image"] = [], []
    image = env.render()
  for _ in range(num_steps):
    key, step_key = jax.random.split(key)
    keys = jax.random.split(step_key, env.num_envs)
    result = policy(keys, obs, env.policy_context())
    executed, stored = result if isinstance(result, tuple) else (result, result)
    executed = np.asarray(executed)
    next_obs, reward, terminal, truncated, info = env.step(executed)
    if record_images:
      final_image = env.render(qpos=env.last_final_qpos)
      out["image"].append(image)
      out["final_image"].append(final_image)
      image = env.render()
    for name, value in (("obs", obs), ("action", np.asarray(stored)), ("executed_action", executed),
                        ("reward", reward), ("terminal", terminal), ("truncated", truncated),
                        ("final_obs", info["final_obs"]), ("success", info["success"])):
      out[name].append(np.asarray(value))
    obs = next_obs
  result = {k: np.stack(v) for k, v in out.items()}
  result["task_id"] = np.asarray(env.task_ids)
  result["domain_id"] = np.asarray(env.domain_ids)
  return result


def rollouts_to_episodes(rollouts: Dict[str, np.ndarray],
                         split_features: Optional[Callable] = insertion.split_observation
                         ) -> List[Dict]:
  """Finished episodes of time-major `rollouts` (see `run_policy`) as episode dicts."""
  done = rollouts["terminal"] | rollouts["truncated"]
  num_steps, num_envs = done.shape
  episodes = []
  for env_index in range(num_envs):
    start = 0
    for t in range(num_steps):
      if not done[t, env_index]:
        continue
      episodes.append(_episode(rollouts, env_index, start, t, split_features))
      start = t + 1
  return episodes


def _episode(r, i, start, end, split_features) -> Dict:
  """Steps start..end of environment i (end = the step whose transition ended the episode)."""
  length = end - start + 2
  flat = np.concatenate([r["obs"][start:end + 1, i], r["final_obs"][end:end + 1, i]])
  observation = split_features(flat) if split_features else {"state": flat}
  observation = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in observation.items()}
  if "image" in r:
    observation["image"] = np.concatenate([r["image"][start:end + 1, i],
                                           r["final_image"][end:end + 1, i]])
  action_dim = r["action"].shape[-1]
  action = np.zeros((length, action_dim), np.float32)
  action[:-1] = r["action"][start:end + 1, i]
  reward = np.zeros(length, np.float32)
  reward[:-1] = r["reward"][start:end + 1, i]
  terminal = bool(r["terminal"][end, i])
  discount = np.ones(length, np.float32)
  if terminal:
    discount[-1] = 0.0
  is_first = np.zeros(length, bool)
  is_first[0] = True
  is_last = np.zeros(length, bool)
  is_last[-1] = True
  is_terminal = np.zeros(length, bool)
  is_terminal[-1] = terminal
  return {
      "steps": {"observation": observation, "action": action, "reward": reward,
                "discount": discount, "is_first": is_first, "is_last": is_last,
                "is_terminal": is_terminal},
      "task_id": int(r["task_id"][i]), "domain_id": int(r["domain_id"][i]),
  }
