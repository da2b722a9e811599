"""Environments by name, for evaluation and online finetuning.

A name is either one of jaxinsert's own environments (functional JAX environments, run as one
jitted rollout) or a gymnasium id such as "Hopper-v5" (stepped on the host through
`GymnasiumVectorEnv`, same-step autoreset like every `VectorEnv`).

`GymnasiumVectorEnv` is the one host loop over gymnasium environments: evaluation, online
finetuning, D4RL's SAC training and the scoring of stored policies all step through it. The
only other is `benchmarks.d4rl.protocol.rollout`, which writes D4RL's dataset layout (the
physics state before every step, per-environment row quotas, D4RL's reset seeds) and must keep
generating the same files.
"""

from __future__ import annotations

import importlib

import numpy as np

from jaxinsert.envs.base import EnvSpec, FunctionalEnv, FunctionalVectorEnv, VectorEnv

# jaxinsert environments that are plain functional environments: name -> "module:factory".
_FUNCTIONAL = {
    "pointmass": "jaxinsert.envs.pointmass:make_env",
}


def rescale_action(action: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
  """Policy actions in [-1, 1] (clipped) mapped onto the box [low, high], in the bounds' dtype:
  the one rescaler of every host loop that steps gymnasium environments."""
  low, high = np.asarray(low), np.asarray(high)
  action = np.clip(np.asarray(action, dtype=low.dtype), -1.0, 1.0)
  return low + (action + 1.0) * 0.5 * (high - low)


def is_gymnasium_id(name: str) -> bool:
  return name not in _FUNCTIONAL and "-v" in name


def make_functional_env(name: str, **kwargs) -> FunctionalEnv:
  if name not in _FUNCTIONAL:
    raise ValueError(f"unknown jaxinsert environment {name!r}; known: {sorted(_FUNCTIONAL)} "
                     "or any gymnasium id such as 'Hopper-v5'")
  module_name, factory = _FUNCTIONAL[name].split(":")
  return getattr(importlib.import_module(module_name), factory)(**kwargs)


def make_vector_env(name: str, num_envs: int, **kwargs) -> VectorEnv:
  """A host-side batch of `num_envs` environments of `name` (jaxinsert or gymnasium)."""
  if is_gymnasium_id(name):
    return GymnasiumVectorEnv(name, num_envs, **kwargs)
  return FunctionalVectorEnv(make_functional_env(name, **kwargs), num_envs)


class GymnasiumVectorEnv:
  """Several gymnasium environments stepped in turn, with same-step autoreset.

  Gymnasium's own vector environments reset on the step *after* an episode ends; the training
  loops want the true final observation and the reset observation from the same call, so this
  adapter keeps its own list. Actions in [-1, 1] are rescaled to each environment's box.
  """

  def __init__(self, env_id: str, num_envs: int, **make_kwargs):
    import gymnasium

    try:
      self.envs = [gymnasium.make(env_id, **make_kwargs) for _ in range(num_envs)]
    except gymnasium.error.Error as error:
      raise ValueError(f"gymnasium cannot make {env_id!r}: {error}") from error
    space = self.envs[0].action_space
    if not isinstance(space, gymnasium.spaces.Box):
      raise ValueError(f"{env_id}: only continuous (Box) action spaces are supported, got {space}")
    self._low, self._high = space.low.astype(np.float64), space.high.astype(np.float64)
    observation_shape = self.envs[0].observation_space.shape
    horizon = self.envs[0].spec.max_episode_steps if self.envs[0].spec else None
    self.num_envs = num_envs
    self.spec = EnvSpec(tuple(observation_shape), int(np.prod(space.shape)), int(horizon or 1000))
    self._seed = 0

  def reset(self, seed: int) -> np.ndarray:
    self._seed = seed
    return np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(self.envs)]).astype(np.float32)

  def step(self, actions: np.ndarray):
    scaled = rescale_action(actions, self._low, self._high)
    observations, rewards, terminals, truncations, finals, successes = [], [], [], [], [], []
    for env, action in zip(self.envs, scaled):
      obs, reward, terminated, truncated, info = env.step(action)
      finals.append(obs)
      successes.append(bool(info.get("success", info.get("is_success", False))))
      if terminated or truncated:
        self._seed += self.num_envs
        obs, _ = env.reset(seed=self._seed)
      observations.append(obs)
      rewards.append(reward)
      terminals.append(terminated)
      truncations.append(truncated)
    info = {"final_obs": np.stack(finals).astype(np.float32), "success": np.array(successes)}
    return (np.stack(observations).astype(np.float32), np.array(rewards, np.float32),
            np.array(terminals), np.array(truncations), info)

  def close(self) -> None:
    for env in self.envs:
      env.close()
