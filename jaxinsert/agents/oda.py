"""ODA: offline meta-RL with demonstration adaptation (Zhao et al. 2022; digest Part A).

A PEARL context encoder q(z | c) reads a task's demonstrations; actor pi(a | s, z) and twin
critic Q(s, a, z) see z concatenated to the state. Training is AWAC per
Algorithm 1, on a meta-batch holding every training task at once (leaves [tasks, batch, ...],
context [tasks, context, ...]):

  critic:  sum_i mean (Q(s, a, z_i) - y)^2,  y = r + discount * mask * min Q_target(s', a', z_i),
           a' the dataset's next action (Algorithm 1 line 7, `critic_target_action`), or
           a' ~ pi(. | s', z_i) (standard AWAC; always for plain online batches, Algorithm 2);
  KL:      kl_weight * sum_i KL(q(z | c_i) || N(0, I));
  actor:   sum_i -mean min(exp(beta * A), 100) log pi(a | s, sg(z_i)),  A = min Q - E_pi min Q.

Gradient routing (Algorithm 1 lines 12-14, PEARL's convention): the encoder gets the critic and
KL gradients only; the actor sees stop_gradient(z); the critic target is a constant. Three
Adam optimisers. Losses are summed over tasks as Algorithm 1 writes (SMAC averages). With
`use_context=False` the same agent is the paper's AWAC baseline, "ODA minus the encoder".

Adaptation (Algorithm 2): `adapt(state, demos)` stores a task's demonstrations in the state;
then `act` conditions on the posterior mean of all of them, and `update` with a plain
transition batch (the online buffer B) is the same loss with context drawn from those demos
(or, with `adapted_latent="mean"`, at the posterior mean of all of them, the z `act` uses), so
the standard online trainer finetunes encoder, actor and critic end to end.
"""

from __future__ import annotations

from typing import Optional, Tuple

import jax
import jax.numpy as jnp
import ml_collections
from flax import struct

from jaxinsert.agents import common
from jaxinsert.agents.common import Metrics, Network
from jaxinsert.networks import context as context_lib
from jaxinsert.networks.critics import CriticEnsemble
from jaxinsert.networks.policies import GaussianPolicy, gaussian_sample
from jaxinsert.types import PyTree, Spec, Transition


def get_config() -> ml_collections.ConfigDict:
  # Sources: ODA website (W) via digest A5/A6, PEARL's code for the encoder, AWAC otherwise.
  config = ml_collections.ConfigDict()
  config.latent_dim = 12                          # z size (W)
  config.kl_weight = 0.01                         # beta of L_KL (W "beta: 0.01", digest A3)
  config.beta = 3.0                               # AWAC inverse temperature 1/lambda (not given)
  config.discount = 0.99                          # gamma (W)
  config.policy_hidden_dims = (800, 600, 32)      # actor trunk (W)
  config.critic_hidden_dims = (800, 600, 32)      # critic trunk (W; MSE, not the 100-atom C51)
  config.encoder_hidden_dims = (200, 200, 200)    # PEARL's context encoder (ODA: "as PEARL")
  config.actor_lr = 3e-4                          # eta_2 (W)
  config.critic_lr = 3e-4                         # eta_3 (W)
  config.encoder_lr = 3e-4                        # eta_1 (W)
  config.adam_b1 = 0.88                           # Adam beta1 (W)
  config.adam_b2 = 0.92                           # Adam beta2 (W)
  config.warmup_steps = 0                         # linear lr warm-up (W: 10k while finetuning)
  config.target_tau = 5e-3                        # Polyak rate of the target critic (AWAC)
  config.num_critics = 2                          # twin Q; targets and advantages use the min
  config.exp_adv_max = 100.0                      # cap on exp(beta * A) (DESIGN convention)
  config.value_samples = 1                        # policy actions for E_pi Q (rlkit: 1)
  config.log_std_min = -6.0                       # policy log-std lower clip (rlkit AWAC)
  config.log_std_max = 0.0                        # policy log-std upper clip (rlkit AWAC)
  config.context_size = 64                        # demo transitions per task per update (W)
  config.critic_target_action = "dataset"         # a' of the target: "dataset" (Algorithm 1
                                                  # line 7, SARSA) or "policy" (a' ~ pi, AWAC)
  config.use_context = True                       # False: z = 0 and no KL, i.e. multi-task
                                                  # AWAC "minus the encoder" (the baseline)
  return config


