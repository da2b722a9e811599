"""Conditional subgoal generators g_l(s, z) (PTP, thesis 12.4; digest 6.3), one per temporal
distance, trained on latent play trajectories with the multi-step rollout loss.

g(s, z) = s + MLP([s, z]) decodes a subgoal reachable from latent state s about dt steps later;
the encoder q(z | s, s') is a diagonal Gaussian, the prior p(z) = N(0, I). The thesis's U-Net is
for image latents; on a state VAE's vector latent an MLP decoder plays its part.

Multi-step rollout loss (digest 6.3, "use the subgoal reconstructed at the previous step as the
context in the next step"): a sequence s_t, s_{t+dt_1}, s_{t+dt_1+dt_2}, ... (each dt_r drawn
from [dt - tolerance, dt + tolerance]) is decoded step by step, step r conditioned on the
reconstruction of step r-1, and every step pays
  prediction_weight * SmoothL1(s_target, g(context, z)) + kl_weight * KL(q(z | context, s_target) || p(z)),
averaged over steps. Weights 1000 and 0.1 and the tolerances are the reference code's
(anchors/wave2_methods.md, section 6); the gradient flows through the reconstructed contexts.
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
from jaxinsert.planning.vae import GaussianEncoder, fit, gaussian_kl


class SubgoalCVAE(nn.Module):
  hidden_dims: Sequence[int]
  z_dim: int
  state_dim: int

  def setup(self):
    self.encoder = GaussianEncoder(self.hidden_dims, self.z_dim)
    self.decoder = MLP(tuple(self.hidden_dims) + (self.state_dim,))

  def __call__(self, state, target, key):
    mean, log_std = self.encoder(jnp.concatenate([state, target], -1))
    z = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return self.generate(state, z), mean, log_std

  def generate(self, state, z):
    return state + self.decoder(jnp.concatenate([state, z], -1))


@dataclasses.dataclass(frozen=True)
class CVAEConfig:
  dt: int = 5                         # temporal distance of the predicted subgoal, steps
  dt_tolerance: int = 2               # dt drawn from [dt - tol, dt + tol] per sequence step
  rollout_steps: int = 3              # length of the multi-step rollout sequence
  z_dim: int = 4                      # latent of the generator (thesis 8, on a 720-d image latent)
  hidden_dims: Tuple[int, ...] = (256, 256)
  prediction_weight: float = 1000.0   # reference code, on SmoothL1
  kl_weight: float = 0.1              # reference code (beta)
  learning_rate: float = 1e-3
  batch_size: int = 256
  num_steps: int = 3000

  def __post_init__(self):
    if not 0 <= self.dt_tolerance < self.dt:
      raise ValueError(f"CVAEConfig needs 0 <= dt_tolerance < dt, got dt={self.dt}, "
                       f"dt_tolerance={self.dt_tolerance}")
    if self.rollout_steps < 1:
      raise ValueError(f"CVAEConfig.rollout_steps must be >= 1, got {self.rollout_steps}")

  @property
  def span(self) -> int:
    """The longest stretch of trajectory one training sequence needs, in steps."""
    return self.rollout_steps * (self.dt + self.dt_tolerance)


@struct.dataclass
class TrainedCVAE:
  params: Any
  state_dim: int = struct.field(pytree_node=False)
  config: CVAEConfig = struct.field(pytree_node=False)

  def module(self) -> SubgoalCVAE:
    return SubgoalCVAE(self.config.hidden_dims, self.config.z_dim, self.state_dim)

  def generate(self, state: jax.Array, z: jax.Array) -> jax.Array:
    """g(s, z): the planner's generator, for one latent state (d,) and one z (z_dim,)."""
    return self.module().apply({"params": self.params}, state, z, method=SubgoalCVAE.generate)


