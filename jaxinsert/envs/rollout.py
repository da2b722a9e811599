"""Offline datasets from a functional environment: whole episodes under a behaviour policy.

One jitted program rolls out every episode at once (vmap over episodes, scan over time), then
the steps after each episode's end are dropped on the host. Used by the probe MDPs and the point
mass to build their built-in datasets.

The environment and the behaviour are static arguments of that program, so when both compare
equal by value (frozen dataclasses, module-level functions) a second call reuses the compiled
rollout; per-episode differences (targets, noise, which controller) go in `behaviour_params`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxinsert.envs.base import EnvSpec, EnvState, FunctionalEnv
from jaxinsert.types import PyTree, Spec, Transition

# behaviour(key, state, params) -> action. It may read the full state (scripted controllers are
# privileged); `params` is this episode's slice of `behaviour_params` (None if not given).
Behaviour = Callable[[jax.Array, EnvState, PyTree], jax.Array]


def agent_spec(env_spec: EnvSpec) -> Spec:
  """What an agent sees of an environment: observation shape and action size."""
  return Spec(obs_shape=tuple(env_spec.obs_shape), action_dim=env_spec.action_dim)


@dataclasses.dataclass(frozen=True)
class UniformBehaviour:
  """Uniform random actions in [-1, 1]^action_dim."""

  action_dim: int

  def __call__(self, key: jax.Array, state: EnvState, params: PyTree = None) -> jax.Array:
    return jax.random.uniform(key, (self.action_dim,), minval=-1.0, maxval=1.0)


def collect_episodes(env: FunctionalEnv, behaviour: Behaviour, key: jax.Array,
                     num_episodes: int, behaviour_params: PyTree = None, task: Any = None
                     ) -> Transition:
  """`num_episodes` episodes (up to the env's time limit) as one flat Transition dataset.

  `behaviour_params`: a pytree with leading axis `num_episodes` (one set per episode), or None.
  `mask` is 0 only on true terminations; a time-limit end keeps mask 1.
  """
  transitions, valid = _rollout(env, behaviour, jax.random.split(key, num_episodes),
                                behaviour_params, task)
  valid = np.asarray(valid).reshape(-1)
  return jax.tree_util.tree_map(
      lambda x: jnp.asarray(np.asarray(x).reshape((-1,) + x.shape[2:])[valid]), transitions)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _rollout(env: FunctionalEnv, behaviour: Behaviour, keys: jax.Array,
             behaviour_params: PyTree, task: Any):
  def episode(key, params):
    reset_key, episode_key = jax.random.split(key)
    start = env.reset(reset_key, task)

    def step(carry, step_key):
      state, alive = carry
      action = jnp.clip(behaviour(step_key, state, params), -1.0, 1.0)
      following = env.step(state, action)
      transition = Transition(
          obs=state.obs, action=action, reward=following.reward,
          mask=1.0 - following.terminal.astype(jnp.float32), next_obs=following.obs,
          task_id=jnp.zeros((), jnp.int32), domain_id=jnp.zeros((), jnp.int32))
      return (following, alive & ~following.done), (transition, alive)

    step_keys = jax.random.split(episode_key, env.spec.max_episode_steps)
    _, (transitions, valid) = jax.lax.scan(step, (start, jnp.bool_(True)), step_keys)
    return transitions, valid

  return jax.vmap(episode)(keys, behaviour_params)
