"""The sliding lid of the multi-stage `lid_socket` task (issue 19): its geometry (`SlidingLid`)
and its play primitives (`play_start`, `primitive_target`, the `LID_*` constants).

The lid's physics (`MultiStageInsertion._lid_step`, `lid_footprint_m`, `hole_open`,
`open_offset_m`) stays in `jaxinsert.envs.multistage`, whose `play_episodes` calls the play
primitives here (as `lid.play_start`, `lid.primitive_target`); `multistage.SlidingLid` still
resolves.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable

import jax
import jax.numpy as jnp

if TYPE_CHECKING:   # multistage imports this module; the class is only named in annotations
  from jaxinsert.envs.multistage import MultiStageInsertion


@dataclasses.dataclass(frozen=True)
class SlidingLid:
  """A flat lid on the table over the socket's hole, sliding along y. At offset 0 it covers
  x in socket_x +- half_width_m, y in socket_y +- half_length_m, z in [0, height_m]; at offset d
  it is shifted by d along +y. The plug pushes it from its -y edge (opening) or its +y edge
  (closing) when it moves into that edge below the lid's top; its other sides block the plug;
  coming down onto it the plug rests on its top. The hole admits the plug only while the lid's
  -y edge is clear of the chamfer (`open_offset_m`)."""
  half_width_m: float = 0.03       # along x
  half_length_m: float = 0.03      # along y
  height_m: float = 0.01           # top of the lid; below it the plug is beside the lid
  max_offset_m: float = 0.06       # travel: offsets in [0, max_offset_m]
  goal_offset_m: float = 0.05      # the final goal state's lid offset (open)


# ------------------------------------------------------------------------------- play data
# With a lid: the share of primitives that go to the lid's side or push it, how far a push goes,
# and the height (in lid heights) at which the plug goes beside the lid.
LID_PRIMITIVE_PROBABILITY = 0.25
LID_PUSH_M = (0.02, 0.08)
LID_SIDE_HEIGHT = 0.4


def play_start(env: MultiStageInsertion, key: jax.Array, start: jax.Array) -> jax.Array:
  """The start state (4,): the lid anywhere in its travel; a start over the lid sits on it."""
  lid_offset = jax.random.uniform(jax.random.fold_in(key, 1), (), maxval=env.lid.max_offset_m)
  inside = env._over_lid(start, lid_offset) & (start[2] < env.lid.height_m)
  return jnp.append(jnp.where(inside, start.at[2].set(env.lid.height_m), start), lid_offset)


def primitive_target(env: MultiStageInsertion, key: jax.Array, state: jax.Array,
                          ordinary: Callable[..., jax.Array]) -> jax.Array:
  """A primitive's target with a lid: with LID_PRIMITIVE_PROBABILITY, beside the lid below its
  top, push it (from the -y side: open, from the +y side: close) by U(LID_PUSH_M); elsewhere go
  beside one of its y edges; otherwise one of the ordinary primitives, `ordinary(env, key, tip)`
  (multistage's `_primitive_target`)."""
  position, lid = state[:3], env.lid
  choice_key, push_key, side_key, x_key = jax.random.split(jax.random.fold_in(key, 1), 4)
  x_low, x_high, y_low, y_high = env.lid_footprint_m(state[3])
  side_z = LID_SIDE_HEIGHT * lid.height_m
  along = (position[0] > x_low + 0.005) & (position[0] < x_high - 0.005)
  beside = along & (position[2] < lid.height_m)
  below_edge = beside & (position[1] <= y_low) & (position[1] > y_low - 0.05)
  above_edge = beside & (position[1] >= y_high) & (position[1] < y_high + 0.05)
  push = jax.random.uniform(push_key, (), minval=LID_PUSH_M[0], maxval=LID_PUSH_M[1])
  side_y = jnp.where(jax.random.bernoulli(side_key), y_low - 0.01, y_high + 0.01)
  side_x = env.socket_center_m[0] + jax.random.uniform(x_key, (), minval=-0.02, maxval=0.02)
  lid_target = jnp.select(
      [below_edge, above_edge],
      [jnp.array([position[0], position[1] + push, side_z]),
       jnp.array([position[0], position[1] - push, side_z])],
      jnp.array([side_x, side_y, side_z]))
  use_lid = jax.random.uniform(choice_key) < LID_PRIMITIVE_PROBABILITY
  return jnp.where(use_lid, lid_target, ordinary(env, key, position))
