"""PEARL's context encoder: a product of Gaussian factors, one per context element.

q(z | c) is proportional to prod_n N(z; mu_n, diag sigma_n^2), where one MLP maps each context
element c_n (a transition's features, concatenated) to 2 * latent_dim numbers: mu_n, and a raw
value whose softplus is the variance sigma_n^2 (clamped to >= 1e-7), as in PEARL's code
(`rlkit/torch/sac/agent.py`). The product has the closed form

  sigma^2 = 1 / sum_n (m_n / sigma_n^2),   mu = sigma^2 * sum_n (m_n * mu_n / sigma_n^2),

with m_n the context mask (0 for padding), so a context of any length compiles once at its
padded size and the result does not depend on the elements' order. The N(0, I) prior is not a
factor (PEARL's choice; adding it changes the posterior); a context with no valid element
gives the prior. Used by ODA and SMAC; conditioning a network is concatenating z to its input.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxinsert.networks.mlp import MLP

MIN_VARIANCE = 1e-7


class ContextEncoder(nn.Module):
  """Per-element Gaussian factors: `(mu, variance)`, each [..., n, latent_dim]."""

  hidden_dims: Sequence[int]
  latent_dim: int

  @nn.compact
  def __call__(self, context: jax.Array) -> Tuple[jax.Array, jax.Array]:
    out = MLP(tuple(self.hidden_dims) + (2 * self.latent_dim,))(context)
    mu, raw = jnp.split(out, 2, axis=-1)
    return mu, jnp.maximum(jax.nn.softplus(raw), MIN_VARIANCE)


def product_of_gaussians(mu: jax.Array, variance: jax.Array, mask: jax.Array
                         ) -> Tuple[jax.Array, jax.Array]:
  """The posterior (mu, variance) [..., latent] of factors [..., n, latent] with mask [..., n]."""
  precision = mask[..., None] / variance
  total_precision = jnp.sum(precision, axis=-2)
  empty = total_precision <= 0.0
  posterior_variance = jnp.where(empty, 1.0, 1.0 / jnp.where(empty, 1.0, total_precision))
  posterior_mu = jnp.where(empty, 0.0, posterior_variance * jnp.sum(precision * mu, axis=-2))
  return posterior_mu, posterior_variance


def sample(key: jax.Array, mu: jax.Array, variance: jax.Array) -> jax.Array:
  """z = mu + sigma * eps (reparameterised: gradients reach mu and variance)."""
  return mu + jnp.sqrt(variance) * jax.random.normal(key, mu.shape, mu.dtype)


def kl_to_standard_normal(mu: jax.Array, variance: jax.Array) -> jax.Array:
  """KL(N(mu, diag variance) || N(0, I)) summed over the last (latent) axis."""
  return 0.5 * jnp.sum(mu ** 2 + variance - 1.0 - jnp.log(variance), axis=-1)


def transition_features(obs: jax.Array, action: jax.Array, reward: jax.Array,
                        next_obs: jax.Array) -> jax.Array:
  """A context element: (s, a, r, s') concatenated (PEARL uses (s, a, r); s' is its option)."""
  return jnp.concatenate([obs, action, reward[..., None], next_obs], axis=-1)


def sar_features(obs: jax.Array, action: jax.Array, reward: jax.Array) -> jax.Array:
  """A context element without s': (s, a, r), PEARL's and SMAC's default
  (`use_next_obs_in_context=False`)."""
  return jnp.concatenate([obs, action, reward[..., None]], axis=-1)
