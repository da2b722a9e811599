"""Implicit Q-Learning (Kostrikov, Nair, Levine 2021; thesis ch. 7), as the official JAX code.

One update runs, in this order (official implementation, digest section 1.1):
  1. value:  expectile regression of V(s) on min(Q1, Q2)(s, a) of the *target* critic;
  2. actor:  advantage-weighted regression with A = min target Q - *new* V;
  3. critic: both heads regress on r + discount * mask * V(s') with the *new* V;
  4. target: Polyak average of the critic.
The policy never feeds back into V or Q, so TD learning only sees dataset actions.
"""

from __future__ import annotations

from typing import Optional, Tuple

import jax
import jax.numpy as jnp
import ml_collections
from flax import struct

from jaxinsert.agents import common
from jaxinsert.agents.common import Metrics, Network
from jaxinsert.networks.critics import CriticEnsemble, ValueNetwork
from jaxinsert.networks.policies import GaussianPolicy
from jaxinsert.types import PyTree, Spec, Transition


def get_config() -> ml_collections.ConfigDict:
  # Defaults are the official MuJoCo locomotion settings; presets override per domain.
  config = ml_collections.ConfigDict()
  config.expectile = 0.7            # tau of the value's expectile regression (0.5 = SARSA)
  config.beta = 3.0                 # inverse temperature of the advantage weights exp(beta * A)
  config.discount = 0.99            # gamma (official code; not stated in the thesis)
  config.hidden_dims = (256, 256)   # hidden widths of actor, critics and value (thesis E.2)
  config.dropout_rate = 0.0         # policy dropout after each hidden layer (0.1 Kitchen/Adroit)
  config.actor_lr = 3e-4            # Adam learning rate of the policy (thesis E.2)
  config.critic_lr = 3e-4           # Adam learning rate of the two Q heads
  config.value_lr = 3e-4            # Adam learning rate of V
  config.cosine_decay_steps = 1_000_000  # actor lr cosine-decays to 0 over these updates; 0 = off
  config.target_tau = 0.005         # Polyak rate of the target critic (the thesis's alpha)
  config.log_std_min = -5.0         # lower clip of the state-independent policy log-std
  config.log_std_max = 2.0          # upper clip of the policy log-std
  config.exp_adv_max = 100.0        # cap on exp(beta * A) (Brandfonbrener et al. 2021)
  config.num_critics = 2            # Q heads; V and the actor use their minimum (clipped double Q)
  return config


@struct.dataclass
class IQLState:
  actor: Network
  critic: Network
  value: Network
  target_critic_params: PyTree
  config: ml_collections.FrozenConfigDict = struct.field(pytree_node=False)


def create(config: ml_collections.ConfigDict, key: jax.Array, spec: Spec) -> IQLState:
  hidden_dims = tuple(config.hidden_dims)
  actor_key, critic_key, value_key = jax.random.split(key, 3)
  obs, action = common.example_inputs(spec)
  actor = Network.create(
      GaussianPolicy(hidden_dims, spec.action_dim, config.log_std_min, config.log_std_max,
                     config.dropout_rate),
      common.Optimizer(config.actor_lr, cosine_decay_steps=config.cosine_decay_steps),
      actor_key, obs)
  critic = Network.create(CriticEnsemble(hidden_dims, config.num_critics),
                          common.Optimizer(config.critic_lr), critic_key, obs, action)
  value = Network.create(ValueNetwork(hidden_dims), common.Optimizer(config.value_lr),
                         value_key, obs)
  return IQLState(actor=actor, critic=critic, value=value, target_critic_params=critic.params,
                  config=common.frozen(config))


def expectile_loss(diff: jax.Array, expectile: float) -> jax.Array:
  """Asymmetric squared loss |tau - 1(diff < 0)| * diff^2, with diff = target - prediction.

  Its minimiser over a constant prediction is the tau-expectile of the target.
  """
  weight = jnp.where(diff > 0, expectile, 1.0 - expectile)
  return weight * diff**2


def target_q(state: IQLState, obs: jax.Array, action: jax.Array) -> jax.Array:
  """min over heads of the target critic: the Q that V and the actor learn from."""
  return jnp.min(state.critic.apply(obs, action, params=state.target_critic_params), axis=0)


def value_loss(value_params: PyTree, state: IQLState, batch: Transition
               ) -> Tuple[jax.Array, Metrics]:
  q = target_q(state, batch.obs, batch.action)
  v = state.value.apply(batch.obs, params=value_params)
  loss = jnp.mean(expectile_loss(q - v, state.config.expectile))
  return loss, {"value_loss": loss, "v": jnp.mean(v)}


def actor_loss(actor_params: PyTree, state: IQLState, batch: Transition, key: jax.Array
               ) -> Tuple[jax.Array, Metrics]:
  advantage = target_q(state, batch.obs, batch.action) - state.value.apply(batch.obs)
  return common.awr_actor_loss(actor_params, state.actor, batch.obs, batch.action, advantage,
                               state.config.beta, state.config.exp_adv_max, key)


def critic_loss(critic_params: PyTree, state: IQLState, batch: Transition
                ) -> Tuple[jax.Array, Metrics]:
  next_v = state.value.apply(batch.next_obs)
  target = batch.reward + state.config.discount * batch.mask * next_v
  q = state.critic.apply(batch.obs, batch.action, params=critic_params)
  # Sum over heads, mean over the batch: each head regresses on the same target.
  loss = jnp.sum(jnp.mean((q - target) ** 2, axis=-1))
  return loss, {"critic_loss": loss, "q": jnp.mean(q)}


def update(state: IQLState, batch: Transition, key: jax.Array,
           actor_batch: Optional[Transition] = None) -> Tuple[IQLState, Metrics]:
  """One IQL update; `actor_batch` (default: `batch`) is what the actor learns from, so that
  rows meant for the value and critic only (gciql's hard-negative goals) stay out of it."""
  value, value_metrics = state.value.minimize(value_loss, state, batch)
  state = state.replace(value=value)
  actor, actor_metrics = state.actor.minimize(actor_loss, state,
                                              batch if actor_batch is None else actor_batch, key)
  critic, critic_metrics = state.critic.minimize(critic_loss, state, batch)
  target_critic_params = common.polyak(state.target_critic_params, critic.params,
                                       state.config.target_tau)
  state = state.replace(actor=actor, critic=critic, target_critic_params=target_critic_params)
  return state, {**value_metrics, **actor_metrics, **critic_metrics}


def act(state: IQLState, obs: jax.Array, key: jax.Array, deterministic: bool) -> jax.Array:
  return common.gaussian_policy_act(state.actor, obs, key, deterministic)
