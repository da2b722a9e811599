"""The rosbag converter on bags written here with rosbags: ROS 1 (Sawyer topics, the custom
intera EndpointState, compressed images) and ROS 2 sqlite3/MCAP (iiwa topics, raw images)."""


import numpy as np
import pytest

from jaxinsert.data import rlds, specs
from jaxinsert.data.converters import convert
from jaxinsert.data.converters.common import ConvertOptions
from jaxinsert.data.errors import DataError
from test_data_fixtures import SAWYER_JOINTS, BagWriter

SECOND = 1_000_000_000
START = 1_700_000_000 * SECOND


def _pose(t):
  return [0.5 + 0.01 * t, 0.0, 0.2 - 0.01 * t, 0.0, 0.0, 0.0, 1.0]


def write_sawyer_bag(path, *, episodes=2, seconds=1.0, images=False, success_in=None, break_time_at=None,
                     drop_endpoint_after=None, skip_topic=None, kind="ros1", duplicate_stamp_at=None,
                     joint_stamp_offset_ns=0):
  """Joint states and endpoint state at 100 Hz, commands at 10 Hz, reward at 10 Hz, episodes
  separated by a 3 s pause; optional success message and wrist images at 20 Hz. Faults: a joint
  state stamped 50 ms early (`break_time_at`), one stamped like its predecessor
  (`duplicate_stamp_at`), all joint-state stamps shifted (`joint_stamp_offset_ns`)."""
  bag = BagWriter(path, kind)
  for episode in range(episodes):
    base = START + episode * int((seconds + 3.0) * SECOND)
    for tick in range(int(seconds * 100) + 5):
      t = base + tick * 10_000_000
      stamp = t - 50_000_000 if break_time_at is not None and tick == break_time_at else t
      stamp = t - 10_000_000 if duplicate_stamp_at is not None and tick == duplicate_stamp_at else stamp
      stamp += joint_stamp_offset_ns
      if skip_topic != "/robot/joint_states":
        bag.joint_state("/robot/joint_states", SAWYER_JOINTS, np.arange(8) * 0.1 + tick * 0.001, stamp, log_ns=t)
      if drop_endpoint_after is None or tick < drop_endpoint_after:
        bag.endpoint_state("/robot/limb/right/endpoint_state", _pose(tick / 100), [0.01] * 6,
                           [0, 0, -5.0 - tick % 2, 0, 0, 0], t + 1000)
      if images and tick % 5 == 0:
        image = np.full((32, 32, 3), tick % 255, np.uint8)
        bag.compressed_image("/wrist_camera/image_raw/compressed", image, t + 2000)
      if tick % 10 == 5 and tick < seconds * 100:
        bag.twist_stamped("/jaxinsert/action", [0.1 * episode, 0, -0.5, 0, 0, tick / 1000], t)
        bag.scalar("/jaxinsert/reward", "std_msgs/msg/Float32", 1.0, t + 20_000_000)
        if success_in is not None and tick == success_in:
          bag.scalar("/jaxinsert/success", "std_msgs/msg/Bool", True, t + 30_000_000)
  bag.close()
  return path


@pytest.mark.parametrize("kind", ["ros1", "mcap"])
def test_sawyer_bag_round_trip_with_custom_endpoint_state_and_images(tmp_path, kind):
  # ROS 1 bags and rosbag2 (v9) bags both carry message definitions: the custom intera type decodes.
  bag = write_sawyer_bag(tmp_path / ("run.bag" if kind == "ros1" else "run"), images=True, kind=kind)
  out = convert("rosbag", bag, tmp_path / "out", spec="sawyer-log:wrist_camera")
  episodes = list(rlds.read_episodes(out))
  assert len(episodes) == 2, "a 3 s pause between commands must split episodes"
  steps = episodes[1]["steps"]
  # First command at +0.05 s: the clock starts there and runs one step past the last command.
  assert len(steps["is_first"]) == 11
  np.testing.assert_allclose(steps["action"][:-1, 0], 0.1, err_msg="episode 1's commands have x = 0.1")
  assert np.all(steps["action"][-1] == 0), "the final step carries no action"
  position = steps["observation"]["joint_position_rad"]
  np.testing.assert_allclose(position[0, 0], 0.1 + 0.005, atol=1e-6,
                             err_msg="head_pan must be dropped and right_j0 picked by name")
  wrench = steps["observation"]["wrench_at_tcp_in_base"][:, 2]
  assert np.all((wrench < -5.0) & (wrench > -6.0)), "wrench is the mean over the period of -5/-6"
  np.testing.assert_allclose(steps["reward"][:-1], 1.0)
  assert steps["observation"]["wrist_image"].shape == (11, 64, 64, 3), "images resized to the spec's 64x64"
  assert not steps["is_terminal"].any()
  provenance = rlds.load_provenance(out)
  assert provenance["converter"] == "rosbag" and provenance["input_report"]["rate_hz"] == 10


