"""Goal-conditioned prediction (GCP, Pertsch et al. 2020), the PTP chapter's bisection baseline:
a midpoint predictor m(s, g) trained on play trajectories and applied recursively
(`modes.bisect`) to fill a plan with subgoals, with no sampling-based optimisation and no value.

A conditional VAE on triplets (s_t, s_{t+k}, s_{t+2k}) of one latent trajectory, k drawn from
[min_half_span, max_half_span]: the encoder q(z | s, g, m), the decoder
m = (s + g) / 2 + MLP([s, g, z]) (a correction to the straight-line midpoint), the prior
N(0, I). Loss: prediction_weight * SmoothL1(m_true, m) + kl_weight * KL, the generators' weights
(cvae.py). At plan time z is the prior's mean, 0, so a plan is deterministic.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxinsert.networks.mlp import MLP
from jaxinsert.planning.cvae import gather_windows
from jaxinsert.planning.vae import GaussianEncoder, fit, gaussian_kl


class MidpointCVAE(nn.Module):
  hidden_dims: Sequence[int]
  z_dim: int
  state_dim: int

  def setup(self):
    self.encoder = GaussianEncoder(self.hidden_dims, self.z_dim)
    self.decoder = MLP(tuple(self.hidden_dims) + (self.state_dim,))

  def __call__(self, start, goal, middle, key):
    mean, log_std = self.encoder(jnp.concatenate([start, goal, middle], -1))
    z = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return self.predict(start, goal, z), mean, log_std

  def predict(self, start, goal, z):
    return 0.5 * (start + goal) + self.decoder(jnp.concatenate([start, goal, z], -1))


@dataclasses.dataclass(frozen=True)
class GCPConfig:
  min_half_span: int = 1              # k: the midpoint is k steps after the start, k before the goal
  max_half_span: int = 30             # the play episodes are 60 steps: the whole episode at most
  z_dim: int = 4
  hidden_dims: Tuple[int, ...] = (128, 128)
  prediction_weight: float = 1000.0   # as the generators (reference code's CVAE weights)
  kl_weight: float = 0.1
  learning_rate: float = 1e-3
  batch_size: int = 256
  num_steps: int = 3000

  def __post_init__(self):
    if not 1 <= self.min_half_span <= self.max_half_span:
      raise ValueError(f"GCPConfig needs 1 <= min_half_span <= max_half_span, got "
                       f"{self.min_half_span}, {self.max_half_span}")


@struct.dataclass
class TrainedMidpoint:
  params: Any
  state_dim: int = struct.field(pytree_node=False)
  config: GCPConfig = struct.field(pytree_node=False)

  def module(self) -> MidpointCVAE:
    return MidpointCVAE(self.config.hidden_dims, self.config.z_dim, self.state_dim)

  def midpoint(self, start: jax.Array, goal: jax.Array) -> jax.Array:
    """m(s, g) at the prior mean z = 0, for one latent start (d,) and goal (d,)."""
    z = jnp.zeros(start.shape[:-1] + (self.config.z_dim,))
    return self.module().apply({"params": self.params}, start, goal, z, method=MidpointCVAE.predict)


def sample_triplets(latent_episodes: jax.Array, key: jax.Array, batch_size: int,
                    config: GCPConfig) -> jax.Array:
  """(batch, 3, d): (s_t, s_{t+k}, s_{t+2k}) from (episodes, steps + 1, d) trajectories."""
  length = latent_episodes.shape[1]
  if length <= 2 * config.max_half_span:
    raise ValueError(f"trajectories of {length} states are too short for half spans up to "
                     f"{config.max_half_span} steps")
  episode_key, span_key, start_key = jax.random.split(key, 3)
  half = jax.random.randint(span_key, (batch_size,), config.min_half_span,
                            config.max_half_span + 1)
  offsets = jnp.stack([jnp.zeros_like(half), half, 2 * half], 1)
  return gather_windows(latent_episodes, episode_key, start_key, offsets)


def midpoint_loss(module: MidpointCVAE, params: Any, triplets: jax.Array, key: jax.Array,
                  config: GCPConfig) -> Tuple[jax.Array, Dict[str, jax.Array]]:
  start, middle, goal = triplets[:, 0], triplets[:, 1], triplets[:, 2]
  prediction, mean, log_std = module.apply({"params": params}, start, goal, middle, key)
  error = jnp.mean(jnp.sum(optax.huber_loss(prediction, middle, delta=1.0), -1))
  kl = jnp.mean(gaussian_kl(mean, log_std))
  return config.prediction_weight * error + config.kl_weight * kl, {"prediction": error, "kl": kl}


def train_gcp(key: jax.Array, latent_episodes: jax.Array, config: GCPConfig
              ) -> Tuple[TrainedMidpoint, Dict[str, jax.Array]]:
  """Fits the midpoint predictor on latent trajectories (episodes, steps + 1, d)."""
  if latent_episodes.ndim != 3:
    raise ValueError(f"train_gcp wants latent trajectories (episodes, steps + 1, d), got shape "
                     f"{latent_episodes.shape}")
  state_dim = latent_episodes.shape[-1]
  module = MidpointCVAE(config.hidden_dims, config.z_dim, state_dim)
  init_key, fit_key = jax.random.split(key)
  example = latent_episodes[0, :1]
  params = module.init(init_key, example, example, example, init_key)["params"]
  sample = lambda k: sample_triplets(latent_episodes, k, config.batch_size, config)
  loss_fn = lambda p, batch, k: midpoint_loss(module, p, batch, k, config)
  params, metrics = jax.jit(lambda p, k: fit(loss_fn, p, sample, k, config.num_steps,
                                             config.learning_rate))(params, fit_key)
  return TrainedMidpoint(params, state_dim, config), metrics
