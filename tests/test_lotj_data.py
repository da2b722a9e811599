"""LOTJ-1 and LOTJ-5: the vision collector's episodes and the leave-one-out guarantee."""

import numpy as np
import pytest

from jaxinsert.envs import rendering, suites
from jaxinsert.training import lotj_data


def _fake_episode(task, length=3, success=True):
  reward = np.zeros(length, np.float32)
  terminal = np.zeros(length, bool)
  if success:
    reward[-2] = 1.0
    terminal[-1] = True
  return {"task_id": task.task_id, "domain_id": task.domain_id,
          "steps": {"observation": {"image": np.full((length, 4, 4, 3), task.domain_id, np.uint8)},
                    "reward": reward, "is_terminal": terminal}}


@pytest.fixture(scope="module")
def all_domain_episodes():
  return [_fake_episode(t) for t in suites.get_suite("lotj").tasks for _ in range(2)]


@pytest.mark.parametrize("connector", suites.LOTJ_TEST_CONNECTORS)
def test_leave_one_out_keeps_no_data_of_the_test_connector_on_any_robot(all_domain_episodes, connector):
  train, test = lotj_data.leave_one_out(all_domain_episodes, connector)
  suite = suites.get_suite("lotj")
  variants = [t for t in suite.tasks if t.connector.name == connector]
  assert len(variants) == 2, "the lotj suite should have two robot variants per connector"
  held_domains = {t.domain_id for t in variants}
  assert {e["domain_id"] for e in test} == held_domains
  assert not held_domains & {e["domain_id"] for e in train}, "a robot variant leaked into training"
  assert not {t.task_id for t in variants} & {e["task_id"] for e in train}
  assert len(train) + len(test) == len(all_domain_episodes)
  # Nothing else is lost: every other domain stays in training.
  assert len({e["domain_id"] for e in train}) == 48


def test_check_no_leak_names_the_leaked_episode(all_domain_episodes):
  leaked = all_domain_episodes[:4] + [e for e in all_domain_episodes if e["domain_id"] == 2 * 13 + 1][:1]
  with pytest.raises(ValueError, match=r"training episode 4 \(task_id 13, domain_id 27\)"):
    lotj_data.check_no_leak(leaked, ["mega-1x1"])
  with pytest.raises(KeyError, match="no lotj connector"):
    lotj_data.hold_out(all_domain_episodes, ["not-a-connector"])


def test_reward_images_label_the_state_after_the_successful_transition(all_domain_episodes):
  data = lotj_data.reward_images(all_domain_episodes[:2])
  assert data["label"].tolist() == [0, 0, 1, 0, 0, 1]
  assert data["image"].dtype == np.uint8 and data["image"].shape == (6, 4, 4, 3)
  stats = lotj_data.domain_statistics(all_domain_episodes[:2])
  assert stats[0]["success_rate"] == 1.0 and stats[0]["positive_fraction"] == pytest.approx(1 / 3)


def test_bad_image_size_and_start_are_named():
  with pytest.raises(ValueError, match="image_size must be one of"):
    lotj_data.spec_name(40)
  with pytest.raises(ValueError, match="unknown start 'scenario3'"):
    lotj_data.lotj_tasks(start="scenario3")


@pytest.mark.slow
@pytest.mark.skipif(not rendering.egl_available(), reason="no offscreen OpenGL")
def test_collector_writes_uint8_image_episodes_under_the_vision_spec(tmp_path):
  task_list = lotj_data.lotj_tasks(["dt2"])
  episodes = lotj_data.collect(task_list, 2, image_size=32, envs_per_domain=1, chunk_steps=40)
  assert {e["domain_id"] for e in episodes} == {12, 13}
  for episode in episodes:
    image = episode["steps"]["observation"]["image"]
    assert image.dtype == np.uint8 and image.shape[1:] == (32, 32, 3)
    assert len(episode["steps"]["reward"]) <= 21
    assert "tcp_pose_in_socket" in episode["steps"]["observation"]
  path = lotj_data.write(tmp_path / "lotj", episodes, 32, provenance={"test": True})
  back = lotj_data.read(path)
  assert len(back) == 4 and back[0]["steps"]["observation"]["image"].dtype == np.uint8


def test_a_bad_camera_field_of_view_is_named():
  with pytest.raises(ValueError, match="camera_fovy_deg must be in"):
    lotj_data.lotj_tasks(["dt2"], camera_fovy_deg=0.0)


@pytest.mark.skipif(not rendering.egl_available(), reason="no offscreen OpenGL")
def test_a_narrower_field_of_view_shows_the_plug_larger_on_both_cameras():
  # A crop (smaller fovy) must magnify the plug: the pixels that change when the plug, hovering
  # 1 cm over the socket, is lifted out of view grow on both robots' cameras.
  def plug_pixels(fovy, size=32):
    task_list = lotj_data.lotj_tasks(["dt2"], camera_fovy_deg=fovy)
    renderer = rendering.BatchRenderer(task_list, size)
    qpos = np.zeros((len(task_list), task_list[0].model.nq))
    qpos[:, 2] = 0.01
    near = renderer.render(qpos).astype(int)
    qpos[:, 2] = 0.19
    away = renderer.render(qpos).astype(int)
    renderer.close()
    return [int(c) for c in (np.abs(near - away).sum(-1) > 30).sum((1, 2))], near

  wide, wide_images = plug_pixels(None)
  narrow, _ = plug_pixels(25.0)
  _, same_images = plug_pixels(45.0)
  assert np.array_equal(wide_images, same_images)      # None is the scene's 45 degrees
  for w, n in zip(wide, narrow):
    assert n > 2 * w > 0, (wide, narrow)
