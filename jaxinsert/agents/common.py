"""Plumbing every agent shares: trained networks, optimisers, target updates, advantage weights.

Agents differ in their losses; everything here is written once and used by several of them.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import struct

from jaxinsert.networks.policies import gaussian_log_prob, gaussian_sample
from jaxinsert.types import PyTree, Spec

Metrics = Dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class Optimizer:
  """Adam settings of one network, hashable so they can be a static field of the state.

  The optax transformation is rebuilt from these on each use (cheap, traced once), so two
  states created from the same config compare equal, tree structure included. The structure of
  the optimiser state does not depend on the values: a checkpoint taken with cosine decay on
  restores into a template built with it off (offline -> online finetuning).
  """

  learning_rate: float
  cosine_decay_steps: int = 0     # decay the learning rate to 0 over this many updates (0 = off)
  weight_decay: float = 0.0       # L2 added to the gradient before Adam, as torch's Adam does
  b1: float = 0.9                 # Adam's first-moment decay
  b2: float = 0.999               # Adam's second-moment decay
  warmup_steps: int = 0           # linear warm-up from 0 over this many updates (0 = off)
  delay_steps: int = 0            # learning rate 0 for this many updates before the schedule

  def build(self) -> optax.GradientTransformation:
    if self.cosine_decay_steps > 0:
      schedule = optax.cosine_decay_schedule(self.learning_rate, self.cosine_decay_steps)
    elif self.warmup_steps > 0:
      schedule = optax.linear_schedule(0.0, self.learning_rate, self.warmup_steps)
    else:
      schedule = optax.constant_schedule(self.learning_rate)
    if self.delay_steps > 0:
      schedule = optax.join_schedules([optax.constant_schedule(0.0), schedule],
                                      [self.delay_steps])
    return optax.chain(optax.add_decayed_weights(self.weight_decay),
                       optax.adam(schedule, b1=self.b1, b2=self.b2))


@struct.dataclass
class Network:
  """A flax module's parameters and optimiser state; the module and optimiser are static."""

  params: PyTree
  opt_state: PyTree
  module: nn.Module = struct.field(pytree_node=False)
  optimizer: Optimizer = struct.field(pytree_node=False)

  @classmethod
  def create(cls, module: nn.Module, optimizer: Optimizer, key: jax.Array, *example_inputs
             ) -> "Network":
    params = module.init(key, *example_inputs)["params"]
    return cls(params=params, opt_state=optimizer.build().init(params), module=module,
               optimizer=optimizer)

  def apply(self, *inputs, params: PyTree = None, **kwargs):
    """Runs the module with its own parameters, or with `params` (inside a loss)."""
    params = self.params if params is None else params
    return self.module.apply({"params": params}, *inputs, **kwargs)

  def minimize(self, loss_fn: Callable[..., Tuple[jax.Array, Metrics]], *args
               ) -> Tuple["Network", Metrics]:
    """One optimiser step on `loss_fn(params, *args) -> (loss, metrics)`."""
    grads, metrics = jax.grad(loss_fn, has_aux=True)(self.params, *args)
    return self.apply_gradients(grads), metrics

  def apply_gradients(self, grads: PyTree) -> "Network":
    updates, opt_state = self.optimizer.build().update(grads, self.opt_state, self.params)
    return self.replace(params=optax.apply_updates(self.params, updates), opt_state=opt_state)


def frozen(config: ml_collections.ConfigDict) -> ml_collections.FrozenConfigDict:
  """The agent config as a hashable static field (field references resolved to values)."""
  return ml_collections.FrozenConfigDict(config)


def example_inputs(spec: Spec) -> Tuple[jax.Array, jax.Array]:
  """A one-transition observation and action to initialise parameters with."""
  return (jnp.zeros((1,) + tuple(spec.obs_shape), spec.obs_dtype),
          jnp.zeros((1, spec.action_dim), jnp.float32))


def polyak(target_params: PyTree, online_params: PyTree, target_tau: float) -> PyTree:
  """Soft target update: target <- (1 - target_tau) * target + target_tau * online."""
  return jax.tree_util.tree_map(
      lambda target, online: (1.0 - target_tau) * target + target_tau * online,
      target_params, online_params)


def select(condition: jax.Array, on_true: PyTree, on_false: PyTree) -> PyTree:
  """Picks one of two pytrees by a scalar flag, jit- and vmap-friendly (delayed updates)."""
  return jax.tree_util.tree_map(lambda a, b: jnp.where(condition, a, b), on_true, on_false)


def advantage_weights(advantage: jax.Array, beta: float, max_weight: float = 100.0
                      ) -> jax.Array:
  """Exponentiated advantages min(exp(beta * A), max_weight), beta an inverse temperature.

  The cap follows Brandfonbrener et al. (2021) as IQL does (thesis ch. 7: "clip exponentiated
  advantages to (-inf, 100]"). Computed as exp(min(beta * A, log max_weight)) so that a huge
  advantage gives the cap, not inf (whose gradient would be nan).
  """
  return jnp.exp(jnp.minimum(beta * advantage, jnp.log(max_weight)))


def gaussian_policy_log_prob(policy: Network, params: PyTree, obs: jax.Array,
                             action: jax.Array, dropout_key: jax.Array) -> jax.Array:
  """log pi(a|s) of a GaussianPolicy in training mode (dropout on, when configured)."""
  mean, log_std = policy.apply(obs, params=params, train=True, rngs={"dropout": dropout_key})
  return gaussian_log_prob(mean, log_std, action)


def awr_actor_loss(policy_params: PyTree, policy: Network, obs: jax.Array, action: jax.Array,
                   advantage: jax.Array, beta: float, max_weight: float, dropout_key: jax.Array
                   ) -> Tuple[jax.Array, Metrics]:
  """Advantage-weighted regression: -mean(min(exp(beta * A), max_weight) * log pi(a|s)).

  Used by IQL (A = min target Q - V) and AWAC (A = Q - E_pi Q). The advantage is treated as a
  constant: the actor loss must not move the critics.
  """
  weights = advantage_weights(jax.lax.stop_gradient(advantage), beta, max_weight)
  log_prob = gaussian_policy_log_prob(policy, policy_params, obs, action, dropout_key)
  loss = -jnp.mean(weights * log_prob)
  return loss, {"actor_loss": loss, "advantage": jnp.mean(advantage),
                "weight_mean": jnp.mean(weights), "weight_max": jnp.max(weights),
                "log_prob": jnp.mean(log_prob)}


def gaussian_policy_act(policy: Network, obs: jax.Array, key: jax.Array, deterministic: bool
                        ) -> jax.Array:
  """The mean (evaluation) or a sample (exploration) of a GaussianPolicy, clipped to [-1, 1]."""
  mean, log_std = policy.apply(obs)
  if deterministic:
    return mean
  return jnp.clip(gaussian_sample(key, mean, log_std), -1.0, 1.0)
