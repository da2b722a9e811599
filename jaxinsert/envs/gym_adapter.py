"""A gymnasium adapter: one insertion environment as a `gymnasium.Env` (CPU backend).

Observation: the flat float32 state vector (or the uint8 image with obs_mode="image");
`info` carries "success" and the other privileged entries, plus "features" (named
observation dict). Episodes end with `terminated` on success and `truncated` at the time limit;
call `reset` after either (this adapter does not autoreset).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from jaxinsert.envs import factory, insertion


class InsertionGymEnv(gym.Env):
  metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

  def __init__(self, task="oda/rect-10x10", render_mode=None, **kwargs):
    self._env = factory.make(task, backend="c", num_envs=1, **kwargs)
    self.render_mode = render_mode
    spec = self._env.spec
    if len(spec.obs_shape) == 3:
      self.observation_space = gym.spaces.Box(0, 255, spec.obs_shape, np.uint8)
    else:
      self.observation_space = gym.spaces.Box(-np.inf, np.inf, spec.obs_shape, np.float32)
    self.action_space = gym.spaces.Box(-1.0, 1.0, (spec.action_dim,), np.float32)
    self._seed = 0

  def reset(self, *, seed=None, options=None):
    super().reset(seed=seed)
    if seed is not None:
      self._seed = seed
    obs = self._env.reset(self._seed)
    self._seed += 1
    return obs[0], {}

  def step(self, action):
    obs, reward, terminal, truncated, info = self._env.step(np.asarray(action)[None])
    # The vector env has already reset a finished episode: report the true final observation.
    final = info["final_obs"][0]
    out_info = {k: v[0] for k, v in info.items() if k != "final_obs"}
    if len(self._env.spec.obs_shape) == 1:
      out_info["features"] = insertion.split_observation(final)
    return final, float(reward[0]), bool(terminal[0]), bool(truncated[0]), out_info

  def render(self):
    return self._env.render()[0]

  def close(self):
    self._env.close()


def register():
  """Registers `jaxinsert/Insertion-v0` (pass task=... to gymnasium.make)."""
  if "jaxinsert/Insertion-v0" not in gym.registry:
    gym.register(id="jaxinsert/Insertion-v0", entry_point=InsertionGymEnv)