@struct.dataclass
class ODAState:
  encoder: Network
  actor: Network
  critic: Network
  target_critic_params: PyTree
  config: ml_collections.FrozenConfigDict = struct.field(pytree_node=False)
  # The adapted task's demonstrations (padded; `adapt`), None while meta-training.
  context: Optional[Transition] = None
  context_mask: Optional[jax.Array] = None


def _optimizer(config, learning_rate: float, delay_steps: int = 0) -> common.Optimizer:
  return common.Optimizer(learning_rate, b1=config.adam_b1, b2=config.adam_b2,
                          warmup_steps=config.warmup_steps, delay_steps=delay_steps)


def create(config: ml_collections.ConfigDict, key: jax.Array, spec: Spec) -> ODAState:
  encoder_key, actor_key, critic_key = jax.random.split(key, 3)
  obs, action = common.example_inputs(spec)
  z = jnp.zeros((1, config.latent_dim), jnp.float32)
  element = context_lib.transition_features(obs, action, jnp.zeros((1,)), obs)
  encoder = Network.create(
      context_lib.ContextEncoder(tuple(config.encoder_hidden_dims), config.latent_dim),
      _optimizer(config, config.encoder_lr), encoder_key, element)
  actor = Network.create(
      GaussianPolicy(tuple(config.policy_hidden_dims), spec.action_dim, config.log_std_min,
                     config.log_std_max),
      _optimizer(config, config.actor_lr), actor_key, jnp.concatenate([obs, z], -1))
  critic = Network.create(CriticEnsemble(tuple(config.critic_hidden_dims), config.num_critics),
                          _optimizer(config, config.critic_lr), critic_key,
                          jnp.concatenate([obs, z], -1), action)
  return ODAState(encoder=encoder, actor=actor, critic=critic,
                  target_critic_params=critic.params, config=common.frozen(config))


def with_optimizers(state: ODAState, config: ml_collections.ConfigDict) -> ODAState:
  """The same networks with fresh Adam states at `config`'s rates (finetuning: 3e-5, warm-up).
  `config.actor_delay_steps` (optional, default 0) holds the actor still for that many updates
  while the critic and encoder learn the online buffer first (a critic warm-up)."""
  config = common.frozen(config)

  def fresh(network: Network, learning_rate: float, delay_steps: int = 0) -> Network:
    optimizer = _optimizer(config, learning_rate, delay_steps)
    return network.replace(optimizer=optimizer,
                           opt_state=optimizer.build().init(network.params))

  return state.replace(encoder=fresh(state.encoder, config.encoder_lr),
                       actor=fresh(state.actor, config.actor_lr,
                                   int(config.get("actor_delay_steps", 0))),
                       critic=fresh(state.critic, config.critic_lr), config=config)


# ----------------------------------------------------------------------------------- encoder
def posterior(state: ODAState, encoder_params: PyTree, context: Transition,
              mask: jax.Array) -> Tuple[jax.Array, jax.Array]:
  """(mu, variance) of q(z | context); context leaves [..., n, ...], mask [..., n]."""
  features = context_lib.transition_features(context.obs, context.action, context.reward,
                                             context.next_obs)
  mu, variance = state.encoder.apply(features, params=encoder_params)
  return context_lib.product_of_gaussians(mu, variance, mask)


def adapt(state: ODAState, demos: Transition, capacity: Optional[int] = None) -> ODAState:
  """The state conditioned on one task's demonstrations (padded to `capacity` with a mask)."""
  count = demos.size
  capacity = count if capacity is None else capacity
  if count > capacity:
    raise ValueError(f"{count} demonstration transitions do not fit a context of {capacity}")
  pad = lambda x: jnp.concatenate([x, jnp.zeros((capacity - count,) + x.shape[1:], x.dtype)])
  context = jax.tree_util.tree_map(pad, demos.replace(task_id=None, domain_id=None))
  mask = jnp.concatenate([jnp.ones(count), jnp.zeros(capacity - count)]).astype(jnp.float32)
  return state.replace(context=context, context_mask=mask)


