"""Cheetah-Vel (SMAC S1 a): the body is gymnasium's HalfCheetah-v5 and the reward PEARL's (the
vmapped physics step and the task list: tests/test_mujoco_bodies.py).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.envs import cheetah_vel


def _reset(env, seed=0, target=1.5):
  return env.reset(jax.random.PRNGKey(seed), jnp.array([target], jnp.float32))


@pytest.mark.timeout(120)
def test_steps_follow_gymnasiums_half_cheetah_and_the_reward_is_pearls():
  import gymnasium

  env = cheetah_vel.HalfCheetahVel()
  state = _reset(env)
  reference = gymnasium.make("HalfCheetah-v5").unwrapped
  reference.reset(seed=0)
  reference.set_state(np.asarray(state.physics["qpos"], np.float64),
                      np.asarray(state.physics["qvel"], np.float64))
  actions = np.random.default_rng(0).uniform(-1, 1, (30, 6)).astype(np.float32)
  step = jax.jit(env.step)
  for action in actions:
    x_before = reference.data.qpos[0]
    reference.step(action)
    state = step(state, action)
    velocity = (reference.data.qpos[0] - x_before) / reference.dt
    expected = -abs(velocity - 1.5) - 0.05 * np.sum(np.square(action))
    np.testing.assert_allclose(float(state.reward), expected, atol=1e-3)
  # float32 state between policy steps: agreement to rounding over 30 steps, not bit for bit.
  np.testing.assert_allclose(np.asarray(state.physics["qpos"]), reference.data.qpos, atol=1e-3)
  np.testing.assert_allclose(np.asarray(state.physics["qvel"]), reference.data.qvel, atol=1e-2)
  assert env.dt == reference.dt


@pytest.mark.timeout(60)
def test_the_observation_is_pearls_20_d_with_the_torso_position_from_kinematics():
  import mujoco

  env = cheetah_vel.HalfCheetahVel()
  state = _reset(env, seed=3)
  for _ in range(5):
    state = env.step(state, jnp.full((6,), 0.7))
  model = cheetah_vel.mujoco_model()
  data = mujoco.MjData(model)
  data.qpos[:] = np.asarray(state.physics["qpos"])
  mujoco.mj_kinematics(model, data)
  obs = np.asarray(state.obs)
  assert obs.shape == env.spec.obs_shape == (20,)
  np.testing.assert_allclose(obs[:8], data.qpos[1:], atol=1e-6)
  np.testing.assert_allclose(obs[8:17], np.asarray(state.physics["qvel"]), atol=1e-6)
  np.testing.assert_allclose(obs[17:], data.body("torso").xpos, atol=1e-5)


def test_reward_on_hand_computed_states():
  env = cheetah_vel.HalfCheetahVel()
  zero, full = jnp.zeros(6), jnp.ones(6)
  # 0.1 m in dt = 0.05 s is 2 m/s.
  assert float(env.reward(0.0, 0.1, zero, 2.0)) == pytest.approx(0.0, abs=1e-6)
  assert float(env.reward(0.0, 0.1, zero, 0.5)) == pytest.approx(-1.5, abs=1e-6)
  assert float(env.reward(1.0, 0.95, full, 0.0)) == pytest.approx(-1.0 - 0.3, abs=1e-6)


def test_bad_backend_and_missing_task_are_named():
  with pytest.raises(ValueError, match="backend"):
    cheetah_vel.HalfCheetahVel(backend="gpu")
  with pytest.raises(ValueError, match="target velocity"):
    cheetah_vel.HalfCheetahVel().reset(jax.random.PRNGKey(0))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_mjx_backend_has_no_lapack_and_tracks_the_c_backend():
  c_env, mjx_env = cheetah_vel.HalfCheetahVel(), cheetah_vel.HalfCheetahVel(backend="mjx")
  state = _reset(c_env, seed=4)
  lowered = jax.jit(mjx_env.step).lower(state, jnp.zeros(6)).as_text()
  assert "lapack" not in lowered
  c_state, mjx_state = state, state
  step = jax.jit(mjx_env.step)
  for action in np.random.default_rng(1).uniform(-1, 1, (5, 6)).astype(np.float32):
    c_state, mjx_state = c_env.step(c_state, action), step(mjx_state, action)
  # CG and float32 in MJX against Newton in float64: close over a few steps, not equal.
  np.testing.assert_allclose(np.asarray(mjx_state.physics["qpos"]),
                             np.asarray(c_state.physics["qpos"]), atol=2e-2)
