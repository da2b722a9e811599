"""Advantage-Weighted Actor-Critic (Nair et al. 2020; thesis ch. 6 and appendix D).

Critic: Q^pi of the current policy, SAC-style without the entropy term,
  target = r + discount * mask * min target Q(s', a'),  a' ~ pi(.|s').
Actor: advantage-weighted regression on dataset actions with weights min(exp(beta * A), 100),
  A(s, a) = min Q(s, a) - E_{a' ~ pi(.|s)} min Q(s, a').
The expectation is estimated with `value_samples` actions drawn from the current policy (one, as
in the rlkit reference implementation). The thesis writes the weights exp(A / lambda); the
config stores beta = 1 / lambda (DESIGN convention). Z(s) is omitted, as the thesis recommends.
Both losses are computed from the pre-update networks; each moves only its own parameters.
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
from jaxinsert.networks.policies import GaussianPolicy, gaussian_sample
from jaxinsert.types import PyTree, Spec, Transition


def get_config() -> ml_collections.ConfigDict:
  # Defaults are thesis Table 16 (AWAC hyper-parameters) with lambda = 1.0 (MuJoCo).
  config = ml_collections.ConfigDict()
  config.beta = 1.0                          # beta = 1/lambda; lambda 1.0 MuJoCo, 0.3 manipulation
  config.discount = 0.99                     # gamma (Table 16)
  config.policy_hidden_dims = (256,) * 4     # policy hidden sizes (Table 16)
  config.critic_hidden_dims = (256,) * 4     # Q hidden sizes (Table 16; VAL uses (256, 256))
  config.actor_lr = 3e-4                     # policy learning rate (Table 16)
  config.critic_lr = 3e-4                    # Q learning rate (Table 16)
  config.policy_weight_decay = 1e-4          # policy L2 weight decay (Table 16; Q has none)
  config.target_tau = 5e-3                   # Polyak rate of the target critic (Table 16)
  config.exp_adv_max = 100.0                 # cap on exp(beta * A) (DESIGN convention)
  config.value_samples = 1                   # policy actions averaged for E_pi Q (rlkit: 1)
  config.clamp_q_nonpositive = False         # clamp Q targets to <= 0 (non-positive rewards)
  config.log_std_min = -6.0                  # lower clip of the policy log-std (rlkit AWAC)
  config.log_std_max = 0.0                   # upper clip of the policy log-std (rlkit AWAC)
  config.num_critics = 2                     # Q heads; targets and advantages use their minimum
  return config


@struct.dataclass
class AWACState:
  actor: Network
  critic: Network
  target_critic_params: PyTree
  config: ml_collections.FrozenConfigDict = struct.field(pytree_node=False)


def create(config: ml_collections.ConfigDict, key: jax.Array, spec: Spec) -> AWACState:
  actor_key, critic_key = jax.random.split(key)
  obs, action = common.example_inputs(spec)
  actor = Network.create(
      GaussianPolicy(tuple(config.policy_hidden_dims), spec.action_dim, config.log_std_min,
                     config.log_std_max),
      common.Optimizer(config.actor_lr, weight_decay=config.policy_weight_decay),
      actor_key, obs)
  critic = Network.create(CriticEnsemble(tuple(config.critic_hidden_dims), config.num_critics),
                          common.Optimizer(config.critic_lr), critic_key, obs, action)
  return AWACState(actor=actor, critic=critic, target_critic_params=critic.params,
                   config=common.frozen(config))


def _policy_actions(state: AWACState, actor_params: PyTree, obs: jax.Array, key: jax.Array,
                    num_samples: int) -> jax.Array:
  """`num_samples` actions per observation (leading sample axis), constants for the losses."""
  mean, log_std = state.actor.apply(obs, params=actor_params)
  mean, log_std = jax.lax.stop_gradient((mean, log_std))
  samples = gaussian_sample(key, jnp.broadcast_to(mean, (num_samples,) + mean.shape), log_std)
  # The critic was trained on dataset actions in [-1, 1]; keep its inputs there.
  return jnp.clip(samples, -1.0, 1.0)


def min_q(state: AWACState, critic_params: PyTree, obs: jax.Array, action: jax.Array) -> jax.Array:
  """min_i Q_i(s, a) over the critic heads."""
  return jnp.min(state.critic.apply(obs, action, params=critic_params), axis=0)


def critic_loss(critic_params: PyTree, actor_params: PyTree, state: AWACState,
                batch: Transition, key: jax.Array) -> Tuple[jax.Array, Metrics]:
  next_action = _policy_actions(state, actor_params, batch.next_obs, key, 1)[0]
  next_q = min_q(state, state.target_critic_params, batch.next_obs, next_action)
  target = batch.reward + state.config.discount * batch.mask * next_q
  if state.config.clamp_q_nonpositive:
    # Thesis appendix D: with non-positive rewards the true Q is <= 0, so clamp the backup.
    target = jnp.minimum(target, 0.0)
  q = state.critic.apply(batch.obs, batch.action, params=critic_params)
  loss = jnp.sum(jnp.mean((q - target) ** 2, axis=-1))
  return loss, {"critic_loss": loss, "q": jnp.mean(q)}


def policy_value(state: AWACState, actor_params: PyTree, critic_params: PyTree, obs: jax.Array,
                 key: jax.Array, num_samples: int) -> jax.Array:
  """V^pi(s) = E_{a' ~ pi(.|s)} min Q(s, a'), estimated with `num_samples` policy actions: the
  baseline of AWAC's advantage."""
  actions = _policy_actions(state, actor_params, obs, key, num_samples)
  return jnp.mean(jax.vmap(lambda action: min_q(state, critic_params, obs, action))(actions), axis=0)


def actor_loss(actor_params: PyTree, critic_params: PyTree, state: AWACState,
               batch: Transition, key: jax.Array) -> Tuple[jax.Array, Metrics]:
  sample_key, dropout_key = jax.random.split(key)
  critic_params = jax.lax.stop_gradient(critic_params)
  advantage = (min_q(state, critic_params, batch.obs, batch.action)
               - policy_value(state, actor_params, critic_params, batch.obs, sample_key,
                              state.config.value_samples))
  return common.awr_actor_loss(actor_params, state.actor, batch.obs, batch.action, advantage,
                               state.config.beta, state.config.exp_adv_max, dropout_key)


def update(state: AWACState, batch: Transition, key: jax.Array) -> Tuple[AWACState, Metrics]:
  critic_key, actor_key = jax.random.split(key)
  critic, critic_metrics = state.critic.minimize(critic_loss, state.actor.params, state, batch,
                                                 critic_key)
  actor, actor_metrics = state.actor.minimize(actor_loss, state.critic.params, state, batch,
                                              actor_key)
  target_critic_params = common.polyak(state.target_critic_params, critic.params,
                                       state.config.target_tau)
  state = state.replace(actor=actor, critic=critic, target_critic_params=target_critic_params)
  return state, {**critic_metrics, **actor_metrics}


def act(state: AWACState, obs: jax.Array, key: jax.Array, deterministic: bool) -> jax.Array:
  return common.gaussian_policy_act(state.actor, obs, key, deterministic)
