"""Insertion env I/O: RLDS writing against the data specs, rendering, gymnasium adapter."""

import numpy as np
import pytest

from jaxinsert.envs import controllers, episodes, factory, rendering, rewards, suites

needs_egl = pytest.mark.skipif(not rendering.egl_available(),
                               reason="no offscreen OpenGL (apt-get install libegl1 libgl1; MUJOCO_GL=egl)")


def _episodes(task, num_envs=2, steps=30, **env_kwargs):
  env = factory.make(task, backend="c", num_envs=num_envs, **env_kwargs)
  policy = controllers.batched(controllers.make_policy("p_controller", env.config))
  rollouts = episodes.run_policy(env, policy, steps, 0, record_images="image_size" in env_kwargs)
  return episodes.rollouts_to_episodes(rollouts)


@pytest.mark.timeout(120)
def test_collected_episodes_write_and_read_back_as_rlds(tmp_path):
  rlds = pytest.importorskip("jaxinsert.data.rlds")
  eps = _episodes("ch9/usb-like")
  path = rlds.write_dataset(tmp_path / "ds", eps, "insertion-state:move",
                            provenance={"test": True})
  back = list(rlds.read_episodes(path))
  assert len(back) == len(eps)
  np.testing.assert_allclose(back[0]["steps"]["observation"]["wrench"],
                             eps[0]["steps"]["observation"]["wrench"])
  assert int(back[0]["task_id"]) == eps[0]["task_id"]


@needs_egl
@pytest.mark.timeout(120)
def test_vision_episodes_match_the_gray32_spec(tmp_path):
  rlds = pytest.importorskip("jaxinsert.data.rlds")
  eps = _episodes("ch9/usb-like", image_size=32, grayscale=True)
  assert eps[0]["steps"]["observation"]["image"].shape[1:] == (32, 32, 1)
  rlds.write_dataset(tmp_path / "ds", eps, "insertion-vision:gray32")


@needs_egl
def test_batch_images_differ_by_domain_and_goal_image_reward_peaks_at_goal():
  lotj = suites.get_suite("lotj")
  env = factory.make([lotj.task("usb@robot0"), lotj.task("usb@robot1"), lotj.task("vga@robot0")],
                     backend="c", num_envs=3, image_size=48)
  env.reset(0)
  images = env.render()
  assert images.shape == (3, 48, 48, 3) and images.dtype == np.uint8
  assert np.abs(images[0].astype(int) - images[1]).mean() > 5, "robot variants look the same"
  assert np.abs(images[0].astype(int) - images[2]).mean() > 1, "connectors look the same"
  goal = env.goal_images()
  assert np.all(rewards.goal_image_l1_reward(goal, goal) == 0)
  assert np.all(rewards.goal_image_l1_reward(images, goal) < 0)


@pytest.mark.timeout(120)
def test_gymnasium_adapter_runs_an_episode():
  from jaxinsert.envs.gym_adapter import InsertionGymEnv
  env = InsertionGymEnv("ch9/usb-like")
  obs, _ = env.reset(seed=1)
  assert env.observation_space.contains(obs)
  for _ in range(30):
    obs, reward, terminated, truncated, info = env.step(np.array([0.0, 0.0, -1.0], np.float32))
    if terminated or truncated:
      break
  assert terminated and reward == 1.0 and info["success"]


def _roll(task, num_envs, steps=12):
  env = factory.make(task, backend="c", num_envs=num_envs)
  policy = controllers.batched(controllers.make_policy("p_controller", env.config))
  try:
    return episodes.run_policy(env, policy, steps, 0)
  finally:
    env.close()


@pytest.mark.timeout(240)
def test_c_backend_batch_sizes_share_a_compilation_and_padding_changes_nothing(monkeypatch):
  """Task logic runs at power-of-two batch sizes (>= 8): 5 and 7 environments compile once
  between them, and their rows equal those of an unpadded run (sizes as given)."""
  from jaxinsert.envs import backend_c

  task = "ch9/usb-like"
  padded = _roll(task, 5)
  compiled = backend_c._post_step._cache_size()
  _roll(task, 7)
  assert backend_c._post_step._cache_size() == compiled
  monkeypatch.setattr(backend_c, "bucket_size", lambda count: count)
  exact = _roll(task, 5)
  import jax

  padded_leaves, exact_leaves = jax.tree_util.tree_leaves(padded), jax.tree_util.tree_leaves(exact)
  assert len(padded_leaves) == len(exact_leaves)
  for a, b in zip(padded_leaves, exact_leaves):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
