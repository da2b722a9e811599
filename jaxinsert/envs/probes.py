"""Probe MDPs: tiny functional environments whose values are known in closed form.

Each isolates one piece of an agent, so a broken piece fails in seconds, not after a day:
  OneStepProbe        constant obs, reward 1, terminal after one step: V = Q = 1 (value fitting
                      and the terminal mask).
  TwoStepProbe        obs tells step 0 from step 1, reward 1 only on the second step, then
                      terminal: V(s0) = discount, V(s1) = 1 (bootstrapping and discounting).
  ActionRewardProbe   constant obs, reward 1 - mean((a - target)^2), terminal after one step:
                      Q(s, a) is the reward, the best action is `target` (policy improvement).
Every probe has `states()` (its distinct non-terminal observations), `optimal_values(discount)`
(V* of each), and `q_value(obs, action, discount)` (the analytic Q, for any policy). All probes
share the observation shape (2,), so one compiled agent can train on all three at once (vmap).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp

from jaxinsert.envs.base import EnvSpec, EnvState
from jaxinsert.envs.rollout import Behaviour, UniformBehaviour, collect_episodes
from jaxinsert.types import Transition


_CONSTANT_OBS = jnp.array([1.0, 1.0])   # the single state of the one-step probes


def _state(key: jax.Array, step: jax.Array, obs: jax.Array, reward: jax.Array,
           terminal: jax.Array, task: Any, max_episode_steps: int) -> EnvState:
  terminal = jnp.asarray(terminal, jnp.bool_)
  return EnvState(
      physics=step, task=task, obs=obs, reward=jnp.asarray(reward, jnp.float32),
      terminal=terminal, truncated=(step >= max_episode_steps) & ~terminal,
      step_count=step, key=key, privileged={"success": terminal})


@dataclasses.dataclass(frozen=True)
class OneStepProbe:
  """One step from a constant observation, then terminal; the reward is `reward(action)`."""

  action_dim: int = 1

  @property
  def spec(self) -> EnvSpec:
    return EnvSpec(obs_shape=(2,), action_dim=self.action_dim, max_episode_steps=1)

  def reset(self, key: jax.Array, task: Any = None) -> EnvState:
    return _state(key, jnp.int32(0), _CONSTANT_OBS, 0.0, False, task, 1)

  def step(self, state: EnvState, action: jax.Array) -> EnvState:
    reward = self.reward(jnp.clip(action, -1.0, 1.0))
    return _state(state.key, state.physics + 1, _CONSTANT_OBS, reward, True, state.task, 1)

  def reward(self, action: jax.Array) -> jax.Array:
    return jnp.ones(action.shape[:-1])

  def states(self) -> jax.Array:
    return _CONSTANT_OBS[None]

  def optimal_values(self, discount: float) -> jax.Array:
    return jnp.ones((1,))

  def q_value(self, obs: jax.Array, action: jax.Array, discount: float) -> jax.Array:
    return jnp.broadcast_to(self.reward(action), obs.shape[:-1])


@dataclasses.dataclass(frozen=True)
class TwoStepProbe:
  action_dim: int = 1

  @property
  def spec(self) -> EnvSpec:
    return EnvSpec(obs_shape=(2,), action_dim=self.action_dim, max_episode_steps=2)

  def reset(self, key: jax.Array, task: Any = None) -> EnvState:
    return _state(key, jnp.int32(0), self._obs(jnp.int32(0)), 0.0, False, task, 2)

  def step(self, state: EnvState, action: jax.Array) -> EnvState:
    step = state.physics + 1
    done = step >= 2
    return _state(state.key, step, self._obs(step), jnp.where(done, 1.0, 0.0), done,
                  state.task, 2)

  @staticmethod
  def _obs(step: jax.Array) -> jax.Array:
    # One-hot of the step; the (never bootstrapped) terminal observation is all zeros.
    return jax.nn.one_hot(step, 2)

  def states(self) -> jax.Array:
    return jnp.eye(2)

  def optimal_values(self, discount: float) -> jax.Array:
    return jnp.array([discount, 1.0])

  def q_value(self, obs: jax.Array, action: jax.Array, discount: float) -> jax.Array:
    return obs[..., 0] * discount + obs[..., 1]


@dataclasses.dataclass(frozen=True)
class ActionRewardProbe(OneStepProbe):
  """The one-step probe with reward 1 - mean((a - target)^2): its maximum, 1, is at target."""

  target: float = 0.5     # the best action in every dimension

  def reward(self, action: jax.Array) -> jax.Array:
    return 1.0 - jnp.mean((action - self.target) ** 2, axis=-1)

  def optimal_action(self) -> jax.Array:
    return jnp.full((self.action_dim,), self.target)


PROBES = {"one-step": OneStepProbe, "two-step": TwoStepProbe, "action-reward": ActionRewardProbe}


def make_probe(name: str, action_dim: int = 1):
  if name not in PROBES:
    raise ValueError(f"unknown probe {name!r}; known probes: {', '.join(PROBES)}")
  return PROBES[name](action_dim=action_dim)


def probe_dataset(probe, key: jax.Array, num_episodes: int,
                  behaviour: Optional[Behaviour] = None) -> Transition:
  """Episodes of `probe` under `behaviour` (uniform random actions by default)."""
  behaviour = behaviour or UniformBehaviour(probe.spec.action_dim)
  return collect_episodes(probe, behaviour, key, num_episodes)
