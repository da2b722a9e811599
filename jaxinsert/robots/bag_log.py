"""Every robot episode as a rosbag in the sawyer-log / iiwa-log specs (data_specs/), which
`experiments/convert.py --format=rosbag --spec=sawyer-log` turns back into RLDS.

Times: header stamps and log times are the robot's clock (the state's `stamp_s`), so the bag
replays onto the spec's 10 Hz clock exactly: the state of step k at t_k, the command answering it
at t_k + 1 ms, its reward at t_k + 2 ms, a success seen after it at t_k + 3 ms, and an episode
marker at the first state. The logged action is what reached the robot after the safety layer,
in the spec's units: a normalised twist (6), i.e. the move divided by the move at |a| = 1.
Sawyer logs are ROS 1 bags (.bag); iiwa logs ROS 2 bags (a directory, sqlite3 or mcap).
"""

from __future__ import annotations

import pathlib
from typing import Optional

import numpy as np

from jaxinsert.robots import iiwa, sawyer
from jaxinsert.robots.messages import Codec
from jaxinsert.robots.protocol import RobotState

SPECS = ("sawyer-log", "iiwa-log")
MS = 1_000_000


class EpisodeLogger:
  """Writes episodes to one bag at `path` (see the module docstring)."""

  def __init__(self, path, spec: str = "sawyer-log", storage: str = "sqlite3"):
    if spec not in SPECS:
      raise ValueError(f"spec must be one of {SPECS}, got {spec!r}")
    self.spec = spec
    self.path = pathlib.Path(path)
    self.codec = Codec("ros1" if spec == "sawyer-log" else "ros2")
    if spec == "sawyer-log":
      from rosbags.rosbag1 import Writer
      self.writer = Writer(self.path)
    else:
      from rosbags.rosbag2 import StoragePlugin, Writer
      plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
      self.writer = Writer(self.path, version=9, storage_plugin=plugin)
    self.writer.open()
    self._connections = {}
    self.episode = -1
    self.steps_written = 0

  def _write(self, topic: str, msgtype: str, message, log_ns: int) -> None:
    if topic not in self._connections:
      self._connections[topic] = self.writer.add_connection(topic, msgtype, typestore=self.codec.store)
    self.writer.write(self._connections[topic], int(log_ns), self.codec.serialize(message, msgtype))

  def state(self, state: RobotState) -> None:
    """The robot state of one step (its stamp is the step's time)."""
    c, t = self.codec, int(round(state.stamp_s * 1e9))
    if self.spec == "sawyer-log":
      self._write("/robot/joint_states", "sensor_msgs/msg/JointState",
                  c.joint_state(t, sawyer.JOINT_NAMES, state.joint_position_rad, state.joint_velocity_rad_per_s,
                                state.joint_torque_nm), t)
      endpoint = c.types["intera_core_msgs/msg/EndpointState"](
          header=c.header(t, "base"), pose=c.pose(state.tcp_position_m, state.tcp_quaternion_xyzw),
          twist=c.twist(state.tcp_twist), wrench=c.wrench(state.wrench_at_tcp), valid=True)
      self._write("/robot/limb/right/endpoint_state", "intera_core_msgs/msg/EndpointState", endpoint, t)
    else:
      names = [f"lbr_{name}" for name in iiwa.JOINT_NAMES]
      self._write("/lbr/joint_states", "sensor_msgs/msg/JointState",
                  c.joint_state(t, names, state.joint_position_rad, state.joint_velocity_rad_per_s,
                                state.joint_torque_nm), t)
      pose = c.types["geometry_msgs/msg/PoseStamped"](header=c.header(t, "lbr_link_0"),
                                                      pose=c.pose(state.tcp_position_m, state.tcp_quaternion_xyzw))
      self._write("/jaxinsert/tcp_pose", "geometry_msgs/msg/PoseStamped", pose, t)
      wrench = c.types["geometry_msgs/msg/WrenchStamped"](header=c.header(t, "tcp"), wrench=c.wrench(state.wrench_at_tcp))
      self._write("/lbr/force_torque_broadcaster/wrench", "geometry_msgs/msg/WrenchStamped", wrench, t)

  def begin(self, state: RobotState) -> None:
    self.episode += 1
    t = int(round(state.stamp_s * 1e9))
    self._write("/jaxinsert/episode", "std_msgs/msg/Int32", self.codec.scalar("std_msgs/msg/Int32", self.episode), t)
    self.state(state)

  def action(self, state: RobotState, normalised_twist6: np.ndarray, reward: Optional[float] = None) -> None:
    """The command that answered `state` (6-D normalised twist), and the reward it earned."""
    c, t = self.codec, int(round(state.stamp_s * 1e9))
    twist = c.types["geometry_msgs/msg/TwistStamped"](header=c.header(t + MS, "base"),
                                                      twist=c.twist(np.asarray(normalised_twist6, np.float64)))
    self._write("/jaxinsert/action", "geometry_msgs/msg/TwistStamped", twist, t + MS)
    if reward is not None:
      self._write("/jaxinsert/reward", "std_msgs/msg/Float32", c.scalar("std_msgs/msg/Float32", float(reward)), t + 2 * MS)
    self.steps_written += 1

  def success(self, previous_state: RobotState) -> None:
    """Success observed after the command that answered `previous_state`."""
    t = int(round(previous_state.stamp_s * 1e9)) + 3 * MS
    self._write("/jaxinsert/success", "std_msgs/msg/Bool", self.codec.scalar("std_msgs/msg/Bool", True), t)

  def close(self) -> None:
    self.writer.close()
