"""LOTJ's reward classifier R(s) from images, in the five variants of Table IV (seed 001).

    L_R = BCE(R(z), r) + [ -L_domain(F(z_I), d) + lambda KL(q(z_S|s) || N(0, I)) ]     (eq. 5)

z = (z_I, z_S) comes from `networks.vision.SplitBottleneck` over an image encoder of its own.
The domain classifier F minimises its NLL on z_I; a gradient reversal layer between z_I and F
hands the encoder the negated gradient, so one minimised sum trains F to find the domain and
the encoder to hide it (the adversarial weight is 1, the paper's implicit value). Variants:
erm (no auxiliary loss), dann (z = z_I, adversarial only), vib (z = z_S, KL only), daib (both,
lambda = 0.01, the paper's value) and daib_lambda0 (both, lambda = 0). Training batches are
rebalanced 50/50 positive/negative within each domain (paper: "rebalanced to be 50% positive and
50% negative samples per connector"); online the reward is R(s') in mean mode.
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import struct

from jaxinsert.agents import common
from jaxinsert.networks import vision
from jaxinsert.networks.mlp import MLP
from jaxinsert.types import PyTree

VARIANTS = vision.BOTTLENECK_VARIANTS


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.variant = "daib"             # erm | dann | vib | daib | daib_lambda0 (Table IV)
  config.encoder = "patch_conv"       # patch_conv (CPU) | small_conv (3x3) | resnet18 (paper)
  config.invariant_dim = 32           # width of z_I (not given; B14.5)
  config.specific_dim = 32            # width of z_S (not given); erm/dann/vib use the sum
  config.kl_weight = 0.01             # lambda on KL(q(z_S|s) || N(0, I)) (paper: 0.01)
  config.adversarial_weight = 1.0     # gradient reversal scale (implicitly 1 in the paper)
  config.adversarial_ramp_steps = 0   # >0: Ganin et al.'s ramp 2/(1+exp(-10p))-1 over these steps
  config.bound_invariant = False      # tanh on z_I, bounding the adversary's reach (B14.5)
  config.head_hidden_dims = (128,)    # reward head MLP over z (not given)
  config.learning_rate = 3e-4         # Adam (paper: Adam; rate not given)
  config.batch_size = 64              # images per update, half positive (not given)
  return config


class RewardModel(nn.Module):
  """Image -> (reward logit, aux of the bottleneck)."""

  encoder: str
  variant: str
  invariant_dim: int
  specific_dim: int
  num_domains: int
  head_hidden_dims: Sequence[int]
  reverse_domain_gradient: bool = True
  bound_invariant: bool = False

  def setup(self):
    self.backbone = vision.make_encoder(self.encoder)
    self.bottleneck = vision.SplitBottleneck(
        self.variant, self.invariant_dim, self.specific_dim, self.num_domains,
        reverse_domain_gradient=self.reverse_domain_gradient, bound_invariant=self.bound_invariant)
    self.head = MLP(tuple(self.head_hidden_dims) + (1,))

  def __call__(self, images: jax.Array, deterministic: bool = True,
               adversarial_scale: float = 1.0):
    z, aux = self.bottleneck(self.backbone(images), deterministic, adversarial_scale)
    return self.head(z)[..., 0], aux


@struct.dataclass
class RewardState:
  network: common.Network
  step: jax.Array
  config: ml_collections.FrozenConfigDict = struct.field(pytree_node=False)


def _module(config, num_domains: int, reverse: bool = True) -> RewardModel:
  if config.variant not in VARIANTS:
    raise ValueError(f"unknown reward-classifier variant {config.variant!r}; known: {VARIANTS}")
  return RewardModel(config.encoder, config.variant, config.invariant_dim, config.specific_dim,
                     num_domains, tuple(config.head_hidden_dims), reverse,
                     bool(config.get("bound_invariant", False)))


def create(config: ml_collections.ConfigDict, key: jax.Array, image_shape: Tuple[int, ...],
           num_domains: int) -> RewardState:
  if num_domains < 2 and config.variant in ("dann", "daib", "daib_lambda0"):
    raise ValueError(f"variant {config.variant!r} needs >= 2 training domains, got {num_domains}")
  images = jnp.zeros((1,) + tuple(image_shape), jnp.uint8)
  module, optimizer = _module(config, num_domains), common.Optimizer(config.learning_rate)
  # Jitted: an eager init of a conv net dispatches thousands of small ops.
  network = jax.jit(lambda k: common.Network.create(module, optimizer, k, images))(key)
  return RewardState(network=network, step=jnp.zeros((), jnp.int32), config=common.frozen(config))


def kl_weight(config) -> float:
  return 0.0 if config.variant == "daib_lambda0" else float(config.kl_weight)


def adversarial_scale(config, step: jax.Array) -> jax.Array:
  """The gradient reversal scale at `step`: constant, or DANN's ramp from 0 to the weight."""
  if not config.adversarial_ramp_steps:
    return jnp.asarray(config.adversarial_weight, jnp.float32)
  progress = jnp.minimum(step / config.adversarial_ramp_steps, 1.0)
  return config.adversarial_weight * (2.0 / (1.0 + jnp.exp(-10.0 * progress)) - 1.0)


