"""Policy heads over the shared MLP trunk, and the log-densities the agents' losses need.

Three heads, each the parameterisation its source algorithm uses:
  GaussianPolicy       tanh(mean), state-independent log-std (official IQL; also AWAC and BC)
  TanhGaussianPolicy   tanh-squashed Gaussian with state-dependent log-std (SAC)
  DeterministicPolicy  tanh(Dense) (TD3, TD3+BC)
Actions live in [-1, 1]^action_dim.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxinsert.networks.mlp import MLP, default_init

_LOG_SQRT_2PI = 0.5 * jnp.log(2.0 * jnp.pi)


class GaussianPolicy(nn.Module):
  """Gaussian with a tanh-bounded mean and a free, state-independent log-std.

  The squashing is on the mean, not on the distribution (as the official IQL), so the
  log-likelihood of a dataset action is an ordinary Gaussian log-density. Returns
  (mean, log_std), both with the action's shape.
  """

  hidden_dims: Sequence[int]
  action_dim: int
  log_std_min: float = -5.0
  log_std_max: float = 2.0
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, obs: jax.Array, train: bool = False) -> Tuple[jax.Array, jax.Array]:
    features = MLP(self.hidden_dims, activate_final=True,
                   dropout_rate=self.dropout_rate or None)(obs, train=train)
    mean = jnp.tanh(nn.Dense(self.action_dim, kernel_init=default_init())(features))
    log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
    log_std = jnp.clip(log_std, self.log_std_min, self.log_std_max)
    return mean, jnp.broadcast_to(log_std, mean.shape)


class TanhGaussianPolicy(nn.Module):
  """Gaussian in pre-squash space with state-dependent log-std; actions are tanh of a sample.

  Returns (mean, log_std) of the pre-squash Gaussian; `tanh_gaussian_sample` draws actions.
  """

  hidden_dims: Sequence[int]
  action_dim: int
  log_std_min: float = -5.0
  log_std_max: float = 2.0

  @nn.compact
  def __call__(self, obs: jax.Array) -> Tuple[jax.Array, jax.Array]:
    features = MLP(self.hidden_dims, activate_final=True)(obs)
    mean = nn.Dense(self.action_dim, kernel_init=default_init())(features)
    log_std = nn.Dense(self.action_dim, kernel_init=default_init())(features)
    return mean, jnp.clip(log_std, self.log_std_min, self.log_std_max)


class DeterministicPolicy(nn.Module):
  """A deterministic action tanh(Dense(features))."""

  hidden_dims: Sequence[int]
  action_dim: int

  @nn.compact
  def __call__(self, obs: jax.Array) -> jax.Array:
    features = MLP(self.hidden_dims, activate_final=True)(obs)
    return jnp.tanh(nn.Dense(self.action_dim, kernel_init=default_init())(features))


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, value: jax.Array) -> jax.Array:
  """Log-density of a diagonal Gaussian, summed over the last (action) axis."""
  standardized = (value - mean) * jnp.exp(-log_std)
  return jnp.sum(-0.5 * standardized**2 - log_std - _LOG_SQRT_2PI, axis=-1)


def gaussian_sample(key: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
  return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)


def tanh_gaussian_sample(key: jax.Array, mean: jax.Array, log_std: jax.Array
                         ) -> Tuple[jax.Array, jax.Array]:
  """Reparameterised sample a = tanh(u), u ~ N(mean, std), and its log-density log pi(a).

  The change of variables subtracts log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)),
  written this way because 1 - tanh(u)^2 underflows to 0 for |u| > ~9 in float32.
  """
  pre_squash = gaussian_sample(key, mean, log_std)
  log_prob = gaussian_log_prob(mean, log_std, pre_squash)
  log_det_jacobian = 2.0 * (jnp.log(2.0) - pre_squash - jax.nn.softplus(-2.0 * pre_squash))
  return jnp.tanh(pre_squash), log_prob - jnp.sum(log_det_jacobian, axis=-1)


def tanh_gaussian_log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array,
                           epsilon: float = 1e-6) -> jax.Array:
  """log pi(a) of a given action in (-1, 1) under the tanh-squashed Gaussian (pre-squash
  mean, log_std): the density of u = atanh(a) minus log(1 - a^2). Actions are clipped to
  +-(1 - epsilon) first, so dataset actions at the bounds stay finite (AWAC on a tanh policy)."""
  action = jnp.clip(action, -1.0 + epsilon, 1.0 - epsilon)
  pre_squash = jnp.arctanh(action)
  log_det_jacobian = jnp.log(1.0 - action ** 2)
  return gaussian_log_prob(mean, log_std, pre_squash) - jnp.sum(log_det_jacobian, axis=-1)
