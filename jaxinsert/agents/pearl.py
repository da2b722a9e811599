"""PEARL (Rakelly et al. 2019): SAC on (s, z) with the product-of-Gaussians context encoder.

The online meta-RL agent that generates SMAC's offline data and is the reference its oracle is
measured against (anchors `wave2_methods.md` section 1). Updates take a `samplers.MetaBatch`
[tasks, batch, ...] with context [tasks, context, ...] drawn from the tasks' encoder buffers:

  z ~ q(z | c_i) (reparameterised),  y = scale * r + discount * mask * (min Q_target(s', a', sg z)
                                          - alpha * log pi(a' | s', sg z)),  a' ~ pi(. | s', sg z)
  critic + encoder:  sum_heads mean (Q(s, a, z) - y)^2 + kl_weight * reduce_i KL(q(z | c_i) || N(0, I))
  actor:             mean alpha * log pi(a~ | s, sg z) - min Q(s, a~, sg z),   a~ ~ pi reparameterised

Gradient routing is PEARL's: the encoder gets the critic loss and the KL, the actor sees
stop_gradient(z). The KL is summed over tasks as PEARL does (`kl_reduction`; SMAC averages).
Departures from oyster, by choice: twin Q with Polyak targets (SAC v2) instead of PEARL's
separate V network, and a fixed entropy weight alpha (PEARL fixes it at 1 and tunes the reward
scale instead). The networks, `posterior` and `act_with_latent` are shared with SMAC.
"""

from __future__ import annotations

from typing import Tuple

import jax
import jax.numpy as jnp
import ml_collections
from flax import struct

from jaxinsert.agents import common
from jaxinsert.agents.common import Metrics, Network
from jaxinsert.networks import context as context_lib
from jaxinsert.networks.critics import CriticEnsemble
from jaxinsert.networks.policies import TanhGaussianPolicy, tanh_gaussian_sample
from jaxinsert.types import PyTree, Spec, Transition


def get_config() -> ml_collections.ConfigDict:
  # Sizes and rates are PEARL's (oyster configs/default.py, anchors section 1).
  config = ml_collections.ConfigDict()
  config.latent_dim = 5                          # z size (PEARL and SMAC)
  config.kl_weight = 0.1                         # kl_lambda (oyster)
  config.kl_reduction = "sum"                    # KL over tasks: "sum" (PEARL) | "mean" (SMAC)
  config.discount = 0.99                         # gamma
  config.reward_scale = 5.0                      # rewards x this in the critic target (oyster)
  config.entropy_weight = 1.0                    # alpha, fixed (oyster: no auto-tuning)
  config.policy_hidden_dims = (300, 300, 300)    # pi (oyster)
  config.critic_hidden_dims = (300, 300, 300)    # Q1, Q2 (oyster)
  config.encoder_hidden_dims = (200, 200, 200)   # context encoder (oyster)
  config.actor_lr = 3e-4                         # policy learning rate
  config.critic_lr = 3e-4                        # Q learning rate
  config.encoder_lr = 3e-4                       # context encoder learning rate
  config.target_tau = 5e-3                       # Polyak rate of the target critics
  config.num_critics = 2                         # twin Q; targets and actor use their minimum
  config.log_std_min = -5.0                      # policy log-std clip (pre-squash)
  config.log_std_max = 2.0
  config.q_loss_into_encoder = True              # PEARL's encoder signal (SMAC: False)
  return config


@struct.dataclass
class PEARLState:
  encoder: Network
  actor: Network
  critic: Network
  target_critic_params: PyTree
  config: ml_collections.FrozenConfigDict = struct.field(pytree_node=False)


def create_networks(config, key: jax.Array, spec: Spec):
  """(encoder, actor, critic) of a PEARL/SMAC agent: pi(a | s, z), Q(s, a, z), q(z | s, a, r)."""
  encoder_key, actor_key, critic_key = jax.random.split(key, 3)
  obs, action = common.example_inputs(spec)
  z = jnp.zeros((1, config.latent_dim), jnp.float32)
  encoder = Network.create(
      context_lib.ContextEncoder(tuple(config.encoder_hidden_dims), config.latent_dim),
      common.Optimizer(config.encoder_lr), encoder_key,
      context_lib.sar_features(obs, action, jnp.zeros((1,))))
  actor = Network.create(
      TanhGaussianPolicy(tuple(config.policy_hidden_dims), spec.action_dim, config.log_std_min,
                         config.log_std_max),
      common.Optimizer(config.actor_lr), actor_key, jnp.concatenate([obs, z], -1))
  critic = Network.create(CriticEnsemble(tuple(config.critic_hidden_dims), config.num_critics),
                          common.Optimizer(config.critic_lr), critic_key,
                          jnp.concatenate([obs, z], -1), action)
  return encoder, actor, critic


def check_config(config) -> None:
  if config.kl_reduction not in ("sum", "mean"):
    raise ValueError(f"kl_reduction must be 'sum' or 'mean', got {config.kl_reduction!r}")


def create(config: ml_collections.ConfigDict, key: jax.Array, spec: Spec) -> PEARLState:
  check_config(config)
  encoder, actor, critic = create_networks(config, key, spec)
  return PEARLState(encoder=encoder, actor=actor, critic=critic,
                    target_critic_params=critic.params, config=common.frozen(config))


# ------------------------------------------------------------------ shared with SMAC
def posterior(state, encoder_params: PyTree, context: Transition, mask: jax.Array
              ) -> Tuple[jax.Array, jax.Array]:
  """(mu, variance) [..., latent] of q(z | context) over (s, a, r) elements [..., n, ...]."""
  features = context_lib.sar_features(context.obs, context.action, context.reward)
  mu, variance = state.encoder.apply(features, params=encoder_params)
  return context_lib.product_of_gaussians(mu, variance, mask)


