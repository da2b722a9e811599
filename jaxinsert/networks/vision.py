"""Image encoders and the DAIB split bottleneck (LOTJ, seed 001 section IV-B; digest B5).

- `PatchConv`: the CPU default, strided convolutions with kernel = stride (4x4, 2x2) as matmuls.
- `SmallConv`: three 3x3 convolutions (stride 2, 2, 1) and a dense layer.
- `ResNet18`: the paper's backbone ("independent ResNet-18 backbones"), basic blocks [2, 2, 2, 2]
  with GroupNorm instead of BatchNorm, so a network stays a pure function of its parameters
  (no batch statistics to carry through `vmap`ped seeds and frozen finetuning).
Both take uint8 images [..., H, W, C] and scale them to [0, 1] themselves, so images stay uint8
in memory and on the device. Each network builds its own encoder: nothing is shared.

`SplitBottleneck` turns features into z = (z_I, z_S): z_I deterministic and, through a gradient
reversal layer, the input of a domain classifier; z_S Gaussian, sampled by reparameterisation
in training and its mean in deterministic mode; its KL to N(0, I) is returned for the caller to
weight (lambda = 0.01 in the paper). The variants of Table IV are which parts exist.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxinsert.networks.mlp import MLP, default_init

BOTTLENECK_VARIANTS = ("erm", "dann", "vib", "daib", "daib_lambda0")


@jax.custom_vjp
def gradient_reversal(x: jax.Array, scale: jax.Array) -> jax.Array:
  """Identity forward; multiplies the incoming gradient by -scale backward (Ganin et al. 2015)."""
  return x


def _reversal_forward(x, scale):
  return x, scale


def _reversal_backward(scale, grad):
  return -scale * grad, jnp.zeros_like(scale)


gradient_reversal.defvjp(_reversal_forward, _reversal_backward)


def to_unit_range(images: jax.Array) -> jax.Array:
  if images.dtype == jnp.uint8:
    return images.astype(jnp.float32) / 255.0
  return images.astype(jnp.float32)


class SmallConv(nn.Module):
  """Three 3x3 convolutions (32 channels; stride 2, 2, 1), ReLU, flattened, one dense layer."""

  channels: Sequence[int] = (32, 32, 32)
  strides: Sequence[int] = (2, 2, 1)
  features: int = 128

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    x = to_unit_range(images)
    for width, stride in zip(self.channels, self.strides):
      x = nn.relu(nn.Conv(width, (3, 3), strides=(stride, stride), kernel_init=default_init())(x))
    x = x.reshape(x.shape[:-3] + (-1,))
    return nn.relu(nn.Dense(self.features, kernel_init=default_init())(x))


def _patch_layers(images: jax.Array, channels: Sequence[int], patch_sizes: Sequence[int],
                  activate_last: bool = True) -> jax.Array:
  """Strided convolutions whose kernel equals their stride, as patch reshapes and dense layers
  with ReLU between them (and after the last unless `activate_last` is False); call it from a
  module's compact method, whose parameters the layers become."""
  x = to_unit_range(images)
  for index, (width, size) in enumerate(zip(channels, patch_sizes)):
    x = nn.Dense(width, kernel_init=default_init())(_patches(x, size))
    if activate_last or index + 1 < len(channels):
      x = nn.relu(x)
  return x


