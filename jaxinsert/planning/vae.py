"""The state VAE whose latent space PTP plans in (the CPU default; the thesis uses a VQ-VAE on
48x48 images, section 6.8 item 1), and the small fitting loop it shares with the generators.

States are standardised with the data's mean and std (per axis, or with `isotropic` one scale,
the smallest axis std, for every axis), encoded to a diagonal Gaussian, decoded
back; phi(s) = the encoder mean is the latent the policy, the value and the planner see.
Loss: squared reconstruction error (summed over dimensions) + kl_weight * KL(q(h|s) || N(0, I)).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxinsert.networks.mlp import MLP


def gaussian_kl(mean: jax.Array, log_std: jax.Array) -> jax.Array:
  """KL(N(mean, exp(log_std)^2) || N(0, I)), summed over the last axis."""
  return jnp.sum(0.5 * (mean**2 + jnp.exp(2 * log_std) - 1.0) - log_std, axis=-1)


class GaussianEncoder(nn.Module):
  hidden_dims: Sequence[int]
  latent_dim: int

  @nn.compact
  def __call__(self, x: jax.Array) -> Tuple[jax.Array, jax.Array]:
    features = MLP(self.hidden_dims, activate_final=True)(x)
    mean = nn.Dense(self.latent_dim)(features)
    log_std = jnp.clip(nn.Dense(self.latent_dim)(features), -10.0, 2.0)
    return mean, log_std


class StateVAE(nn.Module):
  hidden_dims: Sequence[int]
  latent_dim: int
  state_dim: int

  def setup(self):
    self.encoder = GaussianEncoder(self.hidden_dims, self.latent_dim)
    self.decoder = MLP(tuple(self.hidden_dims) + (self.state_dim,))

  def __call__(self, standardized_state, key):
    mean, log_std = self.encoder(standardized_state)
    latent = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return self.decoder(latent), mean, log_std

  def encode(self, standardized_state):
    return self.encoder(standardized_state)[0]

  def decode(self, latent):
    return self.decoder(latent)


@dataclasses.dataclass(frozen=True)
class VAEConfig:
  latent_dim: int = 4                 # h = phi(s); the state is 3-D, one spare dimension
  hidden_dims: Tuple[int, ...] = (128, 128)
  kl_weight: float = 1e-3             # small: the latent must keep millimetre detail
  # False: each axis standardised by its own std (the default). True: every axis divided by
  # the smallest axis std, so a centimetre moves the latent about as far along every axis and
  # no axis is compressed (on the PTP play data x's std is ~2.8x y's and z's, which put the
  # 2 cm pit walls of walled_socket below the planner's 0.2 reach threshold along x).
  isotropic: bool = False
  learning_rate: float = 1e-3
  batch_size: int = 256
  num_steps: int = 3000


@struct.dataclass
class TrainedVAE:
  params: Any
  state_mean: jax.Array
  state_std: jax.Array
  config: VAEConfig = struct.field(pytree_node=False)

  def module(self) -> StateVAE:
    return StateVAE(self.config.hidden_dims, self.config.latent_dim, self.state_mean.shape[-1])

  def encode(self, state: jax.Array) -> jax.Array:
    """phi(s): states (..., state_dim) -> latents (..., latent_dim)."""
    return self.module().apply({"params": self.params}, (state - self.state_mean) / self.state_std,
                               method=StateVAE.encode)

  def decode(self, latent: jax.Array) -> jax.Array:
    standardized = self.module().apply({"params": self.params}, latent, method=StateVAE.decode)
    return standardized * self.state_std + self.state_mean


def fit(loss_fn: Callable[[Any, Any, jax.Array], Tuple[jax.Array, Dict[str, jax.Array]]],
        params: Any, sample_batch: Callable[[jax.Array], Any], key: jax.Array, num_steps: int,
        learning_rate: float) -> Tuple[Any, Dict[str, jax.Array]]:
  """Adam on `loss_fn(params, batch, key)` for num_steps, batches drawn on device inside one
  `lax.scan`. Returns the parameters and the metrics of the last 10% of the steps, averaged."""
  if num_steps < 1:
    raise ValueError(f"num_steps must be >= 1, got {num_steps}")
  optimizer = optax.adam(learning_rate)

  def step(carry, step_key):
    params, opt_state = carry
    batch_key, loss_key = jax.random.split(step_key)
    grads, metrics = jax.grad(loss_fn, has_aux=True)(params, sample_batch(batch_key), loss_key)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), metrics

  (params, _), metrics = jax.lax.scan(step, (params, optimizer.init(params)),
                                      jax.random.split(key, num_steps))
  tail = max(1, num_steps // 10)
  return params, jax.tree_util.tree_map(lambda m: jnp.mean(m[-tail:]), metrics)


def train_vae(key: jax.Array, states: jax.Array, config: VAEConfig = VAEConfig()
              ) -> Tuple[TrainedVAE, Dict[str, jax.Array]]:
  """Fits the VAE on states (N, state_dim)."""
  if states.ndim != 2 or states.shape[0] < 2:
    raise ValueError(f"train_vae wants states of shape (N >= 2, state_dim), got {states.shape}")
  state_mean, state_std = jnp.mean(states, 0), jnp.std(states, 0) + 1e-6
  if config.isotropic:
    state_std = jnp.full_like(state_std, jnp.min(state_std))
  standardized = (states - state_mean) / state_std
  module = StateVAE(config.hidden_dims, config.latent_dim, states.shape[-1])
  init_key, fit_key = jax.random.split(key)
  params = module.init(init_key, standardized[:1], init_key)["params"]

  def loss_fn(params, batch, loss_key):
    reconstruction, mean, log_std = module.apply({"params": params}, batch, loss_key)
    reconstruction_loss = jnp.mean(jnp.sum((reconstruction - batch) ** 2, -1))
    kl = jnp.mean(gaussian_kl(mean, log_std))
    return reconstruction_loss + config.kl_weight * kl, {"reconstruction": reconstruction_loss,
                                                         "kl": kl}

  sample = lambda k: standardized[jax.random.randint(k, (config.batch_size,), 0, states.shape[0])]
  params, metrics = jax.jit(lambda p, k: fit(loss_fn, p, sample, k, config.num_steps,
                                             config.learning_rate))(params, fit_key)
  return TrainedVAE(params, state_mean, state_std, config), metrics
