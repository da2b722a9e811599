"""Training and held-out evaluation of LOTJ's reward classifier, seeds vmapped (Table IV).

The images live on the device as uint8; each update draws a 50/50 batch per domain
(`reward_classifier.balanced_batch`), shifts it randomly (DrQ's augmentation; LOTJ's type is not
given, B14.7) and steps every seed at once. Evaluation is balanced accuracy per held-out
connector (both robot variants pooled), averaged over the connectors, as Table IV reports.
"""

from __future__ import annotations

from typing import Dict, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxinsert.agents import reward_classifier
from jaxinsert.data import samplers


def train(config: ml_collections.ConfigDict, seed: int, num_seeds: int, data: Dict[str, np.ndarray],
          steps: int, shift_pad: int = 2, chunk: int = 250):
  """Reward states of `num_seeds` seeds (leading axis) trained on `data` (reward_images)."""
  if steps < chunk or steps % chunk:
    raise ValueError(f"reward_study.steps must be a positive multiple of {chunk}, got {steps}")
  index, domain_ids = reward_classifier.balanced_index(data["label"], data["domain_id"])
  compact_domain = jnp.asarray(np.searchsorted(domain_ids, data["domain_id"]), jnp.int32)
  images = jnp.asarray(data["image"], jnp.uint8)
  labels = jnp.asarray(data["label"], jnp.float32)
  keys = jax.random.split(jax.random.PRNGKey(seed), num_seeds)
  create = jax.vmap(lambda k: reward_classifier.create(config, k, images.shape[1:], len(domain_ids)))
  states = create(keys)
  batch_size = int(config.batch_size)

  def one_update(state, key):
    batch_key, shift_key, update_key = jax.random.split(key, 3)
    rows = reward_classifier.balanced_batch(index, batch_key, batch_size)
    batch_images = images[rows]
    if shift_pad:
      batch_images = samplers.random_shift(batch_images, shift_key, shift_pad)
    return reward_classifier.update(state, batch_images, labels[rows], compact_domain[rows], update_key)

  @jax.jit
  def run_chunk(states, keys):
    def body(states, step_keys):
      states, metrics = jax.vmap(one_update)(states, step_keys)
      return states, metrics
    step_keys = jax.vmap(lambda k: jax.random.split(k, chunk))(keys).swapaxes(0, 1)
    states, metrics = jax.lax.scan(body, states, step_keys)
    return states, jax.tree_util.tree_map(lambda m: m[-1], metrics)

  loop_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
  history = []
  for start in range(0, steps, chunk):
    loop_keys = jax.vmap(lambda k: jax.random.fold_in(k, start))(loop_keys)
    states, metrics = run_chunk(states, loop_keys)
    history.append({k: np.asarray(v).tolist() for k, v in metrics.items()})
  return states, history


def probabilities(states, images: np.ndarray, batch: int = 512) -> np.ndarray:
  """R(s) in mean mode for every seed: [seeds, N]."""
  predict = jax.jit(jax.vmap(reward_classifier.probability, in_axes=(0, None)))
  out = [np.asarray(predict(states, jnp.asarray(images[i:i + batch])))
         for i in range(0, len(images), batch)]
  return np.concatenate(out, axis=1)


def held_out_accuracy(states, data: Dict[str, np.ndarray], connector_task_ids: Sequence[int]
                      ) -> Dict[str, object]:
  """Balanced accuracy per seed and held-out connector, and its mean over connectors."""
  probs = probabilities(states, data["image"])
  per_connector = {}
  for task_id in connector_task_ids:
    rows = data["task_id"] == task_id
    per_connector[int(task_id)] = [reward_classifier.balanced_accuracy(p[rows], data["label"][rows])
                                   for p in probs]
  per_seed = np.mean(np.array(list(per_connector.values())), axis=0)
  return {"per_seed": per_seed.tolist(), "mean": float(per_seed.mean()),
          "std": float(per_seed.std()), "per_connector": per_connector}
