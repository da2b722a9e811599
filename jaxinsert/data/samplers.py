"""On-device batch samplers, usable inside a jitted `lax.scan` (no host round trip)."""

from __future__ import annotations

import jax

from jaxinsert.types import Transition


def uniform(dataset: Transition, key: jax.Array, batch_size: int) -> Transition:
  """Draws `batch_size` transitions uniformly with replacement from a device-resident dataset."""
  index = jax.random.randint(key, (batch_size,), 0, dataset.reward.shape[0])
  return jax.tree_util.tree_map(lambda x: x[index], dataset)
