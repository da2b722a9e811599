"""The lid task of issue 19 (`lid_socket`): a sliding lid over the socket's hole, pushed open
from its side before the plug can insert. Its geometry by hand, a scripted push-then-insert
solution against greedy policies that end on the closed lid, its play data, the other tasks'
(3,) states, and its config."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.envs.multistage import (ALL_TASKS, LID_TASKS, TASKS, MultiStageInsertion,
                                       SlidingLid, make_task, play_episodes)


def _step(env, state, action):
  return np.asarray(env.transition(jnp.asarray(state, jnp.float32),
                                   jnp.asarray(action, jnp.float32)))


@pytest.mark.timeout(60)
def test_lid_geometry_by_hand():
  env = make_task("lid_socket")
  assert env.spec.obs_shape == (4,) and env.state_dim == 4 and "lid_socket" in ALL_TASKS
  # Socket at (0.15, 0); the closed lid covers x 0.12..0.18, y -0.03..0.03, z 0..0.01.
  np.testing.assert_allclose(np.asarray(env.goal_state()), [0.15, 0.0, -0.03, 0.05], atol=1e-7)
  assert env.open_offset_m == pytest.approx(0.045)   # -y edge past the 1.5 cm chamfer
  # Closed: coming straight down over the hole the plug rests on the lid, however it presses.
  np.testing.assert_allclose(_step(env, [0.15, 0.0, 0.015, 0.0], [0, 0, -1]),
                             [0.15, 0.0, 0.01, 0.0], atol=1e-7)
  np.testing.assert_allclose(_step(env, [0.15, 0.0, 0.01, 0.0], [0, 0, -1]),
                             [0.15, 0.0, 0.01, 0.0], atol=1e-7)
  # Above its top the plug passes over it; moving there does not move the lid.
  np.testing.assert_allclose(_step(env, [0.15, -0.04, 0.02, 0.0], [0, 1, 0]),
                             [0.15, -0.025, 0.02, 0.0], atol=1e-7)
  # Beside its -y edge below its top, +y pushes it: the plug stays at the edge, the lid moves.
  np.testing.assert_allclose(_step(env, [0.15, -0.04, 0.005, 0.0], [0, 1, 0]),
                             [0.15, -0.025, 0.005, 0.005], atol=1e-6)
  # At the end of its travel (0.06) it no longer moves and blocks the plug.
  np.testing.assert_allclose(_step(env, [0.15, 0.03, 0.005, 0.06], [0, 1, 0]),
                             [0.15, 0.03, 0.005, 0.06], atol=1e-6)
  # From its +y edge -y pushes it back (closes it), down to offset 0.
  np.testing.assert_allclose(_step(env, [0.15, 0.085, 0.005, 0.05], [0, -1, 0]),
                             [0.15, 0.07, 0.005, 0.04], atol=1e-6)
  np.testing.assert_allclose(_step(env, [0.15, 0.04, 0.005, 0.0], [0, -1, 0]),
                             [0.15, 0.03, 0.005, 0.0], atol=1e-6)
  # Its x sides block a lateral move below its top and do not move it.
  np.testing.assert_allclose(_step(env, [0.11, 0.0, 0.005, 0.0], [1, 0, 0]),
                             [0.11, 0.0, 0.005, 0.0], atol=1e-7)
  # Open (offset 0.05 >= 0.045): the plug enters the hole over the axis.
  np.testing.assert_allclose(_step(env, [0.15, 0.0, 0.005, 0.05], [0, 0, -1]),
                             [0.15, 0.0, -0.01, 0.05], atol=1e-6)
  # Half open (0.03: the -y edge at the axis): beside the lid, within the chamfer, the hole
  # still refuses the plug; it stops on the table.
  np.testing.assert_allclose(_step(env, [0.15, -0.01, 0.005, 0.03], [0, 0, -1]),
                             [0.15, -0.01, 0.0, 0.03], atol=1e-7)
  assert bool(env.hole_open(jnp.array([0.0, 0.0, 0.0, 0.045])))
  assert not bool(env.hole_open(jnp.array([0.0, 0.0, 0.0, 0.044])))
  assert bool(env.is_success(jnp.array([0.15, 0.0, -0.03, 0.05])))
  # The tip-only stepping refuses a state with a lid; bad lids are refused.
  with pytest.raises(ValueError, match="transition"):
    env.move(jnp.zeros(3), jnp.zeros(3))
  with pytest.raises(ValueError, match="cover the chamfer"):
    MultiStageInsertion(lid=SlidingLid(half_length_m=0.01))
  with pytest.raises(ValueError, match="lid offsets"):
    MultiStageInsertion(lid=SlidingLid(goal_offset_m=0.03))
  with pytest.raises(ValueError, match="workspace"):
    MultiStageInsertion(lid=SlidingLid(max_offset_m=0.09, goal_offset_m=0.05))


@pytest.mark.timeout(60)
def test_lid_cuts_obstacles_flags_a_jump_through_the_lid_where_it_is_and_not_a_push():
  env = make_task("lid_socket")

  def cuts(start, end):
    return bool(env.cuts_obstacles(jnp.asarray(start, jnp.float32), jnp.asarray(end, jnp.float32)))
  # Closed (offset 0: x 0.12..0.18, y -0.03..0.03, z 0..0.01): a low jump across it along y or x,
  # or straight down through it into the hole, cuts it; the same jumps above its top do not.
  assert cuts([0.15, -0.05, 0.005, 0.0], [0.15, 0.05, 0.005, 0.0])
  assert cuts([0.10, 0.0, 0.005, 0.0], [0.20, 0.0, 0.005, 0.0])
  assert cuts([0.15, 0.0, 0.02, 0.0], [0.15, 0.0, -0.03, 0.0])
  assert not cuts([0.15, -0.05, 0.02, 0.0], [0.15, 0.05, 0.02, 0.0])
  assert not cuts([0.10, 0.0, 0.011, 0.0], [0.20, 0.0, 0.011, 0.0])
  # Where the lid is at the start: open (offset 0.06: y 0.03..0.09) the low jump over the axis is
  # clear, and one along its new place cuts it.
  assert not cuts([0.10, 0.0, 0.005, 0.06], [0.20, 0.0, 0.005, 0.06])
  assert cuts([0.10, 0.06, 0.005, 0.06], [0.20, 0.06, 0.005, 0.06])
  assert not cuts([0.10, 0.06, 0.005, 0.0], [0.20, 0.06, 0.005, 0.0])
  # Beside it, not through it: no cut; nor a push, the lid moving ahead of the plug (a step of
  # the scripted push-then-insert), while the same move with the lid left behind cuts it.
  assert not cuts([0.15, -0.06, 0.005, 0.0], [0.15, -0.035, 0.005, 0.0])
  assert not cuts([0.15, -0.04, 0.005, 0.0], [0.15, -0.026, 0.005, 0.005])
  assert cuts([0.15, -0.04, 0.005, 0.0], [0.15, -0.026, 0.005, 0.0])


def _lid_script(env, carry_height=0.075):
  """Lift out of the tray, carry to beside the lid's -y edge, go down beside it, push it open,
  come back over the axis, insert."""
  lid, (x, y) = env.lid, env.socket_center_m
  side_z = 0.4 * lid.height_m
  push_to = y - lid.half_length_m + lid.goal_offset_m + 0.001
  goal = env.goal_position_m()

  def policy(state):
    p, offset = state[:3], state[3]
    edge = y - lid.half_length_m + offset
    side = jnp.array([x, edge - 0.012])
    at_edge = (jnp.abs(p[0] - x) < 0.005) & (p[1] <= edge) & (p[2] < lid.height_m)
    over_side = jnp.linalg.norm(p[:2] - side) < 0.004
    lifted = p[2] >= carry_height - 0.01
    closed = jnp.select([at_edge, over_side, ~lifted],
                        [jnp.array([x, push_to, side_z]), jnp.append(side, side_z),
                         p.at[2].set(carry_height)], jnp.append(side, carry_height))
    over_hole = jnp.linalg.norm(p[:2] - goal[:2]) < 0.003
    opened = jnp.where(over_hole, goal, jnp.array([x, y, jnp.maximum(p[2], side_z)]))
    return (jnp.where(offset >= env.open_offset_m, opened, closed) - p) / env.step_m
  return policy


def _staged(env, carry_height=0.075):
  """The tip-only tasks' solution: lift, carry over the hole, descend (ignores the lid)."""
  goal = env.goal_position_m()

  def policy(state):
    p = state[:3]
    over = jnp.abs(p[0] - goal[0]) <= 0.003
    target = jnp.where(over, goal, jnp.array([goal[0], goal[1], carry_height]))
    target = jnp.where((p[2] < carry_height - 0.01) & ~over, p.at[2].set(carry_height), target)
    return (target - p) / env.step_m
  return policy


