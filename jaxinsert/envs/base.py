"""The two environment interfaces the training loops speak.

1. `FunctionalEnv`: pure `reset(key, task) -> EnvState` and `step(state, action) -> EnvState`,
   jit/vmap/scan-able (MJX insertion, probe MDPs, point mass). The state caches the observation,
   reward and end flags computed from the physics, so a rollout is one `lax.scan`.
2. `VectorEnv`: a host-side batch of environments with NumPy in/out (MuJoCo's C backend through
   `mujoco.rollout`, gymnasium environments). `FunctionalVectorEnv` adapts (1) to (2).

End flags: `terminal` is a true MDP termination (the critic must not bootstrap through it);
`truncated` is a time-limit end (it must). Both reset the episode under autoreset.
Privileged quantities (success, socket pose) live in `EnvState.privileged`: evaluation may
read them, a self-supervised learner must not.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional, Protocol, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct


@dataclasses.dataclass(frozen=True)
class EnvSpec:
  obs_shape: Tuple[int, ...]
  action_dim: int
  max_episode_steps: int


@struct.dataclass
class EnvState:
  physics: Any            # backend-specific pytree (MJX data, probe state, ...)
  task: Any               # task parameters pytree (ids, geometry, goal)
  obs: jax.Array          # observation of the current state
  reward: jax.Array       # reward of the transition that led here (0 after reset)
  terminal: jax.Array     # bool: true termination
  truncated: jax.Array    # bool: time limit reached
  step_count: jax.Array   # int32 steps since reset
  key: jax.Array          # per-environment randomness (noise, autoreset)
  privileged: Dict[str, jax.Array] = struct.field(default_factory=dict)

  @property
  def done(self) -> jax.Array:
    return jnp.logical_or(self.terminal, self.truncated)


class FunctionalEnv(Protocol):
  spec: EnvSpec

  def reset(self, key: jax.Array, task: Any = None) -> EnvState: ...

  def step(self, state: EnvState, action: jax.Array) -> EnvState: ...


def autoreset_step(env: FunctionalEnv, state: EnvState, action: jax.Array
                   ) -> Tuple[EnvState, EnvState]:
  """Steps `env`; where the episode ended, resets it (same task, fresh key).

  Returns (next_state_for_the_agent, state_after_the_step). The second is the true next state
  (its obs is the transition's next_obs, its flags the transition's end flags); the first is
  what the agent acts from next (the reset state where the episode ended).
  """
  stepped = env.step(state, action)
  reset_key, next_key = jax.random.split(stepped.key)
  fresh = env.reset(reset_key, stepped.task)
  stepped_for_reset = stepped.replace(key=next_key)
  following = jax.tree_util.tree_map(
      lambda a, b: jnp.where(_broadcast(stepped.done, a), a, b), fresh, stepped_for_reset)
  return following, stepped


def _broadcast(flag: jax.Array, like: jax.Array) -> jax.Array:
  return jnp.reshape(flag, flag.shape + (1,) * (jnp.ndim(like) - jnp.ndim(flag)))


class VectorEnv(Protocol):
  """Host-side batch of `num_envs` environments (NumPy arrays in and out).

  `step` resets finished environments itself (same step): the returned `obs` is the reset
  observation there, and `info["final_obs"]` holds every environment's true next observation.
  `info` may carry "success" (bool per environment, privileged).
  """

  num_envs: int
  spec: EnvSpec

  def reset(self, seed: int) -> np.ndarray: ...

  def step(self, actions: np.ndarray
           ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Dict[str, np.ndarray]]: ...


class FunctionalVectorEnv:
  """Runs a `FunctionalEnv` as a `VectorEnv`: one jitted, vmapped autoreset step per call."""

  def __init__(self, env: FunctionalEnv, num_envs: int, task: Any = None):
    self.env = env
    self.num_envs = num_envs
    self.spec = env.spec
    self._task = task
    self._state: Optional[EnvState] = None
    self._reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
    self._step = jax.jit(jax.vmap(lambda s, a: autoreset_step(env, s, a)))

  def reset(self, seed: int) -> np.ndarray:
    keys = jax.random.split(jax.random.PRNGKey(seed), self.num_envs)
    self._state = self._reset(keys, self._task)
    return np.asarray(self._state.obs)

  def step(self, actions):
    if self._state is None:
      raise RuntimeError("FunctionalVectorEnv.step called before reset")
    self._state, stepped = self._step(self._state, jnp.asarray(actions, jnp.float32))
    info = {"final_obs": np.asarray(stepped.obs)}
    if "success" in stepped.privileged:
      info["success"] = np.asarray(stepped.privileged["success"])
    return (np.asarray(self._state.obs), np.asarray(stepped.reward),
            np.asarray(stepped.terminal), np.asarray(stepped.truncated), info)
