"""Rethink Sawyer adapter: intera's interface semantics over ROS 1 topics.

State (as intera publishes it, ~100 Hz on a real robot; once per policy period in simulation):
  /robot/joint_states                sensor_msgs/JointState     right_j0..right_j6 [rad, rad/s, N m]
  /robot/limb/right/endpoint_state   intera_core_msgs/EndpointState  TCP pose/twist/wrench, base frame
Commands:
  /robot/limb/right/joint_command    intera_core_msgs/JointCommand, POSITION_MODE, every period
  /robot/limb/right/joint_command_timeout  std_msgs/Float64 [s]: with no command for this long the
                                     robot leaves joint control and holds (intera_interface.Limb:
                                     0.2 s on exit_control_mode); the simulated server does the same
  /robot/limb/right/interaction_control_command  intera_core_msgs/InteractionControlCommand:
                                     Cartesian impedance, default K [1300 N/m x3, 30 N m/rad x3]
Raw POSITION_MODE commands bypass intera's collision avoidance (as `set_joint_positions` does),
which is why the safety layer sits in front of this adapter.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

import numpy as np

from jaxinsert.robots import messages
from jaxinsert.robots.topic_robot import TopicProfile, TopicRobot
from jaxinsert.robots.transport import UdpTopicTransport

JOINT_NAMES = tuple(f"right_j{i}" for i in range(7))
POSITION_MODE = 1
DEFAULT_COMMAND_TIMEOUT_S = 0.2
DEFAULT_STIFFNESS = (1300.0, 1300.0, 1300.0, 30.0, 30.0, 30.0)   # N/m, N m/rad


class SawyerProfile(TopicProfile):
  name = "sawyer"
  generation = "ros1"
  joint_names = JOINT_NAMES
  state_topics = (("/robot/joint_states", "sensor_msgs/msg/JointState"),
                  ("/robot/limb/right/endpoint_state", "intera_core_msgs/msg/EndpointState"))
  command_topic = ("/robot/limb/right/joint_command", "intera_core_msgs/msg/JointCommand")
  timeout_topic = ("/robot/limb/right/joint_command_timeout", "std_msgs/msg/Float64")
  impedance_topic = ("/robot/limb/right/interaction_control_command",
                     "intera_core_msgs/msg/InteractionControlCommand")

  def encode_state(self, codec, m, seq: int):
    stamp_ns = int(round(m.stamp_s * 1e9))
    joints = codec.joint_state(stamp_ns, JOINT_NAMES, m.joint_position_rad,
                               m.joint_velocity_rad_per_s, m.joint_torque_nm)
    endpoint = codec.types["intera_core_msgs/msg/EndpointState"](
        header=codec.header(stamp_ns, "base", seq), pose=codec.pose(m.tcp_position_m, m.tcp_quaternion_xyzw),
        twist=codec.twist(m.tcp_twist), wrench=codec.wrench(m.wrench_at_tcp), valid=True)
    return [(self.state_topics[0][0], self.state_topics[0][1], joints),
            (self.state_topics[1][0], self.state_topics[1][1], endpoint)]

  def decode_state(self, topic: str, message: Any) -> Tuple[int, Dict[str, np.ndarray]]:
    stamp_ns = messages.stamp_ns(message.header)
    if topic == "/robot/joint_states":
      order = [list(message.name).index(name) for name in JOINT_NAMES]  # intera adds head_pan
      return stamp_ns, {"joint_position_rad": np.asarray(message.position)[order],
                        "joint_velocity_rad_per_s": np.asarray(message.velocity)[order],
                        "joint_torque_nm": np.asarray(message.effort)[order]}
    pose = messages.pose7(message.pose)
    return stamp_ns, {"tcp_position_m": pose[:3], "tcp_quaternion_xyzw": pose[3:],
                      "tcp_twist": messages.twist6(message.twist),
                      "wrench_at_tcp": messages.wrench6(message.wrench)}

  def encode_command(self, codec, joint_target: np.ndarray, stamp_ns: int):
    return codec.types["intera_core_msgs/msg/JointCommand"](
        header=codec.header(stamp_ns), mode=POSITION_MODE, names=list(JOINT_NAMES),
        position=np.asarray(joint_target, np.float64), velocity=np.zeros(0), acceleration=np.zeros(0),
        effort=np.zeros(0))

  def decode_command(self, message: Any):
    if message.mode != POSITION_MODE:
      return None  # the simulated robot takes position commands only
    order = [list(message.names).index(name) for name in JOINT_NAMES]
    return np.asarray(message.position, np.float64)[order]


class SawyerRobot(TopicRobot):
  """A Sawyer (or the simulated server speaking intera) at `address` over UDP topics."""

  def __init__(self, address, control_period_s: float = 0.1,
               command_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S,
               stiffness: Sequence[float] = DEFAULT_STIFFNESS, transport=None, kinematics=None):
    transport = transport or UdpTopicTransport("ros1", peer=tuple(address))
    super().__init__(SawyerProfile(), transport, control_period_s, kinematics)
    self.command_timeout_s = command_timeout_s
    self.set_command_timeout(command_timeout_s)
    self.set_impedance(stiffness)

  def set_command_timeout(self, timeout_s: float) -> None:
    topic, msgtype = SawyerProfile.timeout_topic
    self.transport.publish(topic, msgtype, self.codec.scalar(msgtype, float(timeout_s)))

  def set_impedance(self, stiffness: Sequence[float], damping: Sequence[float] = (0.8,) * 6) -> None:
    """Cartesian impedance (intera IMPEDANCE_MODE in all six directions, base frame)."""
    topic, msgtype = SawyerProfile.impedance_topic
    message = self.codec.types[msgtype](
        header=self.codec.header(0), interaction_control_active=True,
        K_impedance=np.asarray(stiffness, np.float64), max_impedance=np.zeros(6, bool),
        D_impedance=np.asarray(damping, np.float64), K_nullspace=np.zeros(7),
        force_command=np.zeros(6), interaction_frame=self.codec.pose([0, 0, 0], [0, 0, 0, 1]),
        endpoint_name="right_hand", in_endpoint_frame=False, disable_damping_in_force_control=False,
        disable_reference_resetting=False, interaction_control_mode=np.ones(6, np.uint8),
        rotations_for_constrained_zeroG=False)
    self.transport.publish(topic, msgtype, message)
