"""Soft Actor-Critic (Haarnoja et al. 2018) with twin critics and a learned temperature.

The online workhorse: trains the expert/medium policies that generate locomotion datasets, and
from pixels (`config.encoder`) LOTJ's "SAC from vision" baseline.
Update order: critic (soft Bellman backup with the current policy at s') -> actor (new
critic) -> temperature (towards the target entropy) -> Polyak target critic.
"""

from __future__ import annotations

from typing import Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from flax import struct

from jaxinsert.agents import common
from jaxinsert.agents.common import Metrics, Network
from jaxinsert.networks import vision
from jaxinsert.networks.critics import CriticEnsemble
from jaxinsert.networks.policies import TanhGaussianPolicy, tanh_gaussian_sample
from jaxinsert.types import PyTree, Spec, Transition


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.discount = 0.99                  # gamma
  config.hidden_dims = (256, 256)         # hidden widths of actor and critics (Haarnoja 2018b)
  config.actor_lr = 3e-4                  # Adam learning rate of the policy
  config.critic_lr = 3e-4                 # Adam learning rate of the critics
  config.temperature_lr = 3e-4            # Adam learning rate of log(temperature)
  config.initial_temperature = 1.0        # entropy temperature alpha at the start
  config.target_entropy_scale = -1.0      # target entropy = scale * action_dim (-action_dim)
  config.backup_entropy = True            # include -alpha * log pi(a'|s') in the critic target
  config.target_tau = 0.005               # Polyak rate of the target critics
  config.log_std_min = -5.0               # lower clip of the state-dependent log-std
  config.log_std_max = 2.0                # upper clip of the log-std
  config.num_critics = 2                  # Q heads; targets and the actor use their minimum
  # An image encoder of `networks.vision` (e.g. "patch_conv") gives the actor and the critics
  # each their own backbone (SAC from pixels; the target critic keeps a Polyak copy of the
  # critic's backbone).
  config.encoder = ""                     # "" for state observations
  return config


class Temperature(nn.Module):
  """The entropy temperature alpha, learned as log(alpha) so it stays positive."""

  initial_temperature: float

  @nn.compact
  def __call__(self) -> jax.Array:
    log_temperature = self.param("log_temperature",
                                 lambda _: jnp.log(jnp.float32(self.initial_temperature)))
    return jnp.exp(log_temperature)


@struct.dataclass
class SACState:
  actor: Network
  critic: Network
  temperature: Network
  target_critic_params: PyTree
  target_entropy: float = struct.field(pytree_node=False)
  config: ml_collections.FrozenConfigDict = struct.field(pytree_node=False)


def create(config: ml_collections.ConfigDict, key: jax.Array, spec: Spec) -> SACState:
  hidden_dims = tuple(config.hidden_dims)
  encoder = config.get("encoder", "")
  if encoder and len(spec.obs_shape) != 3:
    raise ValueError(f"sac encoder {encoder!r} takes images (H, W, C), got observation shape "
                     f"{spec.obs_shape}; set encoder='' for state observations")
  actor_key, critic_key, temperature_key = jax.random.split(key, 3)
  obs, action = common.example_inputs(spec)
  policy = TanhGaussianPolicy(hidden_dims, spec.action_dim, config.log_std_min, config.log_std_max)
  critics = CriticEnsemble(hidden_dims, config.num_critics)
  if encoder:
    policy, critics = vision.Encoded(encoder, policy), vision.Encoded(encoder, critics)

  def networks(actor_key, critic_key):
    actor = Network.create(policy, common.Optimizer(config.actor_lr), actor_key, obs)
    critic = Network.create(critics, common.Optimizer(config.critic_lr), critic_key, obs, action)
    return actor, critic

  # Jitted: eager initialisation of conv backbones dispatches thousands of small ops.
  actor, critic = (jax.jit(networks) if encoder else networks)(actor_key, critic_key)
  temperature = Network.create(Temperature(config.initial_temperature),
                               common.Optimizer(config.temperature_lr), temperature_key)
  return SACState(actor=actor, critic=critic, temperature=temperature,
                  target_critic_params=critic.params,
                  target_entropy=float(config.target_entropy_scale * spec.action_dim),
                  config=common.frozen(config))


def _sample(state: SACState, actor_params: PyTree, obs: jax.Array, key: jax.Array):
  mean, log_std = state.actor.apply(obs, params=actor_params)
  return tanh_gaussian_sample(key, mean, log_std)


def critic_loss(critic_params: PyTree, state: SACState, batch: Transition, key: jax.Array
                ) -> Tuple[jax.Array, Metrics]:
  next_action, next_log_prob = _sample(state, state.actor.params, batch.next_obs, key)
  next_q = jnp.min(state.critic.apply(batch.next_obs, next_action,
                                      params=state.target_critic_params), axis=0)
  if state.config.backup_entropy:
    next_q = next_q - state.temperature.apply() * next_log_prob
  target = batch.reward + state.config.discount * batch.mask * next_q
  q = state.critic.apply(batch.obs, batch.action, params=critic_params)
  loss = jnp.sum(jnp.mean((q - target) ** 2, axis=-1))
  return loss, {"critic_loss": loss, "q": jnp.mean(q)}


def actor_loss(actor_params: PyTree, state: SACState, batch: Transition, key: jax.Array
               ) -> Tuple[jax.Array, Metrics]:
  action, log_prob = _sample(state, actor_params, batch.obs, key)
  q = jnp.min(state.critic.apply(batch.obs, action), axis=0)
  loss = jnp.mean(state.temperature.apply() * log_prob - q)
  return loss, {"actor_loss": loss, "entropy": -jnp.mean(log_prob)}


def temperature_loss(temperature_params: PyTree, state: SACState, entropy: jax.Array
                     ) -> Tuple[jax.Array, Metrics]:
  temperature = state.temperature.apply(params=temperature_params)
  # Raises alpha while the policy's entropy is below target, lowers it above.
  loss = temperature * (entropy - state.target_entropy)
  return loss, {"temperature": temperature, "temperature_loss": loss}


def update(state: SACState, batch: Transition, key: jax.Array) -> Tuple[SACState, Metrics]:
  critic_key, actor_key = jax.random.split(key)
  critic, critic_metrics = state.critic.minimize(critic_loss, state, batch, critic_key)
  state = state.replace(critic=critic)
  actor, actor_metrics = state.actor.minimize(actor_loss, state, batch, actor_key)
  temperature, temperature_metrics = state.temperature.minimize(
      temperature_loss, state, jax.lax.stop_gradient(actor_metrics["entropy"]))
  target_critic_params = common.polyak(state.target_critic_params, critic.params,
                                       state.config.target_tau)
  state = state.replace(actor=actor, temperature=temperature,
                        target_critic_params=target_critic_params)
  return state, {**critic_metrics, **actor_metrics, **temperature_metrics}


def act(state: SACState, obs: jax.Array, key: jax.Array, deterministic: bool) -> jax.Array:
  mean, log_std = state.actor.apply(obs)
  if deterministic:
    return jnp.tanh(mean)
  action, _ = tanh_gaussian_sample(key, mean, log_std)
  return action
