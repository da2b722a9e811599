"""TD3 (Fujimoto et al. 2018) and, with `bc_alpha > 0`, TD3+BC (Fujimoto & Gu 2021).

Critic every update: twin critics regress on r + discount * mask * min target Q(s', a~'),
a~' = clip(target_actor(s') + clip(noise, -c, c), -1, 1). Actor and both target networks every
`policy_delay` updates; the delay is a step counter in the state and a masked select, so the
update stays one jit-able, vmap-able program. TD3+BC's actor loss is
-lambda * mean Q1(s, pi(s)) + mean (pi(s) - a)^2 with lambda = bc_alpha / mean |Q1| (constant).
"""

from __future__ import annotations

from typing import Tuple

import jax
import jax.numpy as jnp
import ml_collections
from flax import struct

from jaxinsert.agents import common
from jaxinsert.agents.common import Metrics, Network
from jaxinsert.networks.critics import CriticEnsemble
from jaxinsert.networks.policies import DeterministicPolicy
from jaxinsert.types import PyTree, Spec, Transition


def get_config() -> ml_collections.ConfigDict:
  # Defaults are TD3 as in Fujimoto et al. 2018 / the TD3+BC paper's shared settings.
  config = ml_collections.ConfigDict()
  config.discount = 0.99              # gamma
  config.hidden_dims = (256, 256)     # hidden widths of actor and critics (TD3+BC paper)
  config.actor_lr = 3e-4              # Adam learning rate of the policy
  config.critic_lr = 3e-4             # Adam learning rate of the critics
  config.target_tau = 0.005           # Polyak rate of target actor and critics
  config.policy_delay = 2             # critic updates per actor/target update
  config.target_policy_noise = 0.2    # std of the smoothing noise on target actions
  config.target_noise_clip = 0.5      # the smoothing noise is clipped to +-this
  config.exploration_noise = 0.1      # std of Gaussian noise on actions when not deterministic
  config.bc_alpha = 0.0               # TD3+BC's alpha (2.5 in Fujimoto & Gu 2021); 0 = plain TD3
  config.num_critics = 2              # Q heads; targets use their minimum
  return config


@struct.dataclass
class TD3State:
  actor: Network
  critic: Network
  target_actor_params: PyTree
  target_critic_params: PyTree
  step: jax.Array                     # int32 updates done so far (drives the policy delay)
  config: ml_collections.FrozenConfigDict = struct.field(pytree_node=False)


def create(config: ml_collections.ConfigDict, key: jax.Array, spec: Spec) -> TD3State:
  hidden_dims = tuple(config.hidden_dims)
  actor_key, critic_key = jax.random.split(key)
  obs, action = common.example_inputs(spec)
  actor = Network.create(DeterministicPolicy(hidden_dims, spec.action_dim),
                         common.Optimizer(config.actor_lr), actor_key, obs)
  critic = Network.create(CriticEnsemble(hidden_dims, config.num_critics),
                          common.Optimizer(config.critic_lr), critic_key, obs, action)
  return TD3State(actor=actor, critic=critic, target_actor_params=actor.params,
                  target_critic_params=critic.params, step=jnp.zeros((), jnp.int32),
                  config=common.frozen(config))


def critic_loss(critic_params: PyTree, state: TD3State, batch: Transition, key: jax.Array
                ) -> Tuple[jax.Array, Metrics]:
  config = state.config
  next_action = state.actor.apply(batch.next_obs, params=state.target_actor_params)
  noise = config.target_policy_noise * jax.random.normal(key, next_action.shape)
  noise = jnp.clip(noise, -config.target_noise_clip, config.target_noise_clip)
  next_action = jnp.clip(next_action + noise, -1.0, 1.0)
  next_q = jnp.min(state.critic.apply(batch.next_obs, next_action,
                                      params=state.target_critic_params), axis=0)
  target = batch.reward + config.discount * batch.mask * next_q
  q = state.critic.apply(batch.obs, batch.action, params=critic_params)
  loss = jnp.sum(jnp.mean((q - target) ** 2, axis=-1))
  return loss, {"critic_loss": loss, "q": jnp.mean(q)}


def actor_loss(actor_params: PyTree, state: TD3State, batch: Transition
               ) -> Tuple[jax.Array, Metrics]:
  action = state.actor.apply(batch.obs, params=actor_params)
  # The first critic only, as both TD3 papers do.
  q = state.critic.apply(batch.obs, action)[0]
  if state.config.bc_alpha > 0:
    scale = jax.lax.stop_gradient(state.config.bc_alpha / jnp.mean(jnp.abs(q)))
    # Mean over batch and action dimensions, as the official TD3+BC's F.mse_loss.
    bc_loss = jnp.mean((action - batch.action) ** 2)
    loss = -scale * jnp.mean(q) + bc_loss
    return loss, {"actor_loss": loss, "bc_loss": bc_loss, "q_scale": scale}
  loss = -jnp.mean(q)
  return loss, {"actor_loss": loss}


def update(state: TD3State, batch: Transition, key: jax.Array) -> Tuple[TD3State, Metrics]:
  return update_with_actor_loss(actor_loss, state, batch, key)


def update_with_actor_loss(actor_loss_fn, state: TD3State, batch: Transition, key: jax.Array
                           ) -> Tuple[TD3State, Metrics]:
  """TD3's update with another actor loss `actor_loss_fn(actor_params, state, batch)` (DDPGfD)."""
  critic, critic_metrics = state.critic.minimize(critic_loss, state, batch, key)
  state = state.replace(critic=critic)
  actor, actor_metrics = state.actor.minimize(actor_loss_fn, state, batch)
  tau = state.config.target_tau
  delayed = (actor,
             common.polyak(state.target_actor_params, actor.params, tau),
             common.polyak(state.target_critic_params, critic.params, tau))
  current = (state.actor, state.target_actor_params, state.target_critic_params)
  update_policy = state.step % state.config.policy_delay == 0
  actor, target_actor_params, target_critic_params = common.select(update_policy, delayed,
                                                                   current)
  state = state.replace(actor=actor, target_actor_params=target_actor_params,
                        target_critic_params=target_critic_params, step=state.step + 1)
  return state, {**critic_metrics, **actor_metrics}


def act(state: TD3State, obs: jax.Array, key: jax.Array, deterministic: bool) -> jax.Array:
  action = state.actor.apply(obs)
  if deterministic:
    return action
  noise = state.config.exploration_noise * jax.random.normal(key, action.shape)
  return jnp.clip(action + noise, -1.0, 1.0)
