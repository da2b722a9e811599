"""MPPI over latent subgoal sequences (PTP, thesis ch. 12, Algorithm 9), pure and jittable.

A plan of K subgoals is decoded from K latents z_1..z_K by a generator g(s, z):
s_1 = g(s_0, z_1), s_i = g(s_{i-1}, z_i). Its cost is eq. (61) with the sign the reference code
uses (the thesis prints +eta; with V <= 0 that would reward infeasible jumps):

  c = ||s_g - s_K|| - eta * sum_{i=0..K} V(s_i, s_{i+1}) + prior_weight * sum_i ||z_i||^2,

the value sum running over the K+1 pairs (s_0, s_1) .. (s_{K-1}, s_K), (s_K, s_g) (digest 6.4).
MPPI: N samples around a mean, weights exp(-(c - c_min) / temperature), the new mean is the
weighted average, and the best sample so far (the elite) is re-inserted as sample 0 of every
later iteration, so the best cost never increases. The plan returned is the best sample, not the
weighted mean (as the reference planner). With `replace_final_subgoal` the last subgoal is then
overwritten by the goal.

The hierarchy plans `top_subgoals` subgoals with the coarsest generator, then splits every
segment (previous subgoal, next subgoal) into `multiplier` subgoals with the next finer one; the
segments of a level are planned at once with `vmap`. With L levels the plan has
top_subgoals * multiplier^(L-1) subgoals (the reference code's reading of K; digest 6.5).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
from flax import struct

# g(state (d,), latent (z,)) -> next subgoal (d,)
Generator = Callable[[jax.Array, jax.Array], jax.Array]
# V(state (d,), goal (d,)) -> scalar
ValueFn = Callable[[jax.Array, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class MPPIConfig:
  num_samples: int = 1024                 # N (thesis 12.6.2; reference code)
  noise_levels: Tuple[float, ...] = (1.0, 0.5, 0.2, 0.1, 0.1)  # one per iteration (reference)
  temperature: float = 0.1                # of the importance weights (reference code)
  values_weight: float = 0.01             # eta of eq. (61) (thesis 12.6.2; code 0.001)
  prior_weight: float = 0.01              # weight of sum ||z||^2 (reference train_eval_ptp.py)
  replace_final_subgoal: bool = True      # last subgoal := goal (reference code)

  def __post_init__(self):
    if self.num_samples < 2:
      raise ValueError(f"MPPIConfig.num_samples must be >= 2 (sample 0 is the elite), "
                       f"got {self.num_samples}")
    if not self.noise_levels:
      raise ValueError("MPPIConfig.noise_levels is empty: MPPI needs at least one iteration")
    if self.temperature <= 0:
      raise ValueError(f"MPPIConfig.temperature must be > 0, got {self.temperature}")

  @property
  def num_iterations(self) -> int:
    return len(self.noise_levels)


@struct.dataclass
class Plan:
  subgoals: jax.Array       # (K, d); the last one is the goal under replace_final_subgoal
  latents: jax.Array        # (K, z) that decoded to the subgoals (before the replacement)
  cost: jax.Array           # scalar cost of the returned plan (before the replacement)
  cost_history: jax.Array   # (iterations,) best cost after each MPPI iteration


def decode_subgoals(generator: Generator, start: jax.Array, latents: jax.Array) -> jax.Array:
  """Recursive decoding s_i = g(s_{i-1}, z_i): latents (K, z) -> subgoals (K, d)."""
  def step(state, latent):
    subgoal = generator(state, latent)
    return subgoal, subgoal
  _, subgoals = jax.lax.scan(step, start, latents)
  return subgoals


def plan_cost(start: jax.Array, goal: jax.Array, subgoals: jax.Array, latents: jax.Array,
              value_fn: Optional[ValueFn], values_weight: float, prior_weight: float
              ) -> jax.Array:
  """Eq. (61), minimised: final distance - eta * sum of values + prior_weight * sum ||z||^2."""
  cost = jnp.linalg.norm(goal - subgoals[-1])
  if value_fn is not None and values_weight != 0.0:
    sources = jnp.concatenate([start[None], subgoals], axis=0)
    targets = jnp.concatenate([subgoals, goal[None]], axis=0)
    cost = cost - values_weight * jnp.sum(jax.vmap(value_fn)(sources, targets))
  if prior_weight != 0.0:
    cost = cost + prior_weight * jnp.sum(latents ** 2)
  return cost


def mppi_plan(key: jax.Array, start: jax.Array, goal: jax.Array, generator: Generator,
              value_fn: Optional[ValueFn], num_subgoals: int, latent_dim: int,
              config: MPPIConfig = MPPIConfig(), initial_latents: Optional[jax.Array] = None
              ) -> Plan:
  """Plans `num_subgoals` subgoals from `start` to `goal` (both (d,)) by MPPI.

  `initial_latents` (N, K, z), e.g. from the plan buffer, replace the first iteration's draws
  around the zero mean; without them the first iteration samples noise_levels[0] * N(0, I).
  Pure: jit it with the generator and value closed over.
  """
  if start.ndim != 1 or goal.shape != start.shape:
    raise ValueError(f"mppi_plan wants start and goal of the same shape (d,), got "
                     f"{start.shape} and {goal.shape}")
  n, shape = config.num_samples, (num_subgoals, latent_dim)
  if initial_latents is not None and initial_latents.shape != (n,) + shape:
    raise ValueError(f"initial_latents must have shape {(n,) + shape}, got {initial_latents.shape}")

  def evaluate(latents):
    subgoals = decode_subgoals(generator, start, latents)
    return plan_cost(start, goal, subgoals, latents, value_fn, config.values_weight,
                     config.prior_weight)

  costs_of = jax.vmap(evaluate)
  noise_levels = jnp.asarray(config.noise_levels, jnp.float32)
  keys = jax.random.split(key, config.num_iterations)

  def iteration(carry, inputs):
    mean, best_latents, best_cost = carry
    index, noise_level, iteration_key = inputs
    samples = mean + noise_level * jax.random.normal(iteration_key, (n,) + shape)
    if initial_latents is not None:
      samples = jnp.where(index == 0, initial_latents, samples)
    # The elite: sample 0 is the best plan so far (from the second iteration on).
    samples = samples.at[0].set(jnp.where(index == 0, samples[0], best_latents))
    costs = costs_of(samples)
    costs = jnp.where(jnp.isfinite(costs), costs, jnp.inf)
    lowest = jnp.argmin(costs)
    improved = costs[lowest] < best_cost
    best_latents = jnp.where(improved, samples[lowest], best_latents)
    best_cost = jnp.where(improved, costs[lowest], best_cost)
    weights = jax.nn.softmax(-(costs - costs[lowest]) / config.temperature)
    mean = jnp.tensordot(weights, samples, axes=1)
    return (mean, best_latents, best_cost), best_cost

  init = (jnp.zeros(shape), jnp.zeros(shape), jnp.asarray(jnp.inf))
  (_, best_latents, best_cost), history = jax.lax.scan(
      iteration, init, (jnp.arange(config.num_iterations), noise_levels, keys))
  subgoals = decode_subgoals(generator, start, best_latents)
  if config.replace_final_subgoal:
    subgoals = subgoals.at[-1].set(goal)
  return Plan(subgoals=subgoals, latents=best_latents, cost=best_cost, cost_history=history)


@struct.dataclass
class HierarchicalPlan:
  subgoals: jax.Array              # (top * M^(L-1), d): the finest level's subgoals
  level_subgoals: Tuple[jax.Array, ...]  # per level, coarse to fine: (top * M^l, d)
  level_latents: Tuple[jax.Array, ...]   # per level: (segments, subgoals per segment, z)
  cost: jax.Array                  # the top level's plan cost


def hierarchical_plan(key: jax.Array, start: jax.Array, goal: jax.Array,
                      generators: Sequence[Generator], value_fns: Sequence[Optional[ValueFn]],
                      top_subgoals: int, multiplier: int, latent_dim: int,
                      config: MPPIConfig = MPPIConfig(),
                      initial_latents: Optional[Sequence[Optional[jax.Array]]] = None
                      ) -> HierarchicalPlan:
  """Coarse-to-fine planning (Algorithm 9) with one generator per level, coarsest first.

  Level 0 plans `top_subgoals` subgoals from start to goal; level l plans `multiplier` subgoals
  in each segment of level l-1 (its start the previous subgoal, its goal the next one, whose
  place the segment's last subgoal takes). `initial_latents[l]`, when given, has shape
  (segments_l, N, subgoals per segment, z).
  """
  levels = len(generators)
  if levels == 0 or len(value_fns) != levels:
    raise ValueError(f"hierarchical_plan needs one generator and one value per level, got "
                     f"{len(generators)} generators and {len(value_fns)} values")
  if top_subgoals < 1 or multiplier < 1:
    raise ValueError(f"top_subgoals and multiplier must be >= 1, got {top_subgoals}, {multiplier}")
  if not config.replace_final_subgoal:
    raise ValueError("hierarchical_plan joins segments at the upper level's subgoals; it needs "
                     "MPPIConfig.replace_final_subgoal=True")
  initial_latents = tuple(initial_latents) if initial_latents is not None else (None,) * levels
  level_keys = jax.random.split(key, levels)

  top = mppi_plan(level_keys[0], start, goal, generators[0], value_fns[0], top_subgoals,
                  latent_dim, config,
                  None if initial_latents[0] is None else initial_latents[0][0])
  level_subgoals, level_latents = [top.subgoals], [top.latents[None]]
  for level in range(1, levels):
    previous = level_subgoals[-1]
    segment_starts = jnp.concatenate([start[None], previous[:-1]], axis=0)
    segment_keys = jax.random.split(level_keys[level], previous.shape[0])
    plan_segment = lambda k, s, g, init, level=level: mppi_plan(
        k, s, g, generators[level], value_fns[level], multiplier, latent_dim, config, init)
    init = initial_latents[level]
    if init is None:
      segments = jax.vmap(lambda k, s, g: plan_segment(k, s, g, None))(
          segment_keys, segment_starts, previous)
    else:
      segments = jax.vmap(plan_segment)(segment_keys, segment_starts, previous, init)
    level_subgoals.append(segments.subgoals.reshape((-1, start.shape[0])))
    level_latents.append(segments.latents)
  return HierarchicalPlan(subgoals=level_subgoals[-1], level_subgoals=tuple(level_subgoals),
                          level_latents=tuple(level_latents), cost=top.cost)
