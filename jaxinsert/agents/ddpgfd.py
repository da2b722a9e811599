"""DDPGfD (Vecerik et al. 2017; the ODA thesis, chapter 5): DDPG learning from its own
interaction with the demonstrations kept in every batch and a Q-filtered behaviour-cloning loss
on them. The ODA paper's "DDPGfD from scratch" baseline (digest A10), finetuned online only.

TD3's networks and critic update (twin critics with the minimum in the target); with the
defaults below the actor is updated every step and the target action is not smoothed, i.e.
DDPG's update with a twin critic. The actor loss on a batch whose first `demo_rows` rows are
demonstrations (`samplers.mixed` puts its offline rows first; the trainer sets demo_rows =
round(batch_size * offline_ratio)):

  L = -mean_all Q1(s, pi(s)) + bc_weight * mean_demo 1[Q1(s, a_demo) > Q1(s, pi(s))] |pi(s) - a_demo|^2

The Q-filter (Nair et al. 2018) drops the cloning term where the critic already rates the
policy's action above the demonstrator's. Not built: prioritised replay, n-step returns, L2
regularisation, demonstration resets (the paper's DDPGfD ablations; HER is optional there).
"""

from __future__ import annotations

from typing import Tuple

import jax
import jax.numpy as jnp
import ml_collections

from jaxinsert.agents import td3
from jaxinsert.agents.common import Metrics
from jaxinsert.agents.td3 import TD3State
from jaxinsert.types import PyTree, Spec, Transition


def get_config() -> ml_collections.ConfigDict:
  config = td3.get_config()                # discount, hidden dims, learning rates, target tau, ...
  config.policy_delay = 1                  # DDPG: the actor and targets move every update
  config.target_policy_noise = 0.0         # DDPG: no target policy smoothing
  config.exploration_noise = 0.1           # std of Gaussian action noise while collecting
  config.demo_rows = 16                    # leading rows of each batch that are demonstrations
  config.bc_weight = 1.0                   # weight of the Q-filtered cloning loss on them
  config.q_filter = True                   # clone only where Q(s, a_demo) > Q(s, pi(s))
  return config


def create(config: ml_collections.ConfigDict, key: jax.Array, spec: Spec) -> TD3State:
  return td3.create(config, key, spec)


def actor_loss(actor_params: PyTree, state: TD3State, batch: Transition
               ) -> Tuple[jax.Array, Metrics]:
  config = state.config
  action = state.actor.apply(batch.obs, params=actor_params)
  q_policy = state.critic.apply(batch.obs, action)[0]
  rows = config.demo_rows
  if rows == 0:   # no demonstration rows: DDPG's actor loss (the mean of no rows is NaN)
    loss = -jnp.mean(q_policy)
    return loss, {"actor_loss": loss, "bc_loss": jnp.zeros(()), "q_filter_kept": jnp.zeros(())}
  demo_obs, demo_action, policy_action = batch.obs[:rows], batch.action[:rows], action[:rows]
  error = jnp.sum((policy_action - demo_action) ** 2, axis=-1)
  if config.q_filter:
    q_demo = state.critic.apply(demo_obs, demo_action)[0]
    keep = jax.lax.stop_gradient((q_demo > q_policy[:rows]).astype(jnp.float32))
  else:
    keep = jnp.ones_like(error)
  bc_loss = jnp.mean(keep * error)
  loss = -jnp.mean(q_policy) + config.bc_weight * bc_loss
  return loss, {"actor_loss": loss, "bc_loss": bc_loss, "q_filter_kept": jnp.mean(keep)}


def update(state: TD3State, batch: Transition, key: jax.Array) -> Tuple[TD3State, Metrics]:
  return td3.update_with_actor_loss(actor_loss, state, batch, key)


def act(state: TD3State, obs: jax.Array, key: jax.Array, deterministic: bool) -> jax.Array:
  return td3.act(state, obs, key, deterministic)
