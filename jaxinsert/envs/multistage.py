"""A multi-stage insertion task for Planning to Practice: lift the plug out of a tray, carry it
over to the socket, align it above the hole and insert it.

A kinematic scene (no MuJoCo contact dynamics; the MuJoCo insertion scene models one
insertion, not a tray and a carry): the plug tip moves by up to `step_m` per step along each
axis (a 3-D relative move in [-1, 1]^3), and three obstacles make the final goal far for a
flat policy:
  1. the tray's walls (height `wall_height_m`) block any lateral move across them below their
     top, so the plug must first be lifted straight up;
  2. the table surface (z = 0) is solid except over the socket's hole;
  3. the hole admits the plug only within the chamfer (`chamfer_radius_m` of the axis, where it
     is centred into the `hole_radius_m` clearance); inside, lateral moves stay in the clearance.
Observation (3,): the tip position in the table frame, metres. Success: the tip inside the
hole at least `success_depth_m` deep, judged at the end of the episode (as PTP's evaluation).

Task variants (`TASKS`, `make_task`): "tray_socket" (the layout above), "tray_barrier_socket"
(a solid wall, `barriers`, across the workspace between tray and socket, taller than the tray's
walls: lift, climb over it, carry, descend, insert) and "walled_socket" (the socket stands in a
walled pit: the plug must come down into it from above its walls before it aligns and inserts)
and "far_tray_socket" (tray_socket stretched: tray and socket 0.6 m apart instead of 0.3 m in a
0.8 m wide workspace, 120-step episodes; the play episodes are tray_socket's, 60 steps of the
same short primitives, so none spans half the route; configs/ptp_far.py scales the planner).

`play_episodes` makes the offline data: episodes of short scripted primitives (move to a
nearby point, lift, descend) from starts all over the workspace; no episode holds the whole
lift-carry-align-insert sequence.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Tuple

import jax
import jax.numpy as jnp

from jaxinsert.envs.base import EnvSpec, EnvState


@dataclasses.dataclass(frozen=True)
class MultiStageInsertion:
  tray_center_m: Tuple[float, float] = (-0.15, 0.0)   # the plug starts here, on the tray floor
  tray_half_width_m: float = 0.03      # square tray, inner half width
  wall_height_m: float = 0.06          # tray walls: no lateral crossing below this height
  socket_center_m: Tuple[float, float] = (0.15, 0.0)
  hole_radius_m: float = 0.004         # lateral clearance inside the hole
  chamfer_radius_m: float = 0.015      # entering within this of the axis centres the plug
  hole_depth_m: float = 0.03           # the hole's floor is at z = -depth
  success_depth_m: float = 0.025       # success: inside the hole, at least this deep
  workspace_low_m: Tuple[float, float, float] = (-0.25, -0.1, -0.03)
  workspace_high_m: Tuple[float, float, float] = (0.25, 0.1, 0.15)
  step_m: float = 0.015                # displacement per step at |action| = 1, per axis
  start_noise_m: float = 0.01          # start: tray centre +- this in x and y, on the floor
  max_episode_steps: int = 60          # time limit (truncation)
  # Solid blocks (x_low, x_high, y_low, y_high, height_m), metres: no lateral entry below their
  # top; the plug can rest on them. Each must be wider than step_m along x and y, so that one
  # step cannot jump across one.
  barriers: Tuple[Tuple[float, float, float, float, float], ...] = ()
  # Steps per play episode (play_episodes); 0: max_episode_steps, as in the first three tasks.
  play_steps: int = 0

  def __post_init__(self):
    if self.play_steps < 0:
      raise ValueError(f"play_steps must be >= 0 (0: max_episode_steps), got {self.play_steps}")
    for barrier in self.barriers:
      if len(barrier) != 5:
        raise ValueError(f"a barrier is (x_low, x_high, y_low, y_high, height_m), got {barrier}")
      x_low, x_high, y_low, y_high, height = barrier
      if x_high - x_low <= self.step_m or y_high - y_low <= self.step_m or height <= 0:
        raise ValueError(f"barrier {barrier} must be wider than step_m={self.step_m} along x and "
                         f"y and have a positive height")
    if self.hole_radius_m >= self.chamfer_radius_m:
      raise ValueError(f"hole_radius_m ({self.hole_radius_m}) must be smaller than "
                       f"chamfer_radius_m ({self.chamfer_radius_m})")
    if not 0 < self.success_depth_m <= self.hole_depth_m:
      raise ValueError(f"success_depth_m must be in (0, hole_depth_m={self.hole_depth_m}], "
                       f"got {self.success_depth_m}")

  @property
  def spec(self) -> EnvSpec:
    return EnvSpec(obs_shape=(3,), action_dim=3, max_episode_steps=self.max_episode_steps)

  def goal_position_m(self) -> jax.Array:
    """The final goal state: the tip at the bottom of the hole."""
    return jnp.array([self.socket_center_m[0], self.socket_center_m[1], -self.hole_depth_m])

  def start_position_m(self, key: jax.Array) -> jax.Array:
    offset = jax.random.uniform(key, (2,), minval=-self.start_noise_m, maxval=self.start_noise_m)
    return jnp.concatenate([jnp.asarray(self.tray_center_m) + offset, jnp.zeros(1)])

  def reset(self, key: jax.Array, task: Any = None) -> EnvState:
    """`task`: a start position (3,) in metres, or None for a noisy start on the tray floor."""
    start_key, key = jax.random.split(key)
    position = self.start_position_m(start_key) if task is None else jnp.asarray(task, jnp.float32)
    return self._state(position, jnp.int32(0), key, jnp.float32(0.0))

  def step(self, state: EnvState, action: jax.Array) -> EnvState:
    position = self.move(state.physics["position_m"], action)
    success = self.is_success(position)
    step_count = state.step_count + 1
    return self._state(position, step_count, state.key, success.astype(jnp.float32))

  def _state(self, position, step_count, key, reward) -> EnvState:
    success = self.is_success(position)
    return EnvState(physics={"position_m": position}, task=None, obs=position, reward=reward,
                    terminal=jnp.bool_(False), truncated=step_count >= self.max_episode_steps,
                    step_count=step_count, key=key,
                    privileged={"success": success, "stage": self.stage(position)})

  # ------------------------------------------------------------------------------- geometry
  def _in_tray(self, position):
    offset = position[:2] - jnp.asarray(self.tray_center_m)
    return jnp.all(jnp.abs(offset) < self.tray_half_width_m)

  def _axis_offset(self, position):
    return position[:2] - jnp.asarray(self.socket_center_m)

  def _in_barrier(self, position, barrier):
    x_low, x_high, y_low, y_high, _ = barrier
    return ((position[0] > x_low) & (position[0] < x_high) & (position[1] > y_low)
            & (position[1] < y_high))

  def cuts_obstacles(self, start: jax.Array, end: jax.Array, points: int = 16) -> jax.Array:
    """Whether the straight segment start -> end (positions (3,)) passes through a tray wall
    below its top or through a barrier: a planned jump no motion can make in a straight line."""
    fractions = jnp.linspace(0.0, 1.0, points)[:, None]
    path = start + fractions * (end - start)
    in_tray = jax.vmap(self._in_tray)(path)
    low = jnp.maximum(path[1:, 2], path[:-1, 2]) < self.wall_height_m
    cuts = jnp.any((in_tray[1:] != in_tray[:-1]) & low)
    for barrier in self.barriers:
      inside = jax.vmap(lambda p, b=barrier: self._in_barrier(p, b))(path) & (path[:, 2] < barrier[4])
      cuts = cuts | jnp.any(inside)
    return cuts

  def is_success(self, position: jax.Array) -> jax.Array:
    inside = jnp.linalg.norm(self._axis_offset(position)) <= self.hole_radius_m + 1e-6
    return inside & (position[2] <= -self.success_depth_m)

  def stage(self, position: jax.Array) -> jax.Array:
    """0 in the tray below its walls, 1 carried above them, 2 in the hole, 3 inserted, -1 else."""
    in_tray = self._in_tray(position) & (position[2] < self.wall_height_m)
    return jnp.select([self.is_success(position), position[2] < 0.0, in_tray,
                       position[2] >= self.wall_height_m], [3, 2, 0, 1], -1).astype(jnp.int32)

  def move(self, position: jax.Array, action: jax.Array) -> jax.Array:
    """One kinematic step with the tray walls, the table and the hole as constraints."""
    low, high = jnp.asarray(self.workspace_low_m), jnp.asarray(self.workspace_high_m)
    proposed = jnp.clip(position + self.step_m * jnp.clip(action, -1.0, 1.0), low, high)
    # 1. Tray walls: a lateral move across them below their top is blocked.
    below_walls = jnp.minimum(position[2], proposed[2]) < self.wall_height_m
    crosses = self._in_tray(position) != self._in_tray(proposed)
    proposed = jnp.where(below_walls & crosses, proposed.at[:2].set(position[:2]), proposed)
    # 1b. Barriers: no lateral entry below their top; coming down onto one, the plug rests on it.
    for barrier in self.barriers:
      height = barrier[4]
      was_over = self._in_barrier(position, barrier)
      enters = self._in_barrier(proposed, barrier) & ~was_over & (
          jnp.minimum(position[2], proposed[2]) < height)
      proposed = jnp.where(enters, proposed.at[:2].set(position[:2]), proposed)
      lands = was_over & self._in_barrier(proposed, barrier) & (proposed[2] < height)
      proposed = jnp.where(lands, proposed.at[2].set(height), proposed)
    # 2. Inside the hole the clearance bounds lateral motion.
    center = jnp.asarray(self.socket_center_m)
    offset = self._axis_offset(proposed)
    radius = jnp.linalg.norm(offset)
    clamped_offset = offset * jnp.minimum(1.0, self.hole_radius_m / jnp.maximum(radius, 1e-9))
    in_hole = position[2] < 0.0
    # 3. Entering from above: within the chamfer the plug is centred into the clearance, else
    #    the table stops it at z = 0.
    entering = (position[2] >= 0.0) & (proposed[2] < 0.0)
    within_chamfer = radius < self.chamfer_radius_m
    centred = proposed.at[:2].set(center + clamped_offset)
    on_table = proposed.at[2].set(0.0)
    proposed = jnp.where(in_hole, centred, proposed)
    proposed = jnp.where(entering & within_chamfer, centred, proposed)
    proposed = jnp.where(entering & ~within_chamfer, on_table, proposed)
    return proposed


# ------------------------------------------------------------------------------- play data
PRIMITIVE_STEPS = (8, 16)      # a primitive lasts U[8, 16) steps
LOCAL_REACH_M = 0.08           # "move to a nearby point": target within +-this per axis
PRIMITIVE_PROBABILITIES = (0.6, 0.2, 0.2)   # move to a nearby point, lift, descend


def _play_start(env: MultiStageInsertion, key: jax.Array) -> jax.Array:
  """Starts all over the workspace: a quarter in the tray, a quarter near the socket."""
  kind_key, uniform_key, tray_key, socket_key = jax.random.split(key, 4)
  low, high = jnp.asarray(env.workspace_low_m), jnp.asarray(env.workspace_high_m)
  anywhere = jax.random.uniform(uniform_key, (3,), minval=low.at[2].set(0.0), maxval=high)
  tray = jnp.concatenate([
      jnp.asarray(env.tray_center_m) + jax.random.uniform(
          tray_key, (2,), minval=-env.tray_half_width_m * 0.8, maxval=env.tray_half_width_m * 0.8),
      jax.random.uniform(tray_key, (1,), maxval=env.wall_height_m)])
  socket = jnp.concatenate([
      jnp.asarray(env.socket_center_m) + jax.random.uniform(socket_key, (2,), minval=-0.03,
                                                            maxval=0.03),
      jax.random.uniform(socket_key, (1,), maxval=0.06)])
  kind = jax.random.randint(kind_key, (), 0, 4)
  start = jnp.select([kind == 0, kind == 1], [tray, socket], anywhere)
  for barrier in env.barriers:   # a start inside a barrier sits on its top instead
    inside = env._in_barrier(start, barrier) & (start[2] < barrier[4])
    start = jnp.where(inside, start.at[2].set(barrier[4]), start)
  return start


def _primitive_target(env: MultiStageInsertion, key: jax.Array, position: jax.Array) -> jax.Array:
  kind_key, reach_key, lift_key = jax.random.split(key, 3)
  kind = jax.random.choice(kind_key, 3, p=jnp.asarray(PRIMITIVE_PROBABILITIES))
  nearby = position + jax.random.uniform(reach_key, (3,), minval=-LOCAL_REACH_M,
                                         maxval=LOCAL_REACH_M)
  lift = position.at[2].add(jax.random.uniform(lift_key, (), minval=0.03, maxval=0.1))
  near_socket = jnp.linalg.norm(position[:2] - jnp.asarray(env.socket_center_m)) < 0.05
  descend = jnp.where(near_socket, env.goal_position_m(), position.at[2].set(0.0))
  return jnp.select([kind == 0, kind == 1], [nearby, lift], descend)


def play_episodes(env: MultiStageInsertion, key: jax.Array, num_episodes: int,
                  action_noise: float = 0.3) -> Dict[str, jax.Array]:
  """`num_episodes` play episodes of env.play_steps (0: env.max_episode_steps) steps of chained
  primitives.

  Returns "positions" (episodes, steps + 1, 3) and "actions" (episodes, steps, 3): a
  proportional controller towards each primitive's target, plus Gaussian action noise.
  """
  steps = env.play_steps or env.max_episode_steps

  def episode(episode_key):
    start_key, first_key, run_key = jax.random.split(episode_key, 3)
    start = _play_start(env, start_key)

    def step(carry, step_key):
      position, target, left = carry
      new_key, length_key, noise_key = jax.random.split(step_key, 3)
      renew = left <= 0
      target = jnp.where(renew, _primitive_target(env, new_key, position), target)
      left = jnp.where(renew, jax.random.randint(length_key, (), *PRIMITIVE_STEPS), left)
      action = (target - position) / env.step_m + action_noise * jax.random.normal(noise_key, (3,))
      action = jnp.clip(action, -1.0, 1.0)
      following = env.move(position, action)
      return (following, target, left - 1), (position, action)

    (last, _, _), (positions, actions) = jax.lax.scan(
        step, (start, start, jnp.int32(0)), jax.random.split(run_key, steps))
    return jnp.concatenate([positions, last[None]]), actions

  positions, actions = jax.jit(jax.vmap(episode))(jax.random.split(key, num_episodes))
  return {"positions": positions, "actions": actions}


# ------------------------------------------------------------------------------ variants
def _walled_socket_barriers(env: MultiStageInsertion, inner_half_m: float = 0.03,
                            thickness_m: float = 0.02, height_m: float = 0.05):
  x, y = env.socket_center_m
  a, b = inner_half_m, inner_half_m + thickness_m
  return ((x - b, x - a, y - b, y + b, height_m), (x + a, x + b, y - b, y + b, height_m),
          (x - a, x + a, y - b, y - a, height_m), (x - a, x + a, y + a, y + b, height_m))


TASKS = ("tray_socket", "tray_barrier_socket", "walled_socket", "far_tray_socket")

# far_tray_socket: the tray and the socket 0.6 m apart (tray_socket: 0.3 m), the workspace widened
# along x to keep 0.1 m beyond each, a 120-step limit (a staged lift-carry-descend solution takes
# 52-53 steps; on tray_socket 32-33 of 60), and play episodes kept at tray_socket's 60 steps, so
# that no play episode spans half the route (the widest x-span of 2000 is 0.28 m of 0.6 m).
FAR_TRAY_SOCKET = dict(tray_center_m=(-0.30, 0.0), socket_center_m=(0.30, 0.0),
                       workspace_low_m=(-0.40, -0.1, -0.03), workspace_high_m=(0.40, 0.1, 0.15),
                       max_episode_steps=120, play_steps=60)


def make_task(name: str, **overrides) -> MultiStageInsertion:
  """One of the multi-stage task variants in `TASKS`; `overrides` set MultiStageInsertion
  fields (e.g. max_episode_steps)."""
  if name == "tray_socket":
    return MultiStageInsertion(**overrides)
  if name == "tray_barrier_socket":   # a 10 cm wall, 3 cm thick, across the workspace at x = 0
    return MultiStageInsertion(barriers=((-0.015, 0.015, -0.2, 0.2, 0.10),), **overrides)
  if name == "walled_socket":         # the socket in a pit with 5 cm walls, 3 cm from its axis
    base = MultiStageInsertion(**overrides)
    return dataclasses.replace(base, barriers=_walled_socket_barriers(base))
  if name == "far_tray_socket":       # tray_socket with the socket twice as far from the tray
    return MultiStageInsertion(**{**FAR_TRAY_SOCKET, **overrides})
  raise ValueError(f"unknown multi-stage task {name!r}; tasks: {', '.join(TASKS)}")