def _rollouts(env, policy, keys, lid_offset=None):
  """Final states and first success steps (0: never) of max_episode_steps-step episodes."""
  def run(key):
    state = env.reset(key)
    if lid_offset is not None:
      state = env.reset(key, jnp.append(state.obs[:3], lid_offset))

    def body(s, _):
      s = env.step(s, policy(s.obs))
      return s, s.privileged["success"]
    final, success = jax.lax.scan(body, state, None, env.max_episode_steps)
    return final.obs, jnp.where(success.any(), jnp.argmax(success) + 1, 0)
  finals, first = jax.jit(jax.vmap(run))(keys)
  return np.asarray(finals), np.asarray(first)


@pytest.mark.timeout(60)
def test_lid_scripted_push_then_insert_succeeds_and_greedy_policies_end_on_the_lid():
  env = make_task("lid_socket")
  keys = jax.random.split(jax.random.PRNGKey(0), 16)
  finals, first = _rollouts(env, _lid_script(env), keys)
  assert np.all(finals[:, 2] <= -env.success_depth_m) and np.all(finals[:, 3] >= 0.045)
  assert 30 <= first.min() and first.max() <= 45, f"push-then-insert took {first} steps"
  # Straight at the final goal: the tray walls stop it (as on every tray task).
  goal = env.goal_state()
  finals, first = _rollouts(env, lambda s: (goal[:3] - s[:3]) / env.step_m, keys)
  assert np.all(first == 0) and np.all(finals[:, 3] == 0.0)
  # Lift, carry, descend over the hole (tray_socket's solution): it ends on the closed lid.
  finals, first = _rollouts(env, _staged(env), keys)
  assert np.all(first == 0), "the staged tray_socket solution got past the closed lid"
  np.testing.assert_allclose(finals[:, 2], env.lid.height_m, atol=1e-6)
  np.testing.assert_allclose(finals[:, :2], np.tile([0.15, 0.0], (16, 1)), atol=0.004)
  np.testing.assert_array_equal(finals[:, 3], 0.0)
  # With the lid open from the start the same staged policy inserts: the lid is what stops it.
  _, first = _rollouts(env, _staged(env), keys, lid_offset=env.lid.goal_offset_m)
  assert np.all(first > 0)


