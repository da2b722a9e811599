"""SMAC (Pong et al. 2022, seed 003; digest Part B): offline meta-RL, then online
self-supervision with rewards from a learned decoder.

Built on PEARL's networks (`pearl.create_networks`: the shared context encoder, pi(a | s, z),
twin Q(s, a, z)) plus a reward decoder r(s, a, z) (`networks/decoders.py`). One update on a
`samplers.MetaBatch` (RL rows h' [tasks, batch], context h [tasks, context]) of the same tasks:

  z ~ q(z | h) (reparameterised), one per task
  reward (Eq. 3):  mean (r - r_dec(s, a, z))^2 on h' (unscaled r) + kl_weight * mean_i KL_i
  critic (Eq. 1):  sum_heads mean (Q(s, a, sg z) - y)^2,
                   y = scale * r + discount * mask * min Q_target(s', a', sg z), a' ~ pi(.|s', z)
  actor (Eq. 2):   -mean w * log pi(a | s, sg z),  A = min Q(s, a, z) - min Q(s, a~, z), a~ ~ pi,
                   w = N * softmax(beta * A) over the N rows of the meta-batch ("batch_softmax",
                   rlkit) or min(exp(beta * A), exp_adv_max) ("exp", the paper's formula)
  online actor:    the same + lambda_pearl * mean(alpha log pi(a~) - min Q(s, a~, sg z)),
                   a~ reparameterised (the PEARL term as rlkit implements it)

Gradient routing (tested): the encoder gets the reward loss and the KL only
(`q_loss_into_encoder=False`, rlkit's `backprop_q_loss_into_encoder`); the critic, the actor
and the critic target see stop_gradient(z). `to_online` switches to the self-supervised phase:
encoder and decoder frozen, only Q and pi train, on decoder-labelled rewards (`label_rewards`).
beta is the DESIGN's inverse temperature: beta = 1 / (the paper's "AWR beta"), so Table 2's
100 (MuJoCo) is 0.01 and 0.3 (Sawyer) is 3.33; beta -> 0 is uniform weights, i.e. meta-BC.
`actor_objective`: "awac" (SMAC), "bc" (the meta-BC baseline), "pearl" (the actor ablation).
"""

from __future__ import annotations

from typing import Tuple

import jax
import jax.numpy as jnp
import ml_collections
from flax import struct

from jaxinsert.agents import common, pearl
from jaxinsert.agents.common import Metrics, Network
from jaxinsert.networks import context as context_lib
from jaxinsert.networks.decoders import RewardDecoder
from jaxinsert.networks.policies import tanh_gaussian_log_prob, tanh_gaussian_sample
from jaxinsert.types import PyTree, Spec, Transition

ACTOR_OBJECTIVES = ("awac", "bc", "pearl")
WEIGHTINGS = ("batch_softmax", "exp")
PHASES = ("offline", "online")

def get_config() -> ml_collections.ConfigDict:
  # Sources: SMAC Tables 1-2 (T1, T2), rlkit `smac` branch (code), digest B.8 decisions.
  config = pearl.get_config()                  # latent 5, sizes 300x3 / 200x3, lr 3e-4, tau
  config.kl_reduction = "mean"                 # KL averaged over tasks (code; PEARL sums)
  config.kl_weight = 0.1                       # code kl_lambda (Eq. 3 implies 1; B.8 #3)
  config.reward_scale = 5.0                    # Bellman target only (T2 MuJoCo; Sawyer 1)
  config.entropy_weight = 0.0                  # alpha = 0, no tuning (code; B.8 #4)
  config.decoder_hidden_dims = (64, 64)        # reward decoder (T1)
  config.decoder_lr = 3e-4                     # decoder learning rate (T1)
  config.beta = 0.01                           # 1 / AWR beta (T2: 100 MuJoCo, 0.3 Sawyer)
  config.weighting = "batch_softmax"           # AWR weights: "batch_softmax" (code) | "exp"
  config.exp_adv_max = 100.0                   # cap of exp(beta * A) under "exp" (DESIGN)
  config.actor_objective = "awac"              # "awac" | "bc" (meta-BC) | "pearl" (ablation)
  config.lambda_pearl = 1.0                    # online PEARL actor term (T2: 1 MuJoCo, 0 Sawyer)
  config.q_loss_into_encoder = False           # the critic loss moves the encoder (ablation)
  config.reward_loss_into_encoder = True       # the decoder loss moves the encoder (SMAC)
  config.train_encoder_online = False          # encoder trained online (Fig. 7 ablation only)
  config.phase = "offline"                     # "offline" | "online" (set by `to_online`)
  return config


