"""The jitted pieces of a Planning to Practice study (thesis ch. 12): where the goal-conditioned
agent, the latent models, the planner and the multi-stage environment meet.

- `episodes`: plan once per episode from the start's latent to the final goal's by one of the
  planning modes (`jaxinsert.planning.modes`: PTP and its ablations, LEAP, GCP, or no plan: the
  model-free final-goal baseline),
  follow the subgoals with pi(a | h, s_k), and return success, the transitions (labelled with
  the subgoal followed) and the chosen latents for the plan buffers;
- `train`: gciql updates inside one `lax.scan`, batches of HER-relabelled offline rows and, once
  online data exists, online rows (the reference code's online fraction 0.6).
Everything is a pure function of (agent state, buffers, data, key) so a study vmaps it over
seeds.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxinsert.agents import gciql
from jaxinsert.data import samplers
from jaxinsert.envs.multistage import MultiStageInsertion
from jaxinsert.planning import buffer as plan_buffer
from jaxinsert.planning import modes as planning_modes
from jaxinsert.planning import runner
from jaxinsert.planning.cvae import TrainedCVAE
from jaxinsert.planning.gcp import TrainedMidpoint
from jaxinsert.planning.vae import TrainedVAE
from jaxinsert.types import Transition

MODES = planning_modes.MODES


@dataclasses.dataclass(frozen=True)
class PlannerSettings:
  mppi: mppi.MPPIConfig
  top_subgoals: int = 2          # level-0 subgoals; the plan has top * multiplier^(L-1)
  multiplier: int = 2            # M
  subgoal_timeout: int = 10      # steps on one subgoal before moving on (code: 30 at dt 15)
  reach_threshold: float = 0.2   # ||h - s_k|| below this: subgoal reached (latent units)
  buffer_capacity: int = 1000    # latent plan buffer size per level (reference code)
  buffer_min_size: int = 32      # prior-only sampling below this many plans (reference code)
  buffer_prior_probability: float = 0.1

  @property
  def num_subgoals(self) -> int:
    return self.top_subgoals * self.multiplier ** 2

  @property
  def shape(self) -> planning_modes.PlanShape:
    return planning_modes.PlanShape(
        top_subgoals=self.top_subgoals, multiplier=self.multiplier, levels=3,
        buffer_capacity=self.buffer_capacity, buffer_min_size=self.buffer_min_size,
        buffer_prior_probability=self.buffer_prior_probability)


def offline_goal_shares(agent_config: ml_collections.ConfigDict) -> Tuple[float, float]:
  """(random, nearby) shares of the offline rows' goals. Offline play rows carry no commanded
  goal, so those not relabelled with a future state get a hard-negative goal
  (`nearby_fraction`, gciql) or one from anywhere in the data."""
  nearby = agent_config.get("nearby_fraction", 0.0)
  random = 1.0 - agent_config.future_fraction - nearby
  if nearby < 0 or random < -1e-9:
    raise ValueError(f"agent.nearby_fraction must be in [0, 1 - future_fraction], got "
                     f"{nearby} with future_fraction {agent_config.future_fraction}")
  return max(random, 0.0), nearby


class PTPLoops:
  def __init__(self, env: MultiStageInsertion, vae: TrainedVAE,
               generators: Sequence[TrainedCVAE], agent_config: ml_collections.ConfigDict,
               planner: PlannerSettings, midpoint: Optional[TrainedMidpoint] = None):
    if len(generators) != 3:
      raise ValueError(f"PTP here plans on L = 3 levels; got {len(generators)} generators")
    self.env, self.vae, self.generators = env, vae, tuple(generators)
    self.midpoint = midpoint
    self.agent_config, self.planner = agent_config, planner
    self.latent_dim = vae.config.latent_dim
    self.z_dim = generators[0].config.z_dim
    with jax.ensure_compile_time_eval():   # a constant, even when first built under a trace
      self.goal_latent = vae.encode(env.goal_state())

  # --------------------------------------------------------------------------- buffers
  def empty_buffers(self, mode: str = "ptp") -> Tuple[plan_buffer.PlanBuffer, ...]:
    return planning_modes.empty_buffers(mode, self.planner.shape, self.z_dim)

  # ---------------------------------------------------------------------------- planning
  def planning_models(self, agent_state) -> planning_modes.PlanningModels:
    return planning_modes.PlanningModels(
        generators=[g.generate for g in self.generators],
        value=lambda s, g: gciql.goal_value(agent_state, s, g), generator_z_dim=self.z_dim,
        prior_decoder=lambda z: self.vae.encode(self.vae.decode(z)), prior_dim=self.latent_dim,
        midpoint=None if self.midpoint is None else self.midpoint.midpoint)

  def plan(self, agent_state, buffers, key, start: jax.Array, mode: str):
    """Subgoals (K, d) from latent `start` to the goal by `mode` (planning/modes.py), and the
    latents chosen per plan buffer (None for the modes without buffers)."""
    return planning_modes.plan_subgoals(mode, key, start, self.goal_latent,
                                        self.planning_models(agent_state), self.planner.shape,
                                        self.planner.mppi, buffers)

  # ---------------------------------------------------------------------------- episodes
  def episode(self, agent_state, buffers, key, mode: str, deterministic: bool):
    if mode not in MODES:
      raise ValueError(f"unknown PTP mode {mode!r}; modes: {', '.join(MODES)}")
    reset_key, plan_key, run_key = jax.random.split(key, 3)
    env_state = self.env.reset(reset_key)
    start = self.vae.encode(env_state.obs)
    subgoals, latents = self.plan(agent_state, buffers, plan_key, start, mode)

    def policy(obs, subgoal, act_key):
      return gciql.act(agent_state, jnp.concatenate([self.vae.encode(obs), subgoal]), act_key,
                       deterministic)

    records = runner.run_episode(self.env, env_state, policy, self.vae.encode, subgoals, run_key,
                                 self.env.max_episode_steps, self.planner.subgoal_timeout,
                                 self.planner.reach_threshold)
    followed = subgoals[records["subgoal_index"]]
    latent, next_latent = self.vae.encode(records["obs"]), self.vae.encode(records["next_obs"])
    reached = jnp.linalg.norm(next_latent - followed, axis=-1) < self.agent_config.reward_threshold
    transitions = Transition(
        obs=jnp.concatenate([latent, followed], -1), action=records["action"],
        reward=jnp.where(reached, 0.0, -1.0), mask=1.0 - reached.astype(jnp.float32),
        next_obs=jnp.concatenate([next_latent, followed], -1))
    final_position = records["final_state"].physics["position_m"]
    out = {"success": self.env.is_success(final_position), "start": env_state.obs,
           "stage": self.env.stage(final_position), "transitions": transitions,
           "positions": records["next_obs"], "subgoals": self.vae.decode(subgoals),
           "subgoal_index": records["subgoal_index"]}
    if self.env.lid is not None:
      out["lid_open"] = self.env.hole_open(records["final_state"].obs)
    if latents is not None:
      out["level_latents"] = latents
    return out

  def episodes(self, agent_state, buffers, key, num_episodes: int, mode: str,
               deterministic: bool):
    return jax.vmap(lambda k: self.episode(agent_state, buffers, k, mode, deterministic))(
        jax.random.split(key, num_episodes))

  @staticmethod
  def add_to_buffers(buffers, level_latents):
    """Appends every episode's chosen latents (episodes, segments, K, z) level by level."""
    return tuple(plan_buffer.add(b, l.reshape((-1,) + l.shape[-2:]))
                 for b, l in zip(buffers, level_latents))

  # ---------------------------------------------------------------------------- training
  def train(self, agent_state, offline: samplers.IndexedDataset,
            online: Optional[Transition], online_filled: Optional[jax.Array], key: jax.Array,
            num_steps: int, batch_size: int, online_fraction: float,
            hard_negatives: bool = True):
    """`num_steps` gciql updates. `online`: (capacity episodes, steps, ...) transitions of which
    the first `online_filled` episodes are real; the rest of the slots repeat them cyclically so
    that the shapes (and the compiled program) stay fixed as the buffer fills. Without
    `hard_negatives` the offline rows take no hard-negative goals (agent.nearby_fraction)."""
    config = self.agent_config
    offline_random, offline_nearby = offline_goal_shares(config)
    if not hard_negatives:
      offline_random, offline_nearby = offline_random + offline_nearby, 0.0
    online_rows = int(round(batch_size * online_fraction)) if online is not None else 0
    online_data = None if online is None else self._online_dataset(online, online_filled)

    def sample(batch_key):
      offline_key, online_key = jax.random.split(batch_key)
      batch = gciql.relabelled_batch(offline, offline_key, batch_size - online_rows, config,
                                     random_fraction=offline_random,
                                     nearby_fraction=offline_nearby)
      if online_rows:
        fresh = gciql.relabelled_batch(online_data, online_key, online_rows, config,
                                       random_fraction=0.0)
        batch = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), batch, fresh)
      return batch

    # The actor's rows: all, or all but the hard-negative block (agent.nearby_train_actor).
    offline_rows = batch_size - online_rows
    _, future, random, nearby = samplers.relabel_counts(
        offline_rows, 0.0, config.future_fraction, offline_random, offline_nearby)
    actor_rows = None
    if nearby and not config.get("nearby_train_actor", True):
      actor_rows = np.r_[0:future + random, future + random + nearby:batch_size]

    def step(state, step_key):
      batch_key, update_key = jax.random.split(step_key)
      batch = sample(batch_key)
      actor_batch = None if actor_rows is None else jax.tree_util.tree_map(
          lambda x: x[actor_rows], batch)
      state, metrics = gciql.update(state, batch, update_key, actor_batch)
      return state, metrics

    agent_state, metrics = jax.lax.scan(step, agent_state, jax.random.split(key, num_steps))
    return agent_state, jax.tree_util.tree_map(jnp.mean, metrics)

  @staticmethod
  def _online_dataset(online: Transition, filled: jax.Array) -> samplers.IndexedDataset:
    capacity, steps = online.reward.shape[:2]
    slots = jnp.arange(capacity) % jnp.maximum(filled, 1)
    flat = jax.tree_util.tree_map(lambda x: x[slots].reshape((capacity * steps,) + x.shape[2:]),
                                  online)
    flat = flat.replace(task_id=jnp.zeros(capacity * steps, jnp.int32),
                        domain_id=jnp.zeros(capacity * steps, jnp.int32))
    start = (jnp.arange(capacity * steps) // steps) * steps
    zero = jnp.zeros((1,), jnp.int32)
    return samplers.IndexedDataset(transitions=flat, episode_start=start,
                                   episode_end=start + steps - 1, task_ids=zero, task_start=zero,
                                   task_count=jnp.full((1,), capacity * steps, jnp.int32))
