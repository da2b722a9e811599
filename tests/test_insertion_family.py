"""The insertion family (issue 17 item 1 b): the geometric insertion rule and the sparse and
shaping rewards on hand-computed states, task lists from the seed with the ODA suite's train and
test connectors, the socket pose absent from observations, and PEARL's shaped-critic switch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.envs import insertion_family, meta_families, suites

MM = 1e-3
ENV = insertion_family.KinematicInsertion()
# Socket 3 mm along +x, clearance 0.3 mm, chamfer 0.5 mm, depth 10 mm (rect-10x10's numbers).
TASK = jnp.array([3 * MM, 0.0, 0.3 * MM, 0.5 * MM, 10 * MM, 0.0], jnp.float32)


def _state(tip_m, task=TASK):
  state = ENV.reset(jax.random.PRNGKey(0), task)
  return state.replace(physics={"tip_m": jnp.asarray(tip_m, jnp.float32)})


def _step(tip_m, action, task=TASK):
  return ENV.step(_state(tip_m, task), jnp.asarray(action, jnp.float32))


@pytest.mark.timeout(60)
def test_the_insertion_rule_and_rewards_on_hand_computed_states():
  # Above the hole and within clearance + chamfer (0.8 mm): the tip enters, the chamfer centres
  # it to the wall (x clipped to 3.3 mm), 2 mm down from 0.5 mm ends at -1.5 mm; not yet inserted.
  after = _step([3.7 * MM, 0.0, 0.5 * MM], [0.0, 0.0, -1.0])
  np.testing.assert_allclose(after.physics["tip_m"], [3.3 * MM, 0.0, -1.5 * MM], atol=1e-7)
  assert float(after.reward) == 0.0 and not bool(after.privileged["success"])
  # 2 mm beside the hole: the tip stops on the socket face and keeps its lateral position.
  after = _step([5.0 * MM, 0.0, 1.0 * MM], [0.0, 0.0, -1.0])
  np.testing.assert_allclose(after.physics["tip_m"], [5.0 * MM, 0.0, 0.0], atol=1e-7)
  # Sliding on the face over the hole while pushing down drops the tip in (the lateral path
  # passes the hole's centre).
  after = _step([2.0 * MM, 0.0, 0.0], [1.0, 0.0, -1.0])
  np.testing.assert_allclose(after.physics["tip_m"], [3.3 * MM, 0.0, -2.0 * MM], atol=1e-7)
  # In the hole the walls bound lateral moves to +-clearance and the floor bounds depth.
  after = _step([3.0 * MM, 0.0, -8.5 * MM], [-1.0, 1.0, -1.0])
  np.testing.assert_allclose(after.physics["tip_m"], [2.7 * MM, 0.3 * MM, -10 * MM], atol=1e-7)
  assert float(after.reward) == 1.0 and bool(after.privileged["success"])
  # Inserted means within 1 mm of full depth: -9.0 mm counts, -8.9 mm does not.
  assert float(_step([3.0 * MM, 0.0, -7.0 * MM], [0.0, 0.0, -1.0]).reward) == 1.0
  assert float(_step([3.0 * MM, 0.0, -6.9 * MM], [0.0, 0.0, -1.0]).reward) == 0.0
  # Pulling out: the tip leaves the hole and the reward drops back to 0.
  after = _step([3.0 * MM, 0.0, -9.5 * MM], [0.0, 0.0, 1.0])
  assert float(after.reward) == 0.0
  # The shaping reward: -distance to the fully inserted tip, in centimetres.
  goal = np.array([3.0, 0.0, -10.0]) * MM
  for tip in (goal, goal + np.array([0.0, 0.0, 15.0]) * MM, np.array([0.0, 4.0, 5.0]) * MM):
    obs = ENV.observe(jnp.asarray(tip, jnp.float32))
    expected = -np.linalg.norm(tip - goal) / 0.01
    np.testing.assert_allclose(float(ENV.shaped_reward(obs, TASK)), expected, atol=1e-5)
  # A scripted policy that knows the socket inserts within the horizon; random actions do not.
  def scripted(key):
    state = ENV.reset(key, TASK)

    def step(state, _):
      tip = state.obs * ENV.obs_unit_m
      error = TASK[:2] - tip[:2]
      down = jnp.where(jnp.max(jnp.abs(error)) < 0.3 * MM, -1.0, 0.0)
      action = jnp.concatenate([jnp.clip(error / ENV.move_m, -1, 1), down[None]])
      state = ENV.step(state, action)
      return state, state.reward

    return jax.lax.scan(step, state, None, length=ENV.max_episode_steps)[1].sum()
  assert float(scripted(jax.random.PRNGKey(3))) >= 15


@pytest.mark.timeout(60)
def test_task_lists_are_reproducible_with_train_and_test_connectors_of_the_oda_suite():
  family = meta_families.make_family("insertion", 1337, 12, 6)
  again = meta_families.make_family("insertion", 1337, 12, 6)
  np.testing.assert_array_equal(family.train_tasks, again.train_tasks)
  np.testing.assert_array_equal(family.test_tasks, again.test_tasks)
  other = meta_families.make_family("insertion", 1338, 12, 6)
  assert not np.array_equal(family.train_tasks, other.train_tasks)
  assert family.train_tasks.shape == (12, 6) and family.test_tasks.shape == (6, 6)
  assert insertion_family.SOCKET_RADIUS_M == suites.ODA_SLOT_RADIUS_M
  for tasks, split in ((family.train_tasks, "train"), (family.test_tasks, "test")):
    np.testing.assert_allclose(np.linalg.norm(tasks[:, :2], axis=1), 3 * MM, rtol=1e-5)
    connectors = insertion_family.oda_connectors(split)
    for row in tasks:
      spec = connectors[int(row[5])]
      np.testing.assert_allclose(row[2:5], [spec.clearance_m, spec.chamfer_m, spec.depth_m],
                                 rtol=1e-6)
  # No test connector is a training connector (ODA's held-out connectors).
  names = lambda split: {c.name for c in insertion_family.oda_connectors(split)}
  assert not names("train") & names("test")
  # The half circle (the config's choice): directions in [0, pi).
  half = meta_families.make_family("insertion", 1337, 12, 6, max_angle=np.pi)
  angles = np.arctan2(half.train_tasks[:, 1], half.train_tasks[:, 0])
  assert np.all((angles >= 0) & (angles < np.pi))


@pytest.mark.timeout(60)
def test_the_socket_pose_and_connector_are_absent_from_observations():
  assert ENV.spec.obs_shape == (3,) and ENV.spec.action_dim == 3
  family = meta_families.make_family("insertion", 1337, 8, 2)
  tasks = jnp.asarray(family.train_tasks)
  key = jax.random.PRNGKey(5)
  actions = jax.random.uniform(key, (ENV.max_episode_steps, 3), minval=-1.0, maxval=1.0)
  actions = actions.at[:, 2].set(jnp.abs(actions[:, 2]))   # upward: never touches the socket

  def observations(task):
    state = ENV.reset(key, task)

    def step(state, action):
      state = ENV.step(state, action)
      return state, state.obs

    return jax.lax.scan(step, state, actions)[1]
  per_task = np.asarray(jax.vmap(observations)(tasks))
  # The same starts and actions give the same observations whatever the task...
  np.testing.assert_array_equal(per_task, np.broadcast_to(per_task[:1], per_task.shape))
  # ... and the observation is the tip position only.
  state = ENV.reset(key, tasks[0])
  np.testing.assert_allclose(state.obs * ENV.obs_unit_m, state.physics["tip_m"], rtol=1e-6)


@pytest.mark.timeout(60)
def test_the_shaped_critic_needs_a_family_with_a_shaping_reward():
  from experiments.configs import smac_insertion, smac_pointrobot
  from jaxinsert.training import smac_pipeline

  smac_pipeline.check_config(smac_insertion.get_config("tiny"))
  config = smac_pointrobot.get_config("tiny")
  config.pearl.critic_reward = "shaped"
  with pytest.raises(ValueError, match="pearl.critic_reward"):
    smac_pipeline.check_config(config)
  config = smac_insertion.get_config("tiny")
  config.pearl.critic_reward = "dense"
  with pytest.raises(ValueError, match="pearl.critic_reward"):
    smac_pipeline.check_config(config)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_pearls_critic_sees_the_shaping_reward_and_the_buffers_keep_the_sparse_one():
  from jaxinsert.agents import pearl
  from jaxinsert.data import task_replay
  from jaxinsert.training import smac_loops
  from jaxinsert.types import Spec

  family = meta_families.make_family("insertion", 1337, 3, 1)
  tasks = jnp.asarray(family.train_tasks)
  config = pearl.get_config()
  config.update(dict(policy_hidden_dims=(16,), critic_hidden_dims=(16,),
                     encoder_hidden_dims=(16,)))
  state = pearl.create(config, jax.random.PRNGKey(0), Spec(obs_shape=(3,), action_dim=3))
  empty = lambda: task_replay.empty(3, 300, 3, 3)
  buffers = smac_loops.Buffers(empty(), empty(), task_replay.empty(1, 1, 3, 3))
  buffers = smac_loops.pearl_initial(family.env, state, buffers, tasks, 1, jax.random.PRNGKey(1))
  loop = (2, 1, 1, 2, 2, 8, 8)
  outcomes = {}
  for shaped in (False, True):
    copy = jax.tree_util.tree_map(jnp.copy, buffers)   # pearl_iteration donates its buffers
    new_state, new_buffers, _ = smac_loops.pearl_iteration(
        family.env, loop, state, copy, tasks, jax.random.PRNGKey(2), shaped_critic=shaped)
    outcomes[shaped] = new_state
    rewards = np.asarray(new_buffers.rl.data.reward)
    assert set(np.unique(rewards)) <= {0.0, 1.0}, "the buffers must keep the sparse reward"
  # Same keys, same data: only the critic's reward differs, so the critics differ.
  critic = lambda s: np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(
      s.critic.params)])
  assert not np.allclose(critic(outcomes[False]), critic(outcomes[True]))
