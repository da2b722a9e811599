"""The subgoal planners a PTP study compares, behind one function (thesis ch. 12.6 baselines).

  ptp            hierarchical MPPI with the conditional generators (L levels, coarse to fine),
                 seeded from the latent plan buffers (the method)
  ptp_no_buffer  the same without the plan buffers: every plan starts from the prior
  ptp_flat       one level: MPPI over all K subgoals with the finest generator, with a plan
                 buffer of its own (the hierarchy is the only thing removed)
  leap           LEAP-style: the subgoals are drawn from the state VAE's prior p(h) = N(0, I)
                 and decoded back onto the data (h_i = phi(decode(z_i))), optimised by the same
                 MPPI on the same value-based cost; no conditional generator, one level
  gcp            goal-conditioned prediction: a midpoint predictor m(s, g) applied recursively
                 (bisection) until there are K subgoals; no sampling-based optimisation, no value
  final_goal     no plan: the policy is conditioned on the final goal (the model-free baseline)

`plan_subgoals` returns the subgoals (K, d), the last one the goal, and the latents the planner
chose per buffer (for the modes that keep plan buffers), so a study can switch modes by name.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp

from jaxinsert.planning import buffer as plan_buffer
from jaxinsert.planning import mppi

MODES = ("ptp", "ptp_no_buffer", "ptp_flat", "leap", "gcp", "final_goal")
BUFFERED_MODES = ("ptp", "ptp_flat")   # modes whose chosen latents feed a plan buffer

# m(start (d,), goal (d,)) -> midpoint (d,)
MidpointFn = Callable[[jax.Array, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class PlanningModels:
  generators: Sequence[mppi.Generator]        # conditional g_l(s, z), coarse to fine (PTP)
  value: Optional[mppi.ValueFn]               # V(s, g) of the goal-conditioned agent
  generator_z_dim: int                        # size of the generators' z
  prior_decoder: Optional[Callable[[jax.Array], jax.Array]] = None  # LEAP: z -> phi(decode(z))
  prior_dim: int = 0                          # LEAP: size of the VAE latent z
  midpoint: Optional[MidpointFn] = None       # GCP


@dataclasses.dataclass(frozen=True)
class PlanShape:
  top_subgoals: int = 4        # level-0 subgoals
  multiplier: int = 2          # M
  levels: int = 3              # L
  buffer_capacity: int = 1000  # per level (reference code)
  buffer_min_size: int = 32
  buffer_prior_probability: float = 0.1

  @property
  def num_subgoals(self) -> int:
    return self.top_subgoals * self.multiplier ** (self.levels - 1)

  def gcp_depth(self) -> int:
    """Bisection depth giving num_subgoals subgoals; K must be a power of 2."""
    depth = max(self.num_subgoals.bit_length() - 1, 0)
    if 2 ** depth != self.num_subgoals:
      raise ValueError(f"GCP bisects, so the plan length must be a power of 2; got "
                       f"{self.num_subgoals} subgoals (top {self.top_subgoals} x M "
                       f"{self.multiplier}^{self.levels - 1})")
    return depth


def empty_buffers(mode: str, shape: PlanShape, z_dim: int) -> Tuple[plan_buffer.PlanBuffer, ...]:
  """The plan buffers of a mode: one per level for ptp, one for ptp_flat, none otherwise."""
  if mode == "ptp":
    sizes = (shape.top_subgoals,) + (shape.multiplier,) * (shape.levels - 1)
  elif mode == "ptp_flat":
    sizes = (shape.num_subgoals,)
  else:
    return ()
  return tuple(plan_buffer.create(shape.buffer_capacity, k, z_dim) for k in sizes)


def _initial_latents(buffers, key, shape: PlanShape, num_samples: int):
  """Per buffer, (segments, N, K_level, z) first-iteration samples (prior and buffer)."""
  # Level 0 plans one segment; level l >= 1 plans one per subgoal of level l - 1.
  counts = [1] + [shape.top_subgoals * shape.multiplier ** l for l in range(len(buffers) - 1)]
  initial = []
  for level_buffer, count, level_key in zip(buffers, counts, jax.random.split(key, len(buffers))):
    initial.append(jax.vmap(lambda k, b=level_buffer: plan_buffer.initial_samples(
        b, k, num_samples, shape.buffer_min_size, shape.buffer_prior_probability))(
            jax.random.split(level_key, count)))
  return initial


def bisect(midpoint: MidpointFn, start: jax.Array, goal: jax.Array, depth: int) -> jax.Array:
  """GCP's recursive midpoints: 2^depth subgoals from start to goal, the last one the goal.

  Level by level, a midpoint is predicted between every pair of neighbouring points (all pairs
  of a level at once), so depth d gives the points start, m_1, ..., m_{2^d - 1}, goal in order.
  """
  points = jnp.stack([start, goal])
  for _ in range(depth):
    middles = jax.vmap(midpoint)(points[:-1], points[1:])
    interleaved = jnp.stack([points[:-1], middles], 1).reshape((-1,) + start.shape)
    points = jnp.concatenate([interleaved, points[-1:]])
  return points[1:]


def plan_subgoals(mode: str, key: jax.Array, start: jax.Array, goal: jax.Array,
                  models: PlanningModels, shape: PlanShape, config: mppi.MPPIConfig,
                  buffers: Tuple[plan_buffer.PlanBuffer, ...] = ()
                  ) -> Tuple[jax.Array, Optional[Tuple[jax.Array, ...]]]:
  """Subgoals (K, d) from `start` to `goal` by `mode`, and the chosen latents per buffer,
  each (segments, K_level, z), for the buffered modes (None for the others)."""
  if mode not in MODES:
    raise ValueError(f"unknown planning mode {mode!r}; modes: {', '.join(MODES)}")
  if mode == "final_goal":
    return goal[None], None
  if mode == "gcp":
    if models.midpoint is None:
      raise ValueError("mode 'gcp' needs PlanningModels.midpoint (a trained midpoint predictor)")
    return bisect(models.midpoint, start, goal, shape.gcp_depth()), None
  if mode == "leap":
    if models.prior_decoder is None or models.prior_dim < 1:
      raise ValueError("mode 'leap' needs PlanningModels.prior_decoder and prior_dim (the VAE)")
    unconditional = lambda state, z: models.prior_decoder(z)
    result = mppi.mppi_plan(key, start, goal, unconditional, models.value, shape.num_subgoals,
                            models.prior_dim, config)
    return result.subgoals, None
  init_key, plan_key = jax.random.split(key)
  wants_buffers = mode in BUFFERED_MODES
  if wants_buffers and not buffers:
    raise ValueError(f"mode {mode!r} plans from plan buffers; pass empty_buffers({mode!r}, ...)")
  initial = _initial_latents(buffers, init_key, shape, config.num_samples) if wants_buffers else None
  if mode == "ptp_flat":
    result = mppi.mppi_plan(plan_key, start, goal, models.generators[-1], models.value,
                            shape.num_subgoals, models.generator_z_dim, config,
                            None if initial is None else initial[0][0])
    return result.subgoals, (result.latents[None],)
  if len(models.generators) != shape.levels:
    raise ValueError(f"the hierarchy has {shape.levels} levels but {len(models.generators)} "
                     f"generators were given")
  result = mppi.hierarchical_plan(
      plan_key, start, goal, list(models.generators), [models.value] * shape.levels,
      shape.top_subgoals, shape.multiplier, models.generator_z_dim, config, initial)
  return result.subgoals, (result.level_latents if mode == "ptp" else None)
