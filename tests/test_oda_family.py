"""The ODA task family's hidden task parameters (issue 15): the "slots" pose error that makes
context necessary, and the oracle's view of the true parameters."""

import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import oda_default
from jaxinsert.envs import suites
from jaxinsert.training import insertion_tasks, oda_pipeline
from jaxinsert.types import Transition


@pytest.mark.timeout(30)
def test_slot_errors_sit_on_the_diagonals_and_the_default_subset_sees_every_slot():
  suite = suites.get_suite("oda")
  uniform = suite.tasks
  slots = suites.with_oda_pose_error(uniform, "slots")
  for before, after in zip(uniform, slots):
    x, y = after.socket_offset_m
    assert np.hypot(x, y) == pytest.approx(suites.ODA_SLOT_RADIUS_M)
    assert abs(abs(x) - abs(y)) < 1e-9
    assert after.socket_yaw_rad == before.socket_yaw_rad   # the same yaw draw
  assert suites.with_oda_pose_error(uniform, "uniform") == list(uniform)
  config = oda_default.get_config()
  train = suites.with_oda_pose_error(insertion_tasks.resolve(config.tasks.train), "slots")
  quadrants = {(np.sign(t.socket_offset_m[0]), np.sign(t.socket_offset_m[1])) for t in train}
  assert len(quadrants) == suites.ODA_SLOTS
  with pytest.raises(ValueError, match="pose error kind"):
    suites.oda_pose_error(0, kind="ring")


@pytest.mark.timeout(30)
def test_fixture_errors_put_the_yaw_on_the_slot_and_keep_the_slots_positions():
  uniform = suites.get_suite("oda").tasks
  slots = suites.with_oda_pose_error(uniform, "slots")
  fixtures = suites.with_oda_pose_error(uniform, "fixtures")
  yaw_of_slot = {}
  for slotted, fixed in zip(slots, fixtures):
    assert fixed.socket_offset_m == slotted.socket_offset_m, fixed.name
    slot = tuple(np.sign(fixed.socket_offset_m))
    yaw_of_slot.setdefault(slot, fixed.socket_yaw_rad)
    assert fixed.socket_yaw_rad == yaw_of_slot[slot], f"{fixed.name}: not its slot's yaw"
    assert abs(fixed.socket_yaw_rad) <= suites.ODA_MAX_YAW_RAD
  assert len(set(yaw_of_slot.values())) == suites.ODA_SLOTS, "two slots share a yaw"
  # With "slots" the yaw is per task: some slot holds tasks of different yaws.
  assert any(len({t.socket_yaw_rad for t in slots if tuple(np.sign(t.socket_offset_m)) == slot}) > 1
             for slot in yaw_of_slot)


@pytest.mark.timeout(30)
def test_balanced_fixtures_deal_the_slots_out_in_turn_with_one_yaw_per_slot():
  config = oda_default.get_config()
  train = suites.with_oda_pose_error(insertion_tasks.resolve(config.tasks.train), "balanced")
  test = suites.with_oda_pose_error(insertion_tasks.resolve(config.tasks.test), "balanced")
  fixtures = {}
  for tasks in (train, test):
    for position, task in enumerate(tasks):
      angle = np.pi / 4 + 2 * np.pi * (position % suites.ODA_SLOTS) / suites.ODA_SLOTS
      np.testing.assert_allclose(task.socket_offset_m, suites.ODA_SLOT_RADIUS_M *
                                 np.array([np.cos(angle), np.sin(angle)]), atol=1e-12)
      yaw = fixtures.setdefault(position % suites.ODA_SLOTS, task.socket_yaw_rad)
      assert task.socket_yaw_rad == yaw, f"{task.name}: not its fixture's yaw"
  # Every test task's fixture holds training tasks (6 training tasks: 2, 2, 1, 1 per slot).
  counts = np.bincount(np.arange(len(train)) % suites.ODA_SLOTS, minlength=suites.ODA_SLOTS)
  assert all(counts[p % suites.ODA_SLOTS] >= 1 for p in range(len(test)))
  with pytest.raises(ValueError, match="exactly for 'balanced'"):
    suites.oda_pose_error(0, kind="balanced")


@pytest.mark.timeout(60)
def test_a_search_from_the_nominal_pose_fails_in_a_slot_and_the_informed_collector_does_not():
  task = suites.with_oda_pose_error([suites.get_suite("oda").task("rect-10x10")], "slots")[0]
  env = insertion_tasks.make_env([task], 8)
  try:
    found = {}
    for policy, kwargs in (("spiral_search", {}), ("collector", {"random_probability": 0.0})):
      episodes = insertion_tasks.collect_episodes(env, policy, 0.0, 8, 0, **kwargs)
      found[policy] = sum(bool(e["steps"]["is_terminal"][-1]) for e in episodes)
  finally:
    env.close()
  assert found["spiral_search"] == 0 and found["collector"] == 8, found


@pytest.mark.timeout(30)
def test_the_oracle_observation_carries_each_rows_own_task_parameters():
  tasks = suites.with_oda_pose_error(
      insertion_tasks.resolve("oda/rect-10x10,oda/e-model-10p"), "slots")
  table = np.zeros((max(t.task_id for t in tasks) + 1, 11), np.float32)
  for task in tasks:
    table[task.task_id] = oda_pipeline.oracle_features(task)
  assert not np.allclose(table[tasks[0].task_id], table[tasks[1].task_id])
  task_id = jnp.asarray([tasks[1].task_id, tasks[0].task_id, tasks[1].task_id])
  batch = Transition(obs=jnp.zeros((3, 2)), action=jnp.zeros((3, 1)), reward=jnp.zeros(3),
                     mask=jnp.ones(3), next_obs=jnp.ones((3, 2)), task_id=task_id)
  augmented = oda_pipeline._with_features(batch, table)
  assert augmented.obs.shape == (3, 13) and augmented.next_obs.shape == (3, 13)
  np.testing.assert_allclose(augmented.obs[:, 2:], table[np.asarray(task_id)])
  np.testing.assert_allclose(augmented.next_obs[:, :2], 1.0)
  # the pose features are the true offset in units of 1.5 mm
  np.testing.assert_allclose(table[tasks[0].task_id][:2],
                             np.asarray(tasks[0].socket_offset_m) / 1.5e-3, rtol=1e-6)


@pytest.mark.timeout(30)
def test_the_paper_tasks_config_is_the_papers_split_at_the_subsets_sizes():
  paper, subset = oda_default.get_config("paper_tasks"), oda_default.get_config()
  train = insertion_tasks.resolve(paper.tasks.train)
  test = insertion_tasks.resolve(paper.tasks.test)
  assert (len(train), len(test)) == (11, 9)      # the paper's 11 / 9 connectors
  assert {t.name for t in train}.isdisjoint(t.name for t in test)
  assert "e-model-10p" in {t.name for t in train}
  assert len(insertion_tasks.resolve(paper.tasks.ood)) == 3   # with the out-of-distribution parts
  assert max(paper.scaling.task_counts) < len(train)   # the full run is the last point
  for field in ("offline_steps", "batch_per_task"):
    assert paper[field] == subset[field], field
  assert paper.oda.policy_hidden_dims == subset.oda.policy_hidden_dims
  with pytest.raises(ValueError, match="paper_tasks"):
    oda_default.get_config("paper")