def reduce_kl(config, kl: jax.Array) -> jax.Array:
  """kl_weight times the per-task KLs [tasks] summed (PEARL) or averaged (SMAC)."""
  total = jnp.sum(kl) if config.kl_reduction == "sum" else jnp.mean(kl)
  return config.kl_weight * total


def conditioned(obs: jax.Array, z: jax.Array) -> jax.Array:
  return jnp.concatenate([obs, z], axis=-1)


def flatten(batch: Transition) -> Transition:
  """[tasks, batch, ...] -> [tasks * batch, ...]."""
  return jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), batch)


def task_rows(z: jax.Array, per_task: int) -> jax.Array:
  """Each task's latent [tasks, latent] repeated for its rows: [tasks * per_task, latent]."""
  return jnp.repeat(z, per_task, axis=0)


def min_q(state, critic_params: PyTree, inputs: jax.Array, action: jax.Array) -> jax.Array:
  return jnp.min(state.critic.apply(inputs, action, params=critic_params), axis=0)


def policy_sample(state, actor_params: PyTree, inputs: jax.Array, key: jax.Array):
  """A reparameterised tanh-Gaussian action and its log-density."""
  mean, log_std = state.actor.apply(inputs, params=actor_params)
  return tanh_gaussian_sample(key, mean, log_std)


def critic_target(state, flat: Transition, z_rows: jax.Array, key: jax.Array) -> jax.Array:
  """scale * r + discount * mask * (min Q_target(s', a', z) - alpha log pi(a'|s', z)), a constant."""
  config = state.config
  next_inputs = conditioned(flat.next_obs, jax.lax.stop_gradient(z_rows))
  next_action, next_log_prob = policy_sample(state, state.actor.params, next_inputs, key)
  next_value = (min_q(state, state.target_critic_params, next_inputs, next_action)
                - config.entropy_weight * next_log_prob)
  return jax.lax.stop_gradient(config.reward_scale * flat.reward
                               + config.discount * flat.mask * next_value)


def act_with_latent(state, obs: jax.Array, z: jax.Array, key: jax.Array,
                    deterministic: bool) -> jax.Array:
  """pi(a | s, z) for observations [n, obs] and latents [n, latent] (or one [latent])."""
  z = jnp.broadcast_to(z, obs.shape[:-1] + z.shape[-1:])
  mean, log_std = state.actor.apply(conditioned(obs, z))
  if deterministic:
    return jnp.tanh(mean)
  return tanh_gaussian_sample(key, mean, log_std)[0]


def act(state, obs: jax.Array, key: jax.Array, deterministic: bool) -> jax.Array:
  """pi(a | s, z = 0), the prior mean (no context yet)."""
  return act_with_latent(state, obs, jnp.zeros((state.config.latent_dim,), jnp.float32), key,
                         deterministic)


# ------------------------------------------------------------------------------ losses
def encoder_critic_loss(params: Tuple[PyTree, PyTree], state: PEARLState, batch: Transition,
                        context: Transition, context_mask: jax.Array, key: jax.Array):
  encoder_params, critic_params = params
  z_key, target_key = jax.random.split(key)
  mu, variance = posterior(state, encoder_params, context, context_mask)
  z = context_lib.sample(z_key, mu, variance)
  z_rows = task_rows(z, batch.reward.shape[1])
  flat = flatten(batch)
  target = critic_target(state, flat, z_rows, target_key)
  critic_z = z_rows if state.config.q_loss_into_encoder else jax.lax.stop_gradient(z_rows)
  q = state.critic.apply(conditioned(flat.obs, critic_z), flat.action, params=critic_params)
  critic_loss = jnp.sum(jnp.mean((q - target) ** 2, axis=-1))
  kl = context_lib.kl_to_standard_normal(mu, variance)
  metrics = {"critic_loss": critic_loss, "kl": jnp.mean(kl), "q": jnp.mean(q)}
  return critic_loss + reduce_kl(state.config, kl), (metrics, z)


def actor_loss(actor_params: PyTree, state: PEARLState, batch: Transition, z: jax.Array,
               key: jax.Array) -> Tuple[jax.Array, Metrics]:
  flat = flatten(batch)
  inputs = conditioned(flat.obs, task_rows(jax.lax.stop_gradient(z), batch.reward.shape[1]))
  action, log_prob = policy_sample(state, actor_params, inputs, key)
  q = min_q(state, jax.lax.stop_gradient(state.critic.params), inputs, action)
  loss = jnp.mean(state.config.entropy_weight * log_prob - q)
  return loss, {"actor_loss": loss, "entropy": -jnp.mean(log_prob)}


def update(state: PEARLState, batch, key: jax.Array) -> Tuple[PEARLState, Metrics]:
  """One PEARL step on a `samplers.MetaBatch` (critic and encoder, then actor, then target)."""
  critic_key, actor_key = jax.random.split(key)
  params = (state.encoder.params, state.critic.params)
  (encoder_grads, critic_grads), (metrics, z) = jax.grad(encoder_critic_loss, has_aux=True)(
      params, state, batch.batch, batch.context, batch.context_mask, critic_key)
  state = state.replace(encoder=state.encoder.apply_gradients(encoder_grads),
                        critic=state.critic.apply_gradients(critic_grads))
  actor, actor_metrics = state.actor.minimize(actor_loss, state, batch.batch, z, actor_key)
  target = common.polyak(state.target_critic_params, state.critic.params, state.config.target_tau)
  return state.replace(actor=actor, target_critic_params=target), {**metrics, **actor_metrics}