def sample_sequences(latent_episodes: jax.Array, key: jax.Array, batch_size: int,
                     config: CVAEConfig) -> jax.Array:
  """(batch, rollout_steps + 1, d) sequences from (episodes, steps + 1, d) trajectories."""
  length = latent_episodes.shape[1]
  if length <= config.span:
    raise ValueError(f"trajectories of {length} states are too short for rollout sequences of "
                     f"{config.rollout_steps} x (dt {config.dt} + tolerance {config.dt_tolerance})")
  episode_key, dt_key, start_key = jax.random.split(key, 3)
  dts = jax.random.randint(dt_key, (batch_size, config.rollout_steps),
                           config.dt - config.dt_tolerance, config.dt + config.dt_tolerance + 1)
  offsets = jnp.concatenate([jnp.zeros((batch_size, 1), jnp.int32), jnp.cumsum(dts, 1)], 1)
  return gather_windows(latent_episodes, episode_key, start_key, offsets)


def gather_windows(latent_episodes: jax.Array, episode_key: jax.Array, start_key: jax.Array,
                   offsets: jax.Array) -> jax.Array:
  """(batch, k, d): states at `offsets` (batch, k; first column 0, last the largest) after a
  start drawn uniformly where the whole window fits, in a uniformly drawn episode of
  (episodes, steps + 1, d). Callers check that every window fits an episode."""
  episodes, length = latent_episodes.shape[:2]
  batch_size = offsets.shape[0]
  episode = jax.random.randint(episode_key, (batch_size,), 0, episodes)
  room = length - offsets[:, -1]
  start = jnp.floor(jax.random.uniform(start_key, (batch_size,)) * room).astype(jnp.int32)
  return latent_episodes[episode[:, None], start[:, None] + offsets]


def rollout_loss(module: SubgoalCVAE, params: Any, sequences: jax.Array, key: jax.Array,
                 config: CVAEConfig) -> Tuple[jax.Array, Dict[str, jax.Array]]:
  """The multi-step loss over (batch, rollout_steps + 1, d) sequences (module docstring)."""
  context = sequences[:, 0]
  prediction_losses, kls = [], []
  for step, step_key in enumerate(jax.random.split(key, config.rollout_steps)):
    target = sequences[:, step + 1]
    reconstruction, mean, log_std = module.apply({"params": params}, context, target, step_key)
    prediction_losses.append(jnp.mean(jnp.sum(optax.huber_loss(reconstruction, target, delta=1.0), -1)))
    kls.append(jnp.mean(gaussian_kl(mean, log_std)))
    context = reconstruction
  prediction, kl = jnp.mean(jnp.stack(prediction_losses)), jnp.mean(jnp.stack(kls))
  loss = config.prediction_weight * prediction + config.kl_weight * kl
  return loss, {"prediction": prediction, "kl": kl, "last_step_prediction": prediction_losses[-1]}


def train_cvae(key: jax.Array, latent_episodes: jax.Array, config: CVAEConfig
               ) -> Tuple[TrainedCVAE, Dict[str, jax.Array]]:
  """Fits one generator on latent trajectories (episodes, steps + 1, d)."""
  if latent_episodes.ndim != 3:
    raise ValueError(f"train_cvae wants latent trajectories (episodes, steps + 1, d), got shape "
                     f"{latent_episodes.shape}")
  state_dim = latent_episodes.shape[-1]
  module = SubgoalCVAE(config.hidden_dims, config.z_dim, state_dim)
  init_key, fit_key = jax.random.split(key)
  example = latent_episodes[0, :1]
  params = module.init(init_key, example, example, init_key)["params"]
  sample = lambda k: sample_sequences(latent_episodes, k, config.batch_size, config)
  loss_fn = lambda p, batch, k: rollout_loss(module, p, batch, k, config)
  params, metrics = jax.jit(lambda p, k: fit(loss_fn, p, sample, k, config.num_steps,
                                             config.learning_rate))(params, fit_key)
  return TrainedCVAE(params, state_dim, config), metrics
