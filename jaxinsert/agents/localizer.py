"""LOTJ's Localize baseline, perception half (seed 001 section VI): an image regressor of the
plug tip's position relative to the socket, trained on the offline data's calibrated pose
(`tcp_pose_in_socket`), which the hand-designed controller then uses as if it were measured.

The regressor is an image encoder of its own (`networks.vision`) and an MLP head; it predicts the
position in millimetres (so the squared error is O(1)) and returns metres. Training batches may
be random-shifted like every other image model here: the label is the plug's position relative
to the socket, which a shift of the whole image leaves unchanged.
"""

from __future__ import annotations

from typing import Dict, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from flax import struct

from jaxinsert.agents import common
from jaxinsert.networks import vision
from jaxinsert.networks.mlp import MLP

MM_PER_M = 1000.0


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.encoder = "patch_conv"
  config.hidden_dims = (256, 256)
  config.learning_rate = 3e-4
  config.batch_size = 64
  config.steps = 3000
  config.shift_pad = 2
  return config


class PositionRegressor(nn.Module):
  encoder: str
  hidden_dims: Sequence[int]

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    features = vision.make_encoder(self.encoder)(images)
    return MLP(tuple(self.hidden_dims) + (3,))(features)


@struct.dataclass
class LocalizerState:
  network: common.Network


def create(config: ml_collections.ConfigDict, key: jax.Array, image_shape) -> LocalizerState:
  module = PositionRegressor(config.encoder, tuple(config.hidden_dims))
  example = jnp.zeros((1,) + tuple(image_shape), jnp.uint8)
  return LocalizerState(jax.jit(lambda k: common.Network.create(
      module, common.Optimizer(config.learning_rate), k, example))(key))


def loss_fn(params, state: LocalizerState, images: jax.Array, positions_m: jax.Array):
  predicted_mm = state.network.apply(images, params=params)
  error = predicted_mm - positions_m * MM_PER_M
  loss = jnp.mean(jnp.sum(error**2, axis=-1))
  return loss, {"localizer_loss": loss}


def update(state: LocalizerState, images: jax.Array, positions_m: jax.Array
           ) -> tuple[LocalizerState, Dict[str, jax.Array]]:
  network, metrics = state.network.minimize(loss_fn, state, images, positions_m)
  return state.replace(network=network), metrics


def predict(state: LocalizerState, images: jax.Array) -> jax.Array:
  """The tip's position relative to the socket, metres, [..., 3]."""
  return state.network.apply(images) / MM_PER_M