def test_success_message_ends_episode_in_a_terminal(tmp_path):
  bag = write_sawyer_bag(tmp_path / "run.bag", episodes=1, success_in=45)
  episode = next(rlds.read_episodes(convert("rosbag", bag, tmp_path / "out", spec="sawyer-log")))
  steps = episode["steps"]
  # The command at tick 45 is step 4 (clock starts at tick 5); success during it -> step 5 terminal.
  assert len(steps["is_first"]) == 6
  assert steps["is_terminal"][-1] and steps["discount"][-2] == 0


@pytest.mark.parametrize("kind", ["sqlite3", "mcap"])
def test_ros2_iiwa_bag_with_pose_wrench_joint_state_and_raw_image(tmp_path, kind):
  bag = BagWriter(tmp_path / f"iiwa_{kind}", kind)
  joints = [f"lbr_A{i}" for i in range(1, 8)]
  for tick in range(60):
    t = START + tick * 10_000_000
    bag.joint_state("/lbr/joint_states", joints[::-1], np.arange(7)[::-1] * 0.1, t)
    bag.pose_stamped("/jaxinsert/tcp_pose", _pose(tick / 100), t)
    bag.wrench_stamped("/lbr/force_torque_broadcaster/wrench", [1, 2, 3, 0, 0, 0], t)
    if tick % 10 == 0:
      bag.raw_image("/camera/color/image_raw", np.full((48, 64, 3), [200, 100, 50], np.uint8), t)
    if tick % 10 == 0 and tick < 50:
      bag.twist_stamped("/jaxinsert/action", [0, 0, -1, 0, 0, 0], t)
      bag.scalar("/jaxinsert/episode", "std_msgs/msg/Int32", 7, t)
  bag.close()
  out = convert("rosbag", tmp_path / f"iiwa_{kind}", tmp_path / "out", spec="iiwa-log:scene_camera")
  (episode,) = list(rlds.read_episodes(out))
  observation = episode["steps"]["observation"]
  np.testing.assert_allclose(observation["joint_position_rad"][0], np.arange(7) * 0.1, atol=1e-6,
                             err_msg="joints reordered A1..A7 by name")
  np.testing.assert_allclose(observation["wrench_at_tcp"][0, :3], [1, 2, 3])
  np.testing.assert_array_equal(observation["scene_image"][0, 0, 0], [200, 100, 50], err_msg="bgr8 -> rgb")
  assert len(episode["steps"]["is_first"]) == 6


def test_missing_topic_names_file_and_topic(tmp_path):
  bag = write_sawyer_bag(tmp_path / "run.bag", episodes=1, skip_topic="/robot/joint_states")
  with pytest.raises(DataError) as error:
    convert("rosbag", bag, tmp_path / "out", spec="sawyer-log")
  assert error.value.file == str(bag) and error.value.field == "/robot/joint_states"
  assert "missing" in str(error.value)
  assert not (tmp_path / "out").exists()


def test_non_monotonic_timestamps_name_episode_step_and_topic(tmp_path):
  bag = write_sawyer_bag(tmp_path / "run.bag", episodes=2, break_time_at=30)
  with pytest.raises(DataError) as error:
    convert("rosbag", bag, tmp_path / "out", spec="sawyer-log")
  message = str(error.value)
  assert "backwards" in message and error.value.field == "/robot/joint_states", message
  assert error.value.episode == 0 and error.value.step == 2, message


def test_topic_that_stops_is_stale_not_silently_held(tmp_path):
  bag = write_sawyer_bag(tmp_path / "run.bag", episodes=1, drop_endpoint_after=20)
  with pytest.raises(DataError) as error:
    convert("rosbag", bag, tmp_path / "out", spec="sawyer-log")
  assert "stale" in str(error.value) and error.value.field == "/robot/limb/right/endpoint_state"
  assert error.value.episode == 0 and error.value.step is not None


def test_rosbag_needs_a_spec_and_rejects_corrupt_bags(tmp_path):
  bag = write_sawyer_bag(tmp_path / "run.bag", episodes=1)
  with pytest.raises(DataError, match="needs --spec"):
    convert("rosbag", bag, tmp_path / "out")
  truncated = tmp_path / "truncated.bag"
  truncated.write_bytes(bag.read_bytes()[: bag.stat().st_size // 2])
  with pytest.raises(DataError) as error:
    convert("rosbag", truncated, tmp_path / "out", spec="sawyer-log")
  assert error.value.file == str(truncated)
  assert not (tmp_path / "out").exists()


def test_rate_override_changes_the_clock(tmp_path):
  bag = write_sawyer_bag(tmp_path / "run.bag", episodes=1)
  out = convert("rosbag", bag, tmp_path / "out", spec="sawyer-log", options=ConvertOptions(rate_hz=20))
  assert len(next(rlds.read_episodes(out))["steps"]["is_first"]) == 20


def test_robot_log_specs_parse():
  from jaxinsert.data.converters.rosbag import parse_entries

  for name in ("sawyer-log", "sawyer-log:wrist_camera", "iiwa-log", "iiwa-log:scene_camera"):
    entries = parse_entries(specs.load_spec(name))
    assert sum(entry.role == "action" for entry in entries) == 1