@struct.dataclass
class SMACState:
  encoder: Network
  decoder: Network
  actor: Network
  critic: Network
  target_critic_params: PyTree
  config: ml_collections.FrozenConfigDict = struct.field(pytree_node=False)


def _check(config) -> None:
  pearl.check_config(config)
  for name, allowed in (("actor_objective", ACTOR_OBJECTIVES), ("weighting", WEIGHTINGS),
                        ("phase", PHASES)):
    if config[name] not in allowed:
      raise ValueError(f"smac {name} must be one of {allowed}, got {config[name]!r}")
  if config.beta < 0:
    raise ValueError(f"smac beta (an inverse temperature) must be >= 0, got {config.beta}")


def create(config: ml_collections.ConfigDict, key: jax.Array, spec: Spec) -> SMACState:
  _check(config)
  network_key, decoder_key = jax.random.split(key)
  encoder, actor, critic = pearl.create_networks(config, network_key, spec)
  obs, action = common.example_inputs(spec)
  decoder = Network.create(RewardDecoder(tuple(config.decoder_hidden_dims)),
                           common.Optimizer(config.decoder_lr), decoder_key, obs, action,
                           jnp.zeros((1, config.latent_dim), jnp.float32))
  return SMACState(encoder=encoder, decoder=decoder, actor=actor, critic=critic,
                   target_critic_params=critic.params, config=common.frozen(config))


def to_online(state: SMACState) -> SMACState:
  """The self-supervised phase: same networks and optimiser states, encoder and decoder frozen,
  the actor loss gains the lambda_pearl term."""
  config = ml_collections.ConfigDict(state.config.to_dict())
  config.phase = "online"
  return state.replace(config=common.frozen(config))


posterior = pearl.posterior
act_with_latent = pearl.act_with_latent
act = pearl.act


# ------------------------------------------------------------------------------ losses
def model_loss(params: Tuple[PyTree, PyTree, PyTree], state: SMACState, batch: Transition,
               context: Transition, context_mask: jax.Array, key: jax.Array):
  """Reward + KL + critic, differentiated w.r.t. (encoder, decoder, critic); returns z."""
  encoder_params, decoder_params, critic_params = params
  config = state.config
  z_key, target_key = jax.random.split(key)
  mu, variance = posterior(state, encoder_params, context, context_mask)
  z = context_lib.sample(z_key, mu, variance)
  z_rows = pearl.task_rows(z, batch.reward.shape[1])
  flat = pearl.flatten(batch)
  frozen_z = jax.lax.stop_gradient(z_rows)
  decoder_z = z_rows if config.reward_loss_into_encoder else frozen_z
  predicted = state.decoder.apply(flat.obs, flat.action, decoder_z, params=decoder_params)
  reward_loss = jnp.mean((flat.reward - predicted) ** 2)
  kl = context_lib.kl_to_standard_normal(mu, variance)
  target = pearl.critic_target(state, flat, z_rows, target_key)
  critic_z = z_rows if config.q_loss_into_encoder else frozen_z
  q = state.critic.apply(pearl.conditioned(flat.obs, critic_z), flat.action, params=critic_params)
  critic_loss = jnp.sum(jnp.mean((q - target) ** 2, axis=-1))
  metrics = {"reward_loss": reward_loss, "kl": jnp.mean(kl), "critic_loss": critic_loss,
             "q": jnp.mean(q)}
  return reward_loss + pearl.reduce_kl(config, kl) + critic_loss, (metrics, z)


