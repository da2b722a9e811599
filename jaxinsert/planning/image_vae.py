"""An image latent space for PTP (thesis ch. 12 plans in a VQ-VAE's latent of 48x48 images): a
plain convolutional VAE on rendered 48x48 views of the multi-stage scene, the option beside the
state VAE (`config.latent_space = "image"`).

`render` draws the plug tip as a Gaussian spot in two orthographic views of the workspace,
channel 0 the side view (x right, z up) and channel 1 the top view (x right, y up), so the image
holds the whole state and nothing else (the scene itself is static). The encoder
(two stride-2 4x4 convolutions, 48 -> 24 -> 12, then a dense layer) gives a diagonal Gaussian
over a vector latent; the decoder mirrors it. Loss: squared pixel error summed over the image +
kl_weight * KL. phi(s) = the encoder mean of render(s) is what the policy, the value and the
planner see, exactly as the state VAE's. `decode` returns a state read off the decoded image
(the intensity-weighted centre of each view), so plots and LEAP's decoded subgoals work alike;
`decode_image` returns the image.

A vector latent rather than the thesis's 12x12x5 grid: the generators and the value here take
vectors, and a grid latent would need the U-Net generators of the thesis.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from jaxinsert.planning.vae import fit, gaussian_kl


@dataclasses.dataclass(frozen=True)
class ImageVAEConfig:
  image_size: int = 48                     # thesis 48x48
  # The views' extent: the task's workspace and 2 cm around it, so a spot at the edge is whole.
  workspace_low_m: Tuple[float, float, float] = (-0.27, -0.12, -0.05)
  workspace_high_m: Tuple[float, float, float] = (0.27, 0.12, 0.17)
  spot_sigma_px: float = 1.5               # width of the drawn plug tip
  channels: Tuple[int, ...] = (16, 32)     # per stride-2 convolution (48 -> 24 -> 12)
  hidden_dim: int = 128
  latent_dim: int = 4
  kl_weight: float = 1e-3
  learning_rate: float = 1e-3
  batch_size: int = 64
  num_steps: int = 3000

  def __post_init__(self):
    if self.image_size % (2 ** len(self.channels)):
      raise ValueError(f"image_size {self.image_size} must be divisible by 2^{len(self.channels)} "
                       f"(one halving per convolution)")


def render(position_m: jax.Array, config: ImageVAEConfig) -> jax.Array:
  """Views (..., size, size, 2) of tip positions (..., 3): side (x, z) and top (x, y)."""
  low, high = jnp.asarray(config.workspace_low_m), jnp.asarray(config.workspace_high_m)
  size = config.image_size
  pixel = (position_m - low) / (high - low) * (size - 1)          # (..., 3) in pixels
  grid = jnp.arange(size, dtype=jnp.float32)
  def view(horizontal, vertical):
    # Row 0 is the top of the image: the vertical axis grows upwards.
    rows = (size - 1) - vertical
    d_rows = (grid[:, None] - rows[..., None, None]) ** 2
    d_cols = (grid[None, :] - horizontal[..., None, None]) ** 2
    return jnp.exp(-(d_rows + d_cols) / (2 * config.spot_sigma_px ** 2))
  return jnp.stack([view(pixel[..., 0], pixel[..., 2]), view(pixel[..., 0], pixel[..., 1])], -1)


def read_position(image: jax.Array, config: ImageVAEConfig) -> jax.Array:
  """The tip position (..., 3) at the intensity-weighted centre of each view (render's inverse)."""
  low, high = jnp.asarray(config.workspace_low_m), jnp.asarray(config.workspace_high_m)
  size = config.image_size
  grid = jnp.arange(size, dtype=jnp.float32)
  weights = jax.nn.relu(image) + 1e-8
  total = jnp.sum(weights, axis=(-3, -2))                          # (..., 2)
  column = jnp.sum(weights * grid[None, :, None], axis=(-3, -2)) / total
  row = jnp.sum(weights * grid[:, None, None], axis=(-3, -2)) / total
  up = (size - 1) - row
  pixel = jnp.stack([0.5 * (column[..., 0] + column[..., 1]), up[..., 1], up[..., 0]], -1)
  return low + pixel / (size - 1) * (high - low)


class ConvEncoder(nn.Module):
  channels: Sequence[int]
  hidden_dim: int
  latent_dim: int

  @nn.compact
  def __call__(self, image):
    x = image
    for width in self.channels:
      x = nn.relu(nn.Conv(width, (4, 4), strides=(2, 2), padding="SAME")(x))
    x = nn.relu(nn.Dense(self.hidden_dim)(x.reshape(x.shape[:-3] + (-1,))))
    mean = nn.Dense(self.latent_dim)(x)
    log_std = jnp.clip(nn.Dense(self.latent_dim)(x), -10.0, 2.0)
    return mean, log_std


class ConvDecoder(nn.Module):
  channels: Sequence[int]
  hidden_dim: int
  image_size: int
  image_channels: int = 2

  @nn.compact
  def __call__(self, latent):
    side = self.image_size // 2 ** len(self.channels)
    x = nn.relu(nn.Dense(self.hidden_dim)(latent))
    x = nn.relu(nn.Dense(side * side * self.channels[-1])(x))
    x = x.reshape(latent.shape[:-1] + (side, side, self.channels[-1]))
    for width in tuple(reversed(self.channels[:-1])):
      x = nn.relu(nn.ConvTranspose(width, (4, 4), strides=(2, 2), padding="SAME")(x))
    return nn.ConvTranspose(self.image_channels, (4, 4), strides=(2, 2), padding="SAME")(x)


class ImageVAE(nn.Module):
  config: ImageVAEConfig

  def setup(self):
    c = self.config
    self.encoder = ConvEncoder(c.channels, c.hidden_dim, c.latent_dim)
    self.decoder = ConvDecoder(c.channels, c.hidden_dim, c.image_size)

  def __call__(self, image, key):
    mean, log_std = self.encoder(image)
    latent = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return self.decoder(latent), mean, log_std

  def encode(self, image):
    return self.encoder(image)[0]

  def decode(self, latent):
    return self.decoder(latent)


@struct.dataclass
class TrainedImageVAE:
  params: Any
  config: ImageVAEConfig = struct.field(pytree_node=False)

  def module(self) -> ImageVAE:
    return ImageVAE(self.config)

  def encode(self, state: jax.Array) -> jax.Array:
    """phi(render(s)): tip positions (..., 3) -> latents (..., latent_dim)."""
    return self.module().apply({"params": self.params}, render(state, self.config),
                               method=ImageVAE.encode)

  def decode_image(self, latent: jax.Array) -> jax.Array:
    return self.module().apply({"params": self.params}, latent, method=ImageVAE.decode)

  def decode(self, latent: jax.Array) -> jax.Array:
    """The tip position read off the decoded image (..., 3)."""
    return read_position(self.decode_image(latent), self.config)


def image_loss(module: ImageVAE, params: Any, images: jax.Array, key: jax.Array,
               kl_weight: float) -> Tuple[jax.Array, Dict[str, jax.Array]]:
  reconstruction, mean, log_std = module.apply({"params": params}, images, key)
  reconstruction_loss = jnp.mean(jnp.sum((reconstruction - images) ** 2, axis=(-3, -2, -1)))
  kl = jnp.mean(gaussian_kl(mean, log_std))
  return reconstruction_loss + kl_weight * kl, {"reconstruction": reconstruction_loss, "kl": kl}


def init_params(key: jax.Array, config: ImageVAEConfig) -> Any:
  image = jnp.zeros((1, config.image_size, config.image_size, 2))
  # Jitted: an eager init compiles every convolution op by op (17 s against 1 s here).
  return jax.jit(lambda k: ImageVAE(config).init(k, image, k)["params"])(key)


def train_image_vae(key: jax.Array, states: jax.Array, config: ImageVAEConfig = ImageVAEConfig()
                    ) -> Tuple[TrainedImageVAE, Dict[str, jax.Array]]:
  """Fits the VAE on the renders of tip positions (N, 3), rendered batch by batch on device."""
  if states.ndim != 2 or states.shape[-1] != 3 or states.shape[0] < 2:
    raise ValueError(f"train_image_vae wants tip positions of shape (N >= 2, 3), got "
                     f"{states.shape}")
  module = ImageVAE(config)
  init_key, fit_key = jax.random.split(key)
  params = init_params(init_key, config)
  sample = lambda k: render(states[jax.random.randint(k, (config.batch_size,), 0, states.shape[0])],
                            config)
  loss_fn = lambda p, batch, k: image_loss(module, p, batch, k, config.kl_weight)
  params, metrics = jax.jit(lambda p, k: fit(loss_fn, p, sample, k, config.num_steps,
                                             config.learning_rate))(params, fit_key)
  return TrainedImageVAE(params, config), metrics
