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

Task variants (`ALL_TASKS`, `make_task`): "tray_socket" (the layout above), "tray_barrier_socket"
(a solid wall, `barriers`, across the workspace between tray and socket, taller than the tray's
walls: lift, climb over it, carry, descend, insert) and "walled_socket" (the socket stands in a
walled pit: the plug must come down into it from above its walls before it aligns and inserts)
and "far_tray_socket" (tray_socket stretched: tray and socket 0.6 m apart instead of 0.3 m in a
0.8 m wide workspace, 120-step episodes; the play episodes are tray_socket's, 60 steps of the
same short primitives, so none spans half the route; configs/ptp_far.py scales the planner)
and "lid_socket" (tray_socket with a sliding lid over the hole, `SlidingLid` in `lid.py`: the
plug must go down beside the lid and push it open sideways before it can come back above the
hole and insert; coming straight down over the hole it rests on the closed lid). With a lid the
state gains the lid's offset: observation (4,) = tip xyz + lid offset, metres (`state_dim`,
`goal_state`, `transition`); the other tasks keep their (3,) observation.

`play_episodes` makes the offline data: episodes of short scripted primitives (move to a
nearby point, lift, descend) from starts all over the workspace; no episode holds the whole
lift-carry-align-insert sequence. With a lid, play starts with the lid anywhere in its travel,
a quarter of the primitives go to the lid's side or push it (lid.py's play primitives), and
once an episode has seen the hole closed no primitive aims below the table, so no play episode
holds push-then-insert.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Dict, Optional, Tuple

import jax
import jax.numpy as jnp

from jaxinsert.envs.base import EnvSpec, EnvState
# The lid of lid_socket: its geometry and its play primitives (lid.py).
from jaxinsert.envs import lid as lid_play
from jaxinsert.envs.lid import SlidingLid