def awr_weights(advantage: jax.Array, config) -> jax.Array:
  """Weights of the AWR regression (constants): N * softmax(beta * A) over the batch, or the
  capped exponential."""
  advantage = jax.lax.stop_gradient(advantage)
  if config.weighting == "batch_softmax":
    return advantage.shape[0] * jax.nn.softmax(config.beta * advantage)
  return common.advantage_weights(advantage, config.beta, config.exp_adv_max)


def actor_loss(actor_params: PyTree, state: SMACState, batch: Transition, z: jax.Array,
               key: jax.Array) -> Tuple[jax.Array, Metrics]:
  config = state.config
  flat = pearl.flatten(batch)
  inputs = pearl.conditioned(flat.obs, pearl.task_rows(jax.lax.stop_gradient(z),
                                                       batch.reward.shape[1]))
  critic_params = jax.lax.stop_gradient(state.critic.params)
  mean, log_std = state.actor.apply(inputs, params=actor_params)
  data_log_prob = tanh_gaussian_log_prob(mean, log_std, flat.action)
  sampled, sampled_log_prob = tanh_gaussian_sample(key, mean, log_std)
  q_policy = pearl.min_q(state, critic_params, inputs, sampled)
  advantage = pearl.min_q(state, critic_params, inputs, flat.action) - q_policy
  weights = awr_weights(advantage, config)
  pearl_term = jnp.mean(config.entropy_weight * sampled_log_prob - q_policy)
  if config.actor_objective == "bc":
    loss = -jnp.mean(data_log_prob)
  elif config.actor_objective == "pearl":
    loss = pearl_term
  else:
    loss = -jnp.mean(weights * data_log_prob)
    if config.phase == "online":
      loss = loss + config.lambda_pearl * pearl_term
  return loss, {"actor_loss": loss, "advantage": jnp.mean(advantage),
                "weight_max": jnp.max(weights), "log_prob": jnp.mean(data_log_prob),
                "pearl_term": pearl_term}


def update(state: SMACState, batch, key: jax.Array) -> Tuple[SMACState, Metrics]:
  """One SMAC step on a `samplers.MetaBatch`: model losses, then actor, then target."""
  model_key, actor_key = jax.random.split(key)
  params = (state.encoder.params, state.decoder.params, state.critic.params)
  (encoder_grads, decoder_grads, critic_grads), (metrics, z) = jax.grad(
      model_loss, has_aux=True)(params, state, batch.batch, batch.context, batch.context_mask,
                                model_key)
  online = state.config.phase == "online"
  encoder, decoder = state.encoder, state.decoder
  if not online or state.config.train_encoder_online:
    encoder = encoder.apply_gradients(encoder_grads)
  if not online:
    decoder = decoder.apply_gradients(decoder_grads)
  state = state.replace(encoder=encoder, decoder=decoder,
                        critic=state.critic.apply_gradients(critic_grads))
  actor, actor_metrics = state.actor.minimize(actor_loss, state, batch.batch, z, actor_key)
  target = common.polyak(state.target_critic_params, state.critic.params, state.config.target_tau)
  return state.replace(actor=actor, target_critic_params=target), {**metrics, **actor_metrics}


# -------------------------------------------------------------------------- labelling
def label_rewards(labeller: SMACState, obs: jax.Array, action: jax.Array, context: Transition,
                  context_mask: jax.Array, key: jax.Array) -> jax.Array:
  """Eq. 4: r = r_dec(s, a, z), z ~ q(z | h_offline), one z per trajectory. `labeller` is the
  snapshot of the agent at the end of the offline phase; obs/action [trajectories, T, ...],
  context [trajectories, context, ...] from each trajectory's task's offline encoder data."""
  mu, variance = posterior(labeller, labeller.encoder.params, context, context_mask)
  z = context_lib.sample(key, mu, variance)
  z_steps = jnp.broadcast_to(z[:, None, :], obs.shape[:2] + z.shape[-1:])
  return labeller.decoder.apply(obs, action, z_steps)