def _patches(x: jax.Array, size: int) -> jax.Array:
  """[..., H, W, C] -> [..., H/size, W/size, size*size*C] (non-overlapping patches)."""
  *leading, height, width, channels = x.shape
  if height % size or width % size:
    raise ValueError(f"image side {height}x{width} is not a multiple of the patch size {size}")
  x = x.reshape(tuple(leading) + (height // size, size, width // size, size, channels))
  x = jnp.moveaxis(x, -4, -3)
  return x.reshape(tuple(leading) + (height // size, width // size, size * size * channels))


class PatchConv(nn.Module):
  """The CPU default: convolutions whose kernel equals their stride (4x4, then 2x2), written as
  patch reshapes and dense layers, ReLU, flattened, one dense layer.

  Same family as `SmallConv` (a strided conv net) at a fifth of its multiply-adds and with
  matmul gradients only: XLA:CPU's 3x3 conv gradients ran at 2 s per batch of 64 32x32 images
  on this shared 2-core machine (measured), too slow for a study of five variants x 3 seeds.
  """

  channels: Sequence[int] = (32, 64)
  patch_sizes: Sequence[int] = (4, 2)
  features: int = 128

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    x = _patch_layers(images, self.channels, self.patch_sizes)
    x = x.reshape(x.shape[:-3] + (-1,))
    return nn.relu(nn.Dense(self.features, kernel_init=default_init())(x))


class SpatialSoftmax(nn.Module):
  """Feature map [..., H, W, C] -> [..., 2C]: the expected image coordinates (in [-1, 1]) of each
  channel under a softmax over positions (Levine et al. 2016's keypoints), with a learned
  temperature. Positions come out with sub-cell precision, which a flattened map gives only
  through a dense layer that must learn it."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    *leading, height, width, channels = x.shape
    log_temperature = self.param("log_temperature", nn.initializers.zeros, ())
    logits = x.reshape(tuple(leading) + (height * width, channels)) / jnp.exp(log_temperature)
    weights = jax.nn.softmax(logits, axis=-2)
    rows, cols = jnp.meshgrid(jnp.linspace(-1.0, 1.0, height), jnp.linspace(-1.0, 1.0, width),
                              indexing="ij")
    grid = jnp.stack([rows.reshape(-1), cols.reshape(-1)], axis=-1)        # [H*W, 2]
    keypoints = jnp.einsum("...pc,pk->...ck", weights, grid)
    return keypoints.reshape(tuple(leading) + (2 * channels,))


class PatchKeypoints(nn.Module):
  """`PatchConv`'s patch layers, then `SpatialSoftmax` keypoints instead of flattening, then a
  dense layer: the same matmul-only cost, with an architecture built to read positions."""

  channels: Sequence[int] = (32, 64)
  patch_sizes: Sequence[int] = (2, 2)
  features: int = 128

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    x = _patch_layers(images, self.channels, self.patch_sizes, activate_last=False)
    return nn.relu(nn.Dense(self.features, kernel_init=default_init())(SpatialSoftmax()(x)))


class _BasicBlock(nn.Module):
  width: int
  stride: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    residual = x
    y = nn.Conv(self.width, (3, 3), (self.stride, self.stride), use_bias=False)(x)
    y = nn.relu(nn.GroupNorm(num_groups=min(32, self.width))(y))
    y = nn.Conv(self.width, (3, 3), use_bias=False)(y)
    y = nn.GroupNorm(num_groups=min(32, self.width))(y)
    if residual.shape != y.shape:
      residual = nn.Conv(self.width, (1, 1), (self.stride, self.stride), use_bias=False)(residual)
      residual = nn.GroupNorm(num_groups=min(32, self.width))(residual)
    return nn.relu(y + residual)


class ResNet18(nn.Module):
  """ResNet-18 (He et al. 2016) with GroupNorm; global average pool, then a dense layer."""

  widths: Sequence[int] = (64, 128, 256, 512)
  features: int = 256

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    x = to_unit_range(images)
    leading = x.shape[:-3]
    x = x.reshape((-1,) + x.shape[-3:])
    x = nn.Conv(self.widths[0], (7, 7), (2, 2), use_bias=False)(x)
    x = nn.relu(nn.GroupNorm(num_groups=32)(x))
    x = nn.max_pool(x, (3, 3), (2, 2), padding="SAME")
    for stage, width in enumerate(self.widths):
      for block in range(2):
        x = _BasicBlock(width, 2 if stage > 0 and block == 0 else 1)(x)
    x = jnp.mean(x, axis=(1, 2))
    x = nn.relu(nn.Dense(self.features, kernel_init=default_init())(x))
    return x.reshape(leading + (self.features,))


ENCODERS = {"patch_conv": PatchConv, "patch_keypoints": PatchKeypoints, "small_conv": SmallConv,
            "resnet18": ResNet18}


def make_encoder(name: str, **kwargs) -> nn.Module:
  if name not in ENCODERS:
    raise KeyError(f"unknown image encoder {name!r}; known: {sorted(ENCODERS)}")
  return ENCODERS[name](**kwargs)


class Encoded(nn.Module):
  """`head(encoder(images), *args)`: a state-space network (value, critic, policy) on its own
  image backbone. Parameters live under "backbone" and "head", the names frozen for finetuning."""

  encoder: str
  head: nn.Module

  def setup(self):
    self.backbone = make_encoder(self.encoder)

  def __call__(self, images, *args, **kwargs):
    return self.head(self.backbone(images), *args, **kwargs)


def gaussian_kl_to_standard(mean: jax.Array, log_std: jax.Array) -> jax.Array:
  """KL(N(mean, diag exp(log_std)^2) || N(0, I)), summed over the last axis (closed form)."""
  return 0.5 * jnp.sum(mean**2 + jnp.exp(2 * log_std) - 1.0 - 2 * log_std, axis=-1)


class SplitBottleneck(nn.Module):
  """z = (z_I, z_S) heads over encoder features; `variant` selects the parts (module docstring).

  erm: one deterministic head z (no auxiliary loss); dann: z = z_I with the domain classifier;
  vib: z = z_S Gaussian; daib / daib_lambda0: both (the KL weight is the caller's). Returns
  (z, aux) with aux holding `domain_logits` (None without a domain path), `kl` (zeros without
  z_S), and z_S's `mean` / `log_std` where it exists.
  """

  variant: str
  invariant_dim: int = 32
  specific_dim: int = 32
  num_domains: int = 1
  domain_hidden_dims: Sequence[int] = (128,)
  reverse_domain_gradient: bool = True      # False only in tests (the plain gradient)
  bound_invariant: bool = False             # tanh on z_I: bounds what the reversed NLL can reach
  log_std_min: float = -10.0
  log_std_max: float = 2.0

  @nn.compact
  def __call__(self, features: jax.Array, deterministic: bool = True,
               adversarial_scale: float = 1.0) -> Tuple[jax.Array, Dict[str, Optional[jax.Array]]]:
    if self.variant not in BOTTLENECK_VARIANTS:
      raise ValueError(f"unknown bottleneck variant {self.variant!r}; known: {BOTTLENECK_VARIANTS}")
    total = self.invariant_dim + self.specific_dim
    aux: Dict[str, Optional[jax.Array]] = {"domain_logits": None,
                                           "kl": jnp.zeros(features.shape[:-1])}
    parts = []
    if self.variant == "erm":
      parts.append(nn.Dense(total, kernel_init=default_init(), name="z")(features))
    if self.variant in ("dann", "daib", "daib_lambda0"):
      width = total if self.variant == "dann" else self.invariant_dim
      z_invariant = nn.Dense(width, kernel_init=default_init(), name="z_invariant")(features)
      if self.bound_invariant:
        # -NLL is unbounded: with a linear z_I the encoder can drive it to any size (measured:
        # domain losses in the thousands and a collapsed reward head at weight 1).
        z_invariant = jnp.tanh(z_invariant)
      reversed_input = (gradient_reversal(z_invariant, jnp.asarray(adversarial_scale, jnp.float32))
                        if self.reverse_domain_gradient else z_invariant)
      aux["domain_logits"] = MLP(tuple(self.domain_hidden_dims) + (self.num_domains,),
                                 name="domain_classifier")(reversed_input)
      parts.append(z_invariant)
    if self.variant in ("vib", "daib", "daib_lambda0"):
      width = total if self.variant == "vib" else self.specific_dim
      mean = nn.Dense(width, kernel_init=default_init(), name="z_specific_mean")(features)
      log_std = jnp.clip(nn.Dense(width, kernel_init=default_init(0.01),
                                  name="z_specific_log_std")(features),
                         self.log_std_min, self.log_std_max)
      if deterministic:
        z_specific = mean
      else:
        noise = jax.random.normal(self.make_rng("bottleneck"), mean.shape)
        z_specific = mean + jnp.exp(log_std) * noise
      aux.update(kl=gaussian_kl_to_standard(mean, log_std), mean=mean, log_std=log_std)
      parts.append(z_specific)
    return jnp.concatenate(parts, axis=-1), aux
