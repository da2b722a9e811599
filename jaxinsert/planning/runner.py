"""Following a subgoal plan along an episode (PTP Algorithm 8, with the thesis's typo fixed:
the policy is conditioned on the *current* subgoal s_k, not on s_K).

The policy starts on subgoal 0 and moves to the next one when the current one is reached
(||latent(s_{t+1}) - s_k|| < threshold) or after `timeout` steps on it; it stays on the last
subgoal (the final goal) to the end. Plans are made once per episode, at its start (thesis).
"""

from __future__ import annotations

from typing import Callable, Dict

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class SubgoalTracker:
  index: jax.Array     # int32 current subgoal
  steps_on: jax.Array  # int32 steps spent on it


def start_tracker() -> SubgoalTracker:
  return SubgoalTracker(index=jnp.zeros((), jnp.int32), steps_on=jnp.zeros((), jnp.int32))


def advance(tracker: SubgoalTracker, next_latent: jax.Array, subgoals: jax.Array, timeout: int,
            threshold: float) -> SubgoalTracker:
  """The tracker after one step that reached `next_latent`; subgoals is the plan (K, d)."""
  if timeout < 1:
    raise ValueError(f"subgoal timeout must be >= 1 step, got {timeout}")
  steps_on = tracker.steps_on + 1
  reached = jnp.linalg.norm(next_latent - subgoals[tracker.index]) < threshold
  switch = reached | (steps_on >= timeout)
  last = subgoals.shape[0] - 1
  return SubgoalTracker(index=jnp.where(switch, jnp.minimum(tracker.index + 1, last), tracker.index),
                        steps_on=jnp.where(switch, 0, steps_on))


def run_episode(env, env_state, policy: Callable, encode: Callable, subgoals: jax.Array,
                key: jax.Array, num_steps: int, timeout: int, threshold: float
                ) -> Dict[str, jax.Array]:
  """Rolls `policy(obs, subgoal, key) -> action` out for num_steps under the subgoal schedule.

  `encode(obs)` maps an observation to the latent space of the plan. Returns per-step arrays:
  obs, action, next_obs, reward, done, subgoal_index (the subgoal each action was taken for),
  and `final_state` (the environment state after the last step).
  """
  def step(carry, step_key):
    state, tracker = carry
    action = policy(state.obs, subgoals[tracker.index], step_key)
    next_state = env.step(state, action)
    new_tracker = advance(tracker, encode(next_state.obs), subgoals, timeout, threshold)
    record = {"obs": state.obs, "action": action, "next_obs": next_state.obs,
              "reward": next_state.reward, "done": next_state.done,
              "subgoal_index": tracker.index}
    return (next_state, new_tracker), record

  (final_state, _), records = jax.lax.scan(step, (env_state, start_tracker()),
                                           jax.random.split(key, num_steps))
  return {**records, "final_state": final_state}
