"""The families on gymnasium's bodies (Cheetah-Vel, Ant-Dir): the shared physics step
(`envs/mujoco_bodies.py`) steps a vmapped batch as it steps one environment at a time, and each
task list is reproducible from its seed, within its range and split."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.envs import ant_dir, cheetah_vel, meta_families

ENVS = {"cheetah-vel": (cheetah_vel.HalfCheetahVel, [[0.5], [1.0], [2.5]]),
        "ant-dir": (ant_dir.AntDir, [[0.0], [1.0], [3.0]])}
TASK_RANGES = {"cheetah-vel": (0.0, 3.0), "ant-dir": (0.0, 2 * np.pi)}   # U[0, 3] m/s; rad


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(ENVS))
def test_vmapped_steps_equal_one_environment_at_a_time(name):
  make, tasks = ENVS[name]
  env = make()
  count = len(tasks)
  states = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(1), count),
                               jnp.asarray(tasks, jnp.float32))
  actions = jax.random.uniform(jax.random.PRNGKey(2), (count, env.spec.action_dim),
                               minval=-1, maxval=1)
  batched = jax.jit(jax.vmap(env.step))(states, actions)
  for index in range(count):
    one = env.step(jax.tree_util.tree_map(lambda x: x[index], states), actions[index])
    np.testing.assert_array_equal(np.asarray(batched.physics["qpos"][index]),
                                  np.asarray(one.physics["qpos"]))
    np.testing.assert_allclose(float(batched.reward[index]), float(one.reward), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(batched.obs[index]), np.asarray(one.obs), atol=1e-6)
  assert not bool(batched.terminal.any())


@pytest.mark.parametrize("name", sorted(ENVS))
def test_task_list_is_reproducible_within_its_range_and_split(name):
  family = meta_families.make_family(name, 1337, 20, 10)
  again = meta_families.make_family(name, 1337, 20, 10)
  other = meta_families.make_family(name, 7, 20, 10)
  np.testing.assert_array_equal(family.train_tasks, again.train_tasks)
  assert not np.array_equal(family.train_tasks, other.train_tasks)
  tasks = np.concatenate([family.train_tasks, family.test_tasks])
  low, high = TASK_RANGES[name]
  assert tasks.shape == (30, 1) and tasks.min() >= low and tasks.max() <= high
  assert not set(family.train_tasks[:, 0]) & set(family.test_tasks[:, 0])
  assert family.horizon == 200