def loss_fn(params: PyTree, state: RewardState, images: jax.Array, labels: jax.Array,
            domains: jax.Array, key: jax.Array) -> Tuple[jax.Array, Dict[str, jax.Array]]:
  config = state.config
  logits, aux = state.network.apply(images, False, adversarial_scale(config, state.step),
                                    params=params, rngs={"bottleneck": key})
  reward_loss = jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels))
  kl = jnp.mean(aux["kl"])
  loss = reward_loss + kl_weight(config) * kl
  metrics = {"reward_loss": reward_loss, "kl": kl,
             "train_accuracy": jnp.mean((logits > 0) == (labels > 0.5))}
  if aux["domain_logits"] is not None:
    # Minimised by the domain classifier; the reversal layer negates it for the encoder.
    domain_loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(aux["domain_logits"], domains))
    loss = loss + domain_loss
    metrics["domain_loss"] = domain_loss
    metrics["domain_accuracy"] = jnp.mean(jnp.argmax(aux["domain_logits"], -1) == domains)
  metrics["loss"] = loss
  return loss, metrics


def update(state: RewardState, images: jax.Array, labels: jax.Array, domains: jax.Array,
           key: jax.Array) -> Tuple[RewardState, Dict[str, jax.Array]]:
  network, metrics = state.network.minimize(loss_fn, state, images, labels, domains, key)
  return state.replace(network=network, step=state.step + 1), metrics


def probability(state: RewardState, images: jax.Array) -> jax.Array:
  """R(s) in mean mode (z_S = its mean): deterministic, as LOTJ uses it online."""
  logits, _ = state.network.apply(images, True)
  return jax.nn.sigmoid(logits)


# ------------------------------------------------------------------- balanced sampling
@struct.dataclass
class BalancedIndex:
  """Image indices sorted by (domain, label) with each group's start and size."""

  order: jax.Array          # [N] image indices
  start: jax.Array          # [domains, 2] first position in `order` of (domain, label)
  count: jax.Array          # [domains, 2] group sizes (every group non-empty)


def balanced_index(labels: np.ndarray, domains: np.ndarray) -> Tuple[BalancedIndex, np.ndarray]:
  """The index for `balanced_batch` and the domain ids it covers (compacted to 0..D-1)."""
  labels = (np.asarray(labels) > 0.5).astype(np.int64)
  domains = np.asarray(domains)
  domain_ids = np.unique(domains)
  compact = np.searchsorted(domain_ids, domains)
  order = np.lexsort((labels, compact))
  start = np.zeros((len(domain_ids), 2), np.int32)
  count = np.zeros((len(domain_ids), 2), np.int32)
  keys = compact[order] * 2 + labels[order]
  for d in range(len(domain_ids)):
    for label in (0, 1):
      positions = np.nonzero(keys == 2 * d + label)[0]
      if len(positions) == 0:
        raise ValueError(f"domain {int(domain_ids[d])} has no {'positive' if label else 'negative'} "
                         "images; 50/50 rebalancing needs both")
      start[d, label], count[d, label] = positions[0], len(positions)
  return BalancedIndex(jnp.asarray(order, jnp.int32), jnp.asarray(start), jnp.asarray(count)), domain_ids


def balanced_batch(index: BalancedIndex, key: jax.Array, batch_size: int) -> jax.Array:
  """`batch_size` image indices: a uniform domain per row, positive for the first half."""
  domain_key, row_key = jax.random.split(key)
  domains = jax.random.randint(domain_key, (batch_size,), 0, index.start.shape[0])
  labels = (jnp.arange(batch_size) < batch_size // 2).astype(jnp.int32)
  start = index.start[domains, labels]
  offset = jax.random.randint(row_key, (batch_size,), 0, index.count[domains, labels])
  return index.order[start + offset]


def balanced_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
  """Mean of the true-positive and true-negative rates at threshold 0.5 (= accuracy on a set
  rebalanced to 50/50)."""
  predicted = np.asarray(probabilities) > 0.5
  positive = np.asarray(labels) > 0.5
  if positive.all() or (~positive).all():
    raise ValueError("balanced accuracy needs both positive and negative labels")
  return float(0.5 * (predicted[positive].mean() + (~predicted[~positive]).mean()))
