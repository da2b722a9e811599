"""Behaviour cloning: maximum likelihood of dataset actions under IQL's Gaussian policy.

The policy is the same tanh-mean Gaussian as IQL's actor, so BC is IQL's policy extraction with
every advantage weight equal to one (tests/test_iql.py checks exactly that).
"""

from __future__ import annotations

from typing import Tuple

import jax
import jax.numpy as jnp
import ml_collections
from flax import struct

from jaxinsert.agents import common
from jaxinsert.agents.common import Metrics, Network
from jaxinsert.networks.policies import GaussianPolicy
from jaxinsert.types import PyTree, Spec, Transition


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.hidden_dims = (256, 256)   # policy hidden widths (as IQL's actor, thesis E.2)
  config.dropout_rate = 0.0         # dropout after each hidden layer (0 = none)
  config.actor_lr = 3e-4            # Adam learning rate
  config.log_std_min = -5.0         # lower clip of the state-independent log-std
  config.log_std_max = 2.0          # upper clip of the log-std
  return config


@struct.dataclass
class BCState:
  actor: Network
  config: ml_collections.FrozenConfigDict = struct.field(pytree_node=False)


def create(config: ml_collections.ConfigDict, key: jax.Array, spec: Spec) -> BCState:
  obs, _ = common.example_inputs(spec)
  actor = Network.create(
      GaussianPolicy(tuple(config.hidden_dims), spec.action_dim, config.log_std_min,
                     config.log_std_max, config.dropout_rate),
      common.Optimizer(config.actor_lr), key, obs)
  return BCState(actor=actor, config=common.frozen(config))


def loss(actor_params: PyTree, state: BCState, batch: Transition, key: jax.Array
         ) -> Tuple[jax.Array, Metrics]:
  """Negative log-likelihood of the dataset actions."""
  log_prob = common.gaussian_policy_log_prob(state.actor, actor_params, batch.obs, batch.action,
                                             key)
  nll = -jnp.mean(log_prob)
  return nll, {"actor_loss": nll}


def update(state: BCState, batch: Transition, key: jax.Array) -> Tuple[BCState, Metrics]:
  actor, metrics = state.actor.minimize(loss, state, batch, key)
  return state.replace(actor=actor), metrics


def act(state: BCState, obs: jax.Array, key: jax.Array, deterministic: bool) -> jax.Array:
  return common.gaussian_policy_act(state.actor, obs, key, deterministic)