@pytest.mark.timeout(60)
def test_lid_play_data_pushes_the_lid_but_no_episode_pushes_then_inserts():
  env = make_task("lid_socket")
  play = play_episodes(env, jax.random.PRNGKey(1), 400)
  states = np.asarray(play["positions"])
  assert states.shape == (400, 61, 4) and play["actions"].shape == (400, 60, 3)
  offset = states[:, :, 3]
  assert offset.min() >= 0.0 and offset.max() <= env.lid.max_offset_m + 1e-7
  # Starts with the lid anywhere in its travel: closed and open ones.
  assert np.mean(offset[:, 0] < 0.01) > 0.05 and np.mean(offset[:, 0] >= 0.045) > 0.15
  lid_open = offset >= env.open_offset_m
  moved = np.any(np.diff(offset, axis=1) != 0, 1)
  opened = np.any(~lid_open[:, :-1] & lid_open[:, 1:], 1)
  closed = np.any(lid_open[:, :-1] & ~lid_open[:, 1:], 1)
  assert moved.mean() > 0.15 and opened.sum() >= 10 and closed.sum() >= 10, (
      f"lid moved in {moved.sum()}, opened in {opened.sum()}, closed in {closed.sum()} of 400")
  stage = np.asarray(jax.vmap(jax.vmap(env.stage))(play["positions"]))
  inserted = stage == 3
  assert inserted.any(1).sum() >= 5, "the play data never inserts"
  assert np.all(lid_open[inserted]), "inserted with the hole closed"
  # No episode holds a closed hole followed by an insertion (push-then-insert).
  closed_before = np.maximum.accumulate(~lid_open, axis=1)
  assert not np.any(closed_before & inserted), "a play episode pushes the lid open, then inserts"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("task", TASKS)
def test_the_tip_only_tasks_keep_their_3d_state(task):
  env = make_task(task)
  assert task not in LID_TASKS and env.lid is None and env.state_dim == 3
  assert env.spec.obs_shape == (3,)
  state = env.reset(jax.random.PRNGKey(0))
  assert state.obs.shape == (3,) and set(state.physics) == {"position_m"}
  np.testing.assert_array_equal(np.asarray(env.goal_state()), np.asarray(env.goal_position_m()))
  action = jnp.array([0.3, -0.2, 1.0])
  np.testing.assert_array_equal(np.asarray(env.transition(state.obs, action)),
                                np.asarray(env.move(state.obs, action)))
  assert env.step(state, action).obs.shape == (3,)
  assert play_episodes(env, jax.random.PRNGKey(1), 2)["positions"].shape == (2, 61, 3)


def test_lid_config_changes_only_the_task():
  from experiments.configs import ptp_default, ptp_lid

  for size in ("default", "smoke", "tiny"):
    base = ptp_default.get_config(size).to_dict()
    lid = ptp_lid.get_config(size).to_dict()
    assert lid["env"].pop("task") == "lid_socket" and base["env"].pop("task") == "tray_socket"
    assert lid == base, size