def task_latent(state: ODAState) -> jax.Array:
  """The posterior mean of the adapted task's whole context (what `act` conditions on); the
  prior mean z = 0 before any adaptation (PEARL's empty context)."""
  if state.context is None:
    return jnp.zeros((state.config.latent_dim,), jnp.float32)
  mu = posterior(state, state.encoder.params, state.context, state.context_mask)[0]
  return mu if state.config.use_context else jnp.zeros_like(mu)


# ------------------------------------------------------------------------------------ losses
def _conditioned(obs: jax.Array, z: jax.Array) -> jax.Array:
  return jnp.concatenate([obs, z], axis=-1)


def _policy_actions(state: ODAState, actor_params: PyTree, inputs: jax.Array, key: jax.Array,
                    num_samples: int) -> jax.Array:
  mean, log_std = jax.lax.stop_gradient(state.actor.apply(inputs, params=actor_params))
  samples = gaussian_sample(key, jnp.broadcast_to(mean, (num_samples,) + mean.shape), log_std)
  return jnp.clip(samples, -1.0, 1.0)


def _min_q(state: ODAState, critic_params: PyTree, inputs: jax.Array, action: jax.Array):
  return jnp.min(state.critic.apply(inputs, action, params=critic_params), axis=0)


def _flatten(batch: Transition) -> Transition:
  return jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), batch)


def encoder_critic_loss(params: Tuple[PyTree, PyTree], state: ODAState, batch: Transition,
                        context: Transition, context_mask: jax.Array, key: jax.Array,
                        next_action: Optional[jax.Array] = None, sample_z: bool = True):
  """Critic + KL, differentiated w.r.t. (encoder, critic) parameters; z is returned for the
  actor. Batch leaves are [tasks, batch, ...]; `next_action` [tasks, batch, action] (or None);
  `sample_z=False` takes the posterior mean instead of a sample."""
  encoder_params, critic_params = params
  config = state.config
  z_key, next_key = jax.random.split(key)
  mu, variance = posterior(state, encoder_params, context, context_mask)
  if not config.use_context:
    mu, variance = jnp.zeros_like(mu), jnp.ones_like(variance)
  z = context_lib.sample(z_key, mu, variance) if config.use_context and sample_z else mu
  num_tasks, per_task = batch.reward.shape
  z_rows = jnp.repeat(z, per_task, axis=0)
  flat = _flatten(batch)
  z_fixed = jax.lax.stop_gradient(z_rows)
  next_inputs = _conditioned(flat.next_obs, z_fixed)
  if next_action is not None and config.critic_target_action == "dataset":
    next_action = next_action.reshape((-1,) + next_action.shape[2:])
  else:
    next_action = _policy_actions(state, state.actor.params, next_inputs, next_key, 1)[0]
  target = jax.lax.stop_gradient(
      flat.reward + config.discount * flat.mask
      * _min_q(state, state.target_critic_params, next_inputs, next_action))
  q = state.critic.apply(_conditioned(flat.obs, z_rows), flat.action, params=critic_params)
  critic_loss = num_tasks * jnp.sum(jnp.mean((q - target) ** 2, axis=-1))  # sum_i of task means
  kl = context_lib.kl_to_standard_normal(mu, variance)
  kl_loss = config.kl_weight * jnp.sum(kl)
  metrics = {"critic_loss": critic_loss, "kl": jnp.mean(kl), "q": jnp.mean(q),
             "z_variance": jnp.mean(variance)}
  return critic_loss + kl_loss, (metrics, z)


