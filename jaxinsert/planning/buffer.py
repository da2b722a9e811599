"""The latent plan buffer (PTP, thesis 12.5.2): chosen latents seed the next plans' samples.

After each episode the latents the planner selected at a level are appended to that level's
buffer (a ring of `capacity` entries, each one plan's (K, z) latents). MPPI's initial samples
then come half from the buffer and half from the prior p(z) = N(0, I); from the prior only while
the buffer holds fewer than `min_size` entries, and also with probability `prior_probability`
(reference code: capacity 1000, 32 entries, 0.1). Pure functions of a pytree; jit-able.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class PlanBuffer:
  latents: jax.Array   # (capacity, K, z)
  size: jax.Array      # int32 entries stored, at most capacity
  cursor: jax.Array    # int32 next slot to write


def create(capacity: int, num_subgoals: int, latent_dim: int) -> PlanBuffer:
  if capacity < 1 or num_subgoals < 1 or latent_dim < 1:
    raise ValueError(f"plan buffer needs capacity, num_subgoals and latent_dim >= 1, got "
                     f"{capacity}, {num_subgoals}, {latent_dim}")
  return PlanBuffer(latents=jnp.zeros((capacity, num_subgoals, latent_dim)),
                    size=jnp.zeros((), jnp.int32), cursor=jnp.zeros((), jnp.int32))


def add(buffer: PlanBuffer, latents: jax.Array) -> PlanBuffer:
  """Appends plans' latents, (K, z) or a batch (B, K, z), overwriting the oldest when full."""
  entry_shape = buffer.latents.shape[1:]
  if latents.shape == entry_shape:
    latents = latents[None]
  if latents.shape[1:] != entry_shape:
    raise ValueError(f"plan buffer entries have shape {entry_shape}, got latents {latents.shape}")
  capacity = buffer.latents.shape[0]
  slots = (buffer.cursor + jnp.arange(latents.shape[0])) % capacity
  return PlanBuffer(latents=buffer.latents.at[slots].set(latents),
                    size=jnp.minimum(buffer.size + latents.shape[0], capacity),
                    cursor=(buffer.cursor + latents.shape[0]) % capacity)


def initial_samples(buffer: PlanBuffer, key: jax.Array, num_samples: int, min_size: int = 32,
                    prior_probability: float = 0.1, buffer_fraction: float = 0.5) -> jax.Array:
  """MPPI's first-iteration latents (N, K, z): prior draws, with the first buffer_fraction * N
  rows taken from the buffer once it holds `min_size` plans (except with prior_probability)."""
  prior_key, pick_key, coin_key = jax.random.split(key, 3)
  shape = (num_samples,) + buffer.latents.shape[1:]
  prior = jax.random.normal(prior_key, shape)
  picks = jax.random.randint(pick_key, (num_samples,), 0, jnp.maximum(buffer.size, 1))
  use_buffer = (buffer.size >= min_size) & (jax.random.uniform(coin_key) >= prior_probability)
  from_buffer = (jnp.arange(num_samples) < round(buffer_fraction * num_samples)) & use_buffer
  return jnp.where(from_buffer[:, None, None], buffer.latents[picks], prior)