def _in_rectangle(position, x_low, x_high, y_low, y_high):
  """Whether `position`'s (x, y) lies strictly inside the rectangle (a barrier's, the lid's)."""
  return ((position[0] > x_low) & (position[0] < x_high) & (position[1] > y_low)
          & (position[1] < y_high))


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
  # A sliding lid over the hole (lid_socket); None: no lid, the state is the tip position only.
  lid: Optional[SlidingLid] = None

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
    if self.lid is not None:
      lid = self.lid
      if lid.half_length_m <= self.chamfer_radius_m or lid.half_width_m <= self.chamfer_radius_m:
        raise ValueError(f"the lid {lid} must cover the chamfer (radius {self.chamfer_radius_m})")
      if not self.open_offset_m <= lid.goal_offset_m <= lid.max_offset_m:
        raise ValueError(f"lid offsets must satisfy open ({self.open_offset_m:.3f}) <= goal "
                         f"({lid.goal_offset_m}) <= max ({lid.max_offset_m})")
      if self.socket_center_m[1] + lid.half_length_m + lid.max_offset_m > self.workspace_high_m[1]:
        raise ValueError("the open lid must stay inside the workspace along y")

  @property
  def state_dim(self) -> int:
    """3 (tip xyz) or, with a lid, 4 (tip xyz + lid offset), metres."""
    return 3 if self.lid is None else 4

  @property
  def spec(self) -> EnvSpec:
    return EnvSpec(obs_shape=(self.state_dim,), action_dim=3,
                   max_episode_steps=self.max_episode_steps)

  def goal_position_m(self) -> jax.Array:
    """The final goal's tip position: the bottom of the hole."""
    return jnp.array([self.socket_center_m[0], self.socket_center_m[1], -self.hole_depth_m])

  def goal_state(self) -> jax.Array:
    """The final goal state (state_dim,): the tip at the bottom of the hole (and the lid open)."""
    if self.lid is None:
      return self.goal_position_m()
    return jnp.append(self.goal_position_m(), self.lid.goal_offset_m)

  def start_position_m(self, key: jax.Array) -> jax.Array:
    offset = jax.random.uniform(key, (2,), minval=-self.start_noise_m, maxval=self.start_noise_m)
    return jnp.concatenate([jnp.asarray(self.tray_center_m) + offset, jnp.zeros(1)])

  def reset(self, key: jax.Array, task: Any = None) -> EnvState:
    """`task`: a start state (state_dim,) or tip position (3,; the lid closed) in metres, or None
    for a noisy start on the tray floor (the lid closed)."""
    start_key, key = jax.random.split(key)
    state = self.start_position_m(start_key) if task is None else jnp.asarray(task, jnp.float32)
    if self.lid is not None and state.shape[-1] == 3:
      state = jnp.append(state, 0.0)
    return self._state(state, jnp.int32(0), key, jnp.float32(0.0))

  def step(self, state: EnvState, action: jax.Array) -> EnvState:
    current = state.physics["position_m"]   # the physics, not the observation, is stepped
    if self.lid is not None:
      current = jnp.append(current, state.physics["lid_offset_m"])
    following = self.transition(current, action)
    success = self.is_success(following)
    step_count = state.step_count + 1
    return self._state(following, step_count, state.key, success.astype(jnp.float32))

  def transition(self, state: jax.Array, action: jax.Array) -> jax.Array:
    """One step of the state vector (state_dim,): `move` with the lid, if any, as its last entry."""
    if self.lid is None:
      return self.move(state, action)
    position, lid_offset = self._move(state[:3], action, state[3])
    return jnp.append(position, lid_offset)

  def _state(self, state, step_count, key, reward) -> EnvState:
    success = self.is_success(state)
    physics = {"position_m": state} if self.lid is None else {"position_m": state[:3],
                                                              "lid_offset_m": state[3]}
    return EnvState(physics=physics, task=None, obs=state, reward=reward,
                    terminal=jnp.bool_(False), truncated=step_count >= self.max_episode_steps,
                    step_count=step_count, key=key,
                    privileged={"success": success, "stage": self.stage(state)})

  # ------------------------------------------------------------------------------- geometry
  def _in_tray(self, position):
    offset = position[:2] - jnp.asarray(self.tray_center_m)
    return jnp.all(jnp.abs(offset) < self.tray_half_width_m)

  def _axis_offset(self, position):
    return position[:2] - jnp.asarray(self.socket_center_m)

  def _in_barrier(self, position, barrier):
    return _in_rectangle(position, *barrier[:4])

  def cuts_obstacles(self, start: jax.Array, end: jax.Array, points: int = 16) -> jax.Array:
    """Whether the straight segment start -> end (positions (3,) or states (state_dim,)) passes
    through a tray wall below its top, through a barrier, or with a lid through the lid's box
    (below its top, at the lid offset interpolated along the segment; positions (3,): the lid
    closed): a planned jump no motion can make in a straight line. A push, along which the lid
    moves ahead of the plug, is not one."""
    fractions = jnp.linspace(0.0, 1.0, points)[:, None]
    path = start + fractions * (end - start)
    in_tray = jax.vmap(self._in_tray)(path)
    low = jnp.maximum(path[1:, 2], path[:-1, 2]) < self.wall_height_m
    cuts = jnp.any((in_tray[1:] != in_tray[:-1]) & low)
    for barrier in self.barriers:
      inside = jax.vmap(lambda p, b=barrier: self._in_barrier(p, b))(path) & (path[:, 2] < barrier[4])
      cuts = cuts | jnp.any(inside)
    if self.lid is not None:
      offsets = path[:, 3] if start.shape[-1] == 4 else jnp.zeros(points)
      over = jax.vmap(self._over_lid)(path, offsets)
      cuts = cuts | jnp.any(over & (path[:, 2] < self.lid.height_m))
    return cuts

  def is_success(self, position: jax.Array) -> jax.Array:
    """`position`: the tip (3,) or a state (state_dim,), whose first three entries are the tip."""
    inside = jnp.linalg.norm(self._axis_offset(position)) <= self.hole_radius_m + 1e-6
    return inside & (position[2] <= -self.success_depth_m)

  def stage(self, position: jax.Array) -> jax.Array:
    """0 in the tray below its walls, 1 carried above them, 2 in the hole, 3 inserted, -1 else."""
    in_tray = self._in_tray(position) & (position[2] < self.wall_height_m)
    return jnp.select([self.is_success(position), position[2] < 0.0, in_tray,
                       position[2] >= self.wall_height_m], [3, 2, 0, 1], -1).astype(jnp.int32)

  # ------------------------------------------------------------------------------ the lid
  @property
  def open_offset_m(self) -> float:
    """The lid offset from which the hole admits the plug: its -y edge clear of the chamfer."""
    return self.lid.half_length_m + self.chamfer_radius_m

  def lid_footprint_m(self, lid_offset: jax.Array) -> Tuple[jax.Array, ...]:
    """(x_low, x_high, y_low, y_high) of the lid at `lid_offset`, metres."""
    x, y = self.socket_center_m
    lid = self.lid
    return (x - lid.half_width_m, x + lid.half_width_m, y - lid.half_length_m + lid_offset,
            y + lid.half_length_m + lid_offset)

  def _over_lid(self, position, lid_offset):
    return _in_rectangle(position, *self.lid_footprint_m(lid_offset))

  def hole_open(self, state: jax.Array) -> jax.Array:
    """Whether the hole admits the plug in `state` (always, without a lid)."""
    if self.lid is None:
      return jnp.bool_(True)
    return state[3] >= self.open_offset_m

  def _lid_step(self, position, proposed, lid_offset):
    """The lid's part of a step: (proposed position, lid offset) after landing on the lid, being
    blocked by its x sides, or pushing it along y from its -y or +y edge."""
    lid, height = self.lid, self.lid.height_m
    x_low, x_high, y_low, y_high = self.lid_footprint_m(lid_offset)
    low = jnp.minimum(position[2], proposed[2]) < height
    into = self._over_lid(proposed, lid_offset) & low
    # Coming down onto it (from at or above its top): the plug rests on its top.
    from_above = position[2] >= height
    proposed = jnp.where(into & from_above, proposed.at[2].set(height), proposed)
    # Into its side below its top: the y edges push it (as far as its travel allows), the x sides
    # block the lateral move.
    side = into & ~from_above & ~self._over_lid(position, lid_offset)
    along = (position[0] > x_low) & (position[0] < x_high)
    opening = side & along & (position[1] <= y_low)
    closing = side & along & (position[1] >= y_high)
    opened = jnp.clip(lid_offset + proposed[1] - y_low, 0.0, lid.max_offset_m)
    closed = jnp.clip(lid_offset - (y_high - proposed[1]), 0.0, lid.max_offset_m)
    lid_offset = jnp.where(opening, opened, jnp.where(closing, closed, lid_offset))
    _, _, new_low, new_high = self.lid_footprint_m(lid_offset)
    proposed = jnp.where(opening, proposed.at[1].set(new_low), proposed)
    proposed = jnp.where(closing, proposed.at[1].set(new_high), proposed)
    blocked = side & ~opening & ~closing
    proposed = jnp.where(blocked, proposed.at[:2].set(position[:2]), proposed)
    return proposed, lid_offset

  # ----------------------------------------------------------------------------- stepping
  def move(self, position: jax.Array, action: jax.Array) -> jax.Array:
    """One kinematic step of the tip with the tray walls, the table and the hole as
    constraints (tasks without a lid; with one, `transition` steps the tip and the lid)."""
    if self.lid is not None:
      raise ValueError("a task with a lid steps its state (tip + lid offset) with transition()")
    return self._move(position, action, None)[0]

  def _move(self, position: jax.Array, action: jax.Array, lid_offset: Optional[jax.Array]):
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
    # 1c. The lid: rest on it, push it from its y edges, blocked by its x sides.
    if self.lid is not None:
      proposed, lid_offset = self._lid_step(position, proposed, lid_offset)
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
    if self.lid is not None:   # a lid not clear of the chamfer keeps the plug on the table
      within_chamfer = within_chamfer & (lid_offset >= self.open_offset_m)
    centred = proposed.at[:2].set(center + clamped_offset)
    on_table = proposed.at[2].set(0.0)
    proposed = jnp.where(in_hole, centred, proposed)
    proposed = jnp.where(entering & within_chamfer, centred, proposed)
    proposed = jnp.where(entering & ~within_chamfer, on_table, proposed)
    return proposed, lid_offset


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

  Returns "positions" (episodes, steps + 1, state_dim) and "actions" (episodes, steps, 3): a
  proportional controller towards each primitive's target, plus Gaussian action noise. The
  "positions" are the states: the tip position, and with a lid its offset as a 4th column.
  """
  steps = env.play_steps or env.max_episode_steps
  primitive_target = (_primitive_target if env.lid is None else
                      functools.partial(lid_play.primitive_target, ordinary=_primitive_target))

  def episode(episode_key):
    if env.lid is None:
      start_key, _, run_key = jax.random.split(episode_key, 3)
      start = _play_start(env, start_key)
    else:
      start_key, run_key = jax.random.split(episode_key)
      start = lid_play.play_start(env, start_key, _play_start(env, start_key))

    def step(carry, step_key):
      state, target, left, seen_closed = carry
      new_key, length_key, noise_key = jax.random.split(step_key, 3)
      # With a lid: once an episode has seen the hole closed, its targets stay at or above the
      # table (a descent over the hole stops at z = 0), so that no play episode pushes the lid
      # open and then inserts. Without one the hole is always open and the targets are kept.
      seen_closed = seen_closed | ~env.hole_open(state)
      renew = left <= 0
      target = jnp.where(renew, primitive_target(env, new_key, state), target)
      left = jnp.where(renew, jax.random.randint(length_key, (), *PRIMITIVE_STEPS), left)
      aim = jnp.where(seen_closed, target.at[2].max(0.0), target)
      action = (aim - state[:3]) / env.step_m + action_noise * jax.random.normal(noise_key, (3,))
      action = jnp.clip(action, -1.0, 1.0)
      return (env.transition(state, action), target, left - 1, seen_closed), (state, action)

    (last, _, _, _), (states, actions) = jax.lax.scan(
        step, (start, start[:3], jnp.int32(0), jnp.bool_(False)), jax.random.split(run_key, steps))
    return jnp.concatenate([states, last[None]]), actions

  states, actions = jax.jit(jax.vmap(episode))(jax.random.split(key, num_episodes))
  return {"positions": states, "actions": actions}


# ------------------------------------------------------------------------------ variants
def _walled_socket_barriers(env: MultiStageInsertion, inner_half_m: float = 0.03,
                            thickness_m: float = 0.02, height_m: float = 0.05):
  x, y = env.socket_center_m
  a, b = inner_half_m, inner_half_m + thickness_m
  return ((x - b, x - a, y - b, y + b, height_m), (x + a, x + b, y - b, y + b, height_m),
          (x - a, x + a, y - b, y - a, height_m), (x - a, x + a, y + a, y + b, height_m))


# The tasks whose state is the tip position (3,), solved by lift-carry-descend, and those with a
# lid, whose state adds its offset (4,) and whose solution pushes the lid first.
TASKS = ("tray_socket", "tray_barrier_socket", "walled_socket", "far_tray_socket")
LID_TASKS = ("lid_socket",)
ALL_TASKS = TASKS + LID_TASKS

# far_tray_socket: the tray and the socket 0.6 m apart (tray_socket: 0.3 m), the workspace widened
# along x to keep 0.1 m beyond each, a 120-step limit (a staged lift-carry-descend solution takes
# 52-53 steps; on tray_socket 32-33 of 60), and play episodes kept at tray_socket's 60 steps, so
# that no play episode spans half the route (the widest x-span of 2000 is 0.28 m of 0.6 m).
FAR_TRAY_SOCKET = dict(tray_center_m=(-0.30, 0.0), socket_center_m=(0.30, 0.0),
                       workspace_low_m=(-0.40, -0.1, -0.03), workspace_high_m=(0.40, 0.1, 0.15),
                       max_episode_steps=120, play_steps=60)


def make_task(name: str, **overrides) -> MultiStageInsertion:
  """One of the multi-stage task variants in `ALL_TASKS`; `overrides` set MultiStageInsertion
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
  if name == "lid_socket":            # tray_socket with a sliding lid over the hole
    return MultiStageInsertion(**{"lid": SlidingLid(), **overrides})
  raise ValueError(f"unknown multi-stage task {name!r}; tasks: {', '.join(ALL_TASKS)}")