def actor_loss(actor_params: PyTree, state: ODAState, batch: Transition, z: jax.Array,
               key: jax.Array) -> Tuple[jax.Array, Metrics]:
  """AWAC's weighted regression at stop_gradient(z) with the pre-update critic."""
  sample_key, dropout_key = jax.random.split(key)
  config = state.config
  num_tasks, per_task = batch.reward.shape
  flat = _flatten(batch)
  inputs = _conditioned(flat.obs, jnp.repeat(jax.lax.stop_gradient(z), per_task, axis=0))
  critic_params = jax.lax.stop_gradient(state.critic.params)
  actions = _policy_actions(state, actor_params, inputs, sample_key, config.value_samples)
  value = jnp.mean(jax.vmap(lambda a: _min_q(state, critic_params, inputs, a))(actions), axis=0)
  advantage = _min_q(state, critic_params, inputs, flat.action) - value
  loss, metrics = common.awr_actor_loss(actor_params, state.actor, inputs, flat.action, advantage,
                                        config.beta, config.exp_adv_max, dropout_key)
  return num_tasks * loss, metrics


def _adapts_at_the_mean(state: ODAState) -> bool:
  """`config.adapted_latent` (optional): "sample" (Algorithm 2 line 10: z ~ q(z | a context of
  `context_size` demo transitions) each update) or "mean" (z = the posterior mean of all the
  stored demos, the very z that `act` conditions on)."""
  return state.config.get("adapted_latent", "sample") == "mean"


def _adapted_meta_batch(state: ODAState, batch: Transition, key: jax.Array):
  """A one-task meta-batch: the given (online) batch, context drawn from the stored demos (all
  of them when adapting at the mean); an unadapted state has an empty context (all masked),
  i.e. z from the prior N(0, I)."""
  batch = jax.tree_util.tree_map(lambda x: x[None], batch.replace(task_id=None, domain_id=None))
  if state.context is None:
    empty = jax.tree_util.tree_map(lambda x: x[:, :1], batch)
    return batch, empty, jnp.zeros((1, 1), jnp.float32)
  if _adapts_at_the_mean(state):
    return batch, jax.tree_util.tree_map(lambda x: x[None], state.context), state.context_mask[None]
  weights = state.context_mask / jnp.sum(state.context_mask)
  index = jax.random.choice(key, weights.shape[0], (state.config.context_size,), p=weights)
  context = jax.tree_util.tree_map(lambda x: x[index][None], state.context)
  return batch, context, jnp.ones((1, state.config.context_size), jnp.float32)


def update(state: ODAState, batch, key: jax.Array) -> Tuple[ODAState, Metrics]:
  """One step of Algorithm 1 on a `samplers.MetaBatch`, or of Algorithm 2 on a plain batch."""
  context_key, critic_key, actor_key = jax.random.split(key, 3)
  next_action, sample_z = None, True
  if isinstance(batch, Transition):
    batch, context, context_mask = _adapted_meta_batch(state, batch, context_key)
    sample_z = not _adapts_at_the_mean(state)
  else:
    batch, context, context_mask, next_action = (batch.batch, batch.context,
                                                 batch.context_mask, batch.next_action)
  params = (state.encoder.params, state.critic.params)
  (encoder_grads, critic_grads), (metrics, z) = jax.grad(encoder_critic_loss, has_aux=True)(
      params, state, batch, context, context_mask, critic_key, next_action, sample_z)
  actor, actor_metrics = state.actor.minimize(actor_loss, state, batch, z, actor_key)
  critic = state.critic.apply_gradients(critic_grads)
  encoder = state.encoder.apply_gradients(encoder_grads)
  target = common.polyak(state.target_critic_params, critic.params, state.config.target_tau)
  state = state.replace(encoder=encoder, actor=actor, critic=critic, target_critic_params=target)
  return state, {**metrics, **actor_metrics}


def act_with_latent(state: ODAState, obs: jax.Array, z: jax.Array, key: jax.Array,
                    deterministic: bool) -> jax.Array:
  """pi(a | s, z) for observations [n, obs] and latents [n, latent] (or one [latent])."""
  z = jnp.broadcast_to(z, obs.shape[:-1] + z.shape[-1:])
  inputs = _conditioned(obs, z)
  mean, log_std = state.actor.apply(inputs)
  if deterministic:
    return mean
  return jnp.clip(gaussian_sample(key, mean, log_std), -1.0, 1.0)


def act(state: ODAState, obs: jax.Array, key: jax.Array, deterministic: bool) -> jax.Array:
  """The adapted policy: pi(a | s, posterior mean of the stored demos)."""
  return act_with_latent(state, obs, task_latent(state), key, deterministic)
