"""Data parallelism across devices with `jax.sharding` (one code path for 1 or N devices).

The dataset and the train state are replicated; every sampled batch is constrained to be split
along its batch axis over a 1-D mesh named "data". XLA then runs each device on its slice and
all-reduces the gradients. Sampling draws the same indices whatever the device count, so N
devices compute the same updates as one, up to the order of floating-point reductions.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def data_mesh(num_devices: Optional[int] = None) -> Mesh:
  devices = jax.devices()[: num_devices or len(jax.devices())]
  return Mesh(np.array(devices), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def shard_batch(tree: Any, mesh: Mesh, batch_axis: int = 0) -> Any:
  """Constrains every leaf to be split over devices along `batch_axis` (inside jit)."""
  if mesh.size == 1:
    return tree

  def constrain(leaf):
    if leaf.ndim <= batch_axis or leaf.shape[batch_axis] % mesh.size:
      return jax.lax.with_sharding_constraint(leaf, replicated(mesh))
    spec = [None] * leaf.ndim
    spec[batch_axis] = "data"
    return jax.lax.with_sharding_constraint(leaf, NamedSharding(mesh, PartitionSpec(*spec)))

  return jax.tree_util.tree_map(constrain, tree)


def put_replicated(tree: Any, mesh: Mesh) -> Any:
  return jax.device_put(tree, replicated(mesh))
