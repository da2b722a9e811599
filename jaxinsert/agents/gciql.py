"""Goal-conditioned IQL for Planning to Practice (thesis ch. 12; digest 6.8 item 3).

V(s, g), Q(s, a, g) and pi(a | s, g) are IQL's networks on the observation [s, g] (goal
conditioning by concatenation, as the design card's conditioning convention); the losses and
their order are IQL's (`jaxinsert/agents/iql.py`), so this module holds only what differs: the
PTP defaults and the goal-relabelled batches. A batch's rewards come from the sampler:
`relabelled_batch` draws HER goals (70% future, digest 6.5) and scores them with the sparse
0 / -1 reward of a latent distance below `reward_threshold`; reaching the goal ends the episode
(mask 0). `goal_value` is the V(s, g) the planner's cost sums.
"""

from __future__ import annotations

from typing import Optional

import ml_collections

import jax
import jax.numpy as jnp

from jaxinsert.agents import iql
from jaxinsert.data import samplers
from jaxinsert.types import Spec, Transition

IQLState = iql.IQLState


def get_config() -> ml_collections.ConfigDict:
  config = iql.get_config()
  config.expectile = 0.9            # tau (PTP code train_eval_ptp.py)
  config.beta = 10.0                # inverse temperature; PTP code's default temperature 0.1
  config.discount = 0.995           # gamma (PTP code; the thesis gives none)
  config.hidden_dims = (256, 256)   # Q and V 2x256 (PTP code); the policy shares them here
  config.cosine_decay_steps = 0     # constant learning rates (offline then online)
  config.log_std_min = -2.0         # policy log-std clamp [-2, -1] (PTP code)
  config.log_std_max = -1.0         # upper clamp of the policy log-std
  config.reward_threshold = 0.15    # eps: reward 0 when ||h' - g|| < eps, else -1 (latent units)
  config.future_fraction = 0.7      # HER: share of rows relabelled with a future state (thesis)
  config.random_fraction = 0.0      # share relabelled with a goal from anywhere in the data
  # Hard negatives (offline rows): share relabelled with the nearest (in latent) of
  # `nearby_candidates` states of *other* episodes. Without them every goal near a state comes
  # from its own future, so V ranks latent-near goals high even behind a wall (issue 19,
  # walled_socket). Taken out of the offline rows' random share (ptp_loops.PTPLoops.train).
  # Bootstrapped alone they hardly move V in 10k updates; see docs/notes/issue19_report.md.
  config.nearby_fraction = 0.0
  config.nearby_candidates = 64
  # With it set, an unreached nearby goal ends the row with this reward instead of
  # bootstrapping (the goal counted unreachable; -20 was measured, the never-reached value
  # -1 / (1 - discount) = -200 would dominate the regression). None: the usual -1 and bootstrap.
  config.nearby_failure_reward = None
  # Whether the actor learns from the hard-negative rows too. Their target does not depend on
  # the action (a failure label), so for the actor they are behaviour cloning towards goals
  # nobody was heading for; False keeps them for the value and critic only.
  config.nearby_train_actor = True
  return config


def create(config: ml_collections.ConfigDict, key: jax.Array, spec: Spec) -> IQLState:
  """`spec.obs_shape` is that of [s, g]: twice the latent state size."""
  return iql.create(config, key, spec)


update = iql.update   # update(state, batch, key, actor_batch=None)
act = iql.act


def split(obs_and_goal: jax.Array):
  """[s, g] -> (s, g): both halves of a goal-conditioned observation."""
  size = obs_and_goal.shape[-1]
  if size % 2:
    raise ValueError(f"a goal-conditioned observation [s, g] has an even size, got {size}")
  return obs_and_goal[..., : size // 2], obs_and_goal[..., size // 2:]


def goal_value(state: IQLState, obs: jax.Array, goal: jax.Array) -> jax.Array:
  """V(s, g) for latent states (..., d) and goals (..., d)."""
  return state.value.apply(jnp.concatenate([obs, goal], -1))


def sparse_reward(threshold: float):
  """r(h', g) = 0 when ||h' - g|| < threshold, else -1."""
  return lambda achieved, goal: jnp.where(
      jnp.linalg.norm(achieved - goal, axis=-1) < threshold, 0.0, -1.0)


def relabelled_batch(dataset: samplers.IndexedDataset, key: jax.Array, batch_size: int,
                     config: ml_collections.ConfigDict, random_fraction: Optional[float] = None,
                     nearby_fraction: float = 0.0) -> Transition:
  """A batch of [s, g] transitions with HER goals and the sparse reward (module docstring).

  Rows keep their stored goal and reward where they are not relabelled (online data: the
  subgoal the policy was following). `random_fraction` overrides the config's (offline play
  data has no commanded goal, so its remaining rows get goals from anywhere in the data);
  `nearby_fraction` of the rows get hard-negative goals: the nearest of
  `config.nearby_candidates` draws from other episodes (`samplers.her_relabel`).
  """
  if random_fraction is None:
    random_fraction = config.random_fraction
  size = dataset.transitions.obs.shape[-1] // 2
  reached = lambda achieved, goal: jnp.linalg.norm(achieved - goal, axis=-1) < config.reward_threshold
  return samplers.her_relabel(
      dataset, key, batch_size, goal_slice=slice(size, 2 * size), achieved_goal_slice=slice(0, size),
      reward_fn=sparse_reward(config.reward_threshold), future_fraction=config.future_fraction,
      random_fraction=random_fraction, terminal_fn=reached, nearby_fraction=nearby_fraction,
      nearby_candidates=config.get("nearby_candidates", 64),
      nearby_failure_reward=config.get("nearby_failure_reward", None))
