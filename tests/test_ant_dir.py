"""Ant-Dir (SMAC S1 a): the body is gymnasium's Ant-v5, the reward PEARL's AntDirEnv (forward
progress along the task's direction, control and contact costs, survive bonus), checked on
hand-computed states and against gymnasium step by step; the task list is reproducible."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.envs import ant_dir, meta_families


def _reset(env, seed=0, angle=0.5):
  return env.reset(jax.random.PRNGKey(seed), jnp.array([angle], jnp.float32))


def test_reward_on_hand_computed_states():
  env = ant_dir.AntDir()
  still, zeros = jnp.zeros(2), jnp.zeros((ant_dir.BODY.nbody, 6))
  step_m = 0.1                                        # torso moves 0.1 m in one policy step
  east = jnp.array([step_m, 0.0])
  reward = lambda after, action, forces, angle: float(env.reward(still, after, action, forces,
                                                                 jnp.float32(angle)))
  speed = step_m / env.dt                             # 2 m/s
  # Along the direction: the full speed plus the survive bonus.
  assert reward(east, jnp.zeros(8), zeros, 0.0) == pytest.approx(speed + 1.0, abs=1e-5)
  # Perpendicular, opposite, and at 60 degrees: cos(angle) of the speed.
  assert reward(east, jnp.zeros(8), zeros, np.pi / 2) == pytest.approx(1.0, abs=1e-5)
  assert reward(east, jnp.zeros(8), zeros, np.pi) == pytest.approx(1.0 - speed, abs=1e-5)
  assert reward(east, jnp.zeros(8), zeros, np.pi / 3) == pytest.approx(speed / 2 + 1.0, abs=1e-5)
  # Control cost 0.5 |a|^2: all eight torques at 0.5 cost 0.5 * 8 * 0.25 = 1.
  assert reward(still, jnp.full(8, 0.5), zeros, 0.0) == pytest.approx(0.0, abs=1e-6)
  # Contact cost 0.5e-3 sum clip(f, -1, 1)^2: forces of 3 count as 1, of -0.5 as 0.25.
  forces = zeros.at[1].set(3.0).at[2, :3].set(-0.5)
  expected = 1.0 - 0.5e-3 * (6 * 1.0 + 3 * 0.25)
  assert reward(still, jnp.zeros(8), forces, 0.0) == pytest.approx(expected, abs=1e-6)


@pytest.mark.timeout(120)
def test_each_step_follows_gymnasiums_ant_and_the_reward_is_pearls():
  """Also: the observation is gymnasium's Ant-v5 without contact forces (rlkit's 27-D), and the
  torso frame, whose displacement the reward reads, is the free joint's position qpos[:3]."""
  import gymnasium

  angle = 2.0
  env = ant_dir.AntDir()
  state = _reset(env, angle=angle)
  assert env.spec.obs_shape == (27,)
  reference = gymnasium.make("Ant-v5", include_cfrc_ext_in_observation=False).unwrapped
  reference.reset(seed=0)
  actions = np.random.default_rng(0).uniform(-1, 1, (25, 8)).astype(np.float32)
  step = jax.jit(env.step)
  contact_costs = []
  for action in actions:
    # Gymnasium starts from our (float32) state each step, with a cold solver like ours.
    reference.set_state(np.asarray(state.physics["qpos"], np.float64),
                        np.asarray(state.physics["qvel"], np.float64))
    reference.data.qacc_warmstart[:] = 0.0
    np.testing.assert_allclose(reference.data.body("torso").xpos, reference.data.qpos[:3],
                               atol=1e-9)
    xy_before = reference.data.qpos[:2].copy()
    observed = reference.step(action)[0]
    state = step(state, action)
    np.testing.assert_allclose(np.asarray(state.obs), observed, atol=1e-5)
    # The displacement of the free joint (= the torso frame, tested below); gymnasium's own
    # `xpos` after `mj_step` is the kinematics of the last substep's start (module docstring).
    velocity = (reference.data.qpos[:2] - xy_before) / reference.dt
    contact_cost = 0.5e-3 * np.sum(np.square(np.clip(reference.data.cfrc_ext, -1, 1)))
    contact_costs.append(contact_cost)
    expected = (velocity @ np.array([np.cos(angle), np.sin(angle)])
                - 0.5 * np.sum(np.square(action)) - contact_cost + 1.0)
    np.testing.assert_allclose(float(state.reward), expected, atol=2e-3)
    np.testing.assert_allclose(np.asarray(state.physics["qpos"]), reference.data.qpos, atol=1e-4)
  assert max(contact_costs) > 0, "the ant never touched the floor: the contact term is untested"
  assert env.dt == reference.dt


def test_the_task_list_can_be_the_upper_half_circle():
  half = meta_families.make_family("ant-dir", 1337, 6, 3, max_angle=np.pi)
  assert np.all((half.train_tasks >= 0) & (half.train_tasks < np.pi))


def test_bad_backend_angle_range_and_missing_task_are_named():
  with pytest.raises(ValueError, match="backend"):
    ant_dir.AntDir(backend="gpu")
  with pytest.raises(ValueError, match="max_angle"):
    ant_dir.directions(0, 4, max_angle=7.0)
  with pytest.raises(ValueError, match="task"):
    ant_dir.AntDir().reset(jax.random.PRNGKey(0))
