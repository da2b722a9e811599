"""ROS message types for the adapters, (de)serialised with `rosbags` (no ROS install needed).

One typestore per ROS generation: ROS 1 (Noetic: intera over ROS 1, iiwa_stack) serialises with
ROS 1's wire format, ROS 2 (Humble, lbr_fri_ros2_stack) with CDR. Both hold the standard message
packages plus the robot-specific ones below. The definitions are the public interface facts of
RethinkRobotics/intera_common (intera_core_msgs) and IFL-CAMP/iiwa_stack (iiwa_msgs), field for
field, without their comments; InteractionControlCommand is the full intera message.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import numpy as np

INTERA_ENDPOINT_STATE = """std_msgs/Header header
geometry_msgs/Pose pose
geometry_msgs/Twist twist
geometry_msgs/Wrench wrench
bool valid
"""
INTERA_JOINT_COMMAND = """std_msgs/Header header
int32 mode
string[] names
float64[] position
float64[] velocity
float64[] acceleration
float64[] effort
int32 POSITION_MODE=1
int32 VELOCITY_MODE=2
int32 TORQUE_MODE=3
int32 TRAJECTORY_MODE=4
"""
INTERA_INTERACTION_CONTROL_COMMAND = """std_msgs/Header header
bool interaction_control_active
float64[] K_impedance
bool[] max_impedance
float64[] D_impedance
float64[] K_nullspace
float64[] force_command
geometry_msgs/Pose interaction_frame
string endpoint_name
bool in_endpoint_frame
bool disable_damping_in_force_control
bool disable_reference_resetting
uint8 IMPEDANCE_MODE=1
uint8 FORCE_MODE=2
uint8 IMPEDANCE_WITH_FORCE_LIMIT_MODE=3
uint8 FORCE_WITH_MOTION_LIMIT_MODE=4
uint8[] interaction_control_mode
bool rotations_for_constrained_zeroG
"""
IIWA_AXES = "float64 a1\nfloat64 a2\nfloat64 a3\nfloat64 a4\nfloat64 a5\nfloat64 a6\nfloat64 a7\n"
IIWA_JOINT_POSITION = "std_msgs/Header header\niiwa_msgs/Axes position\n"
IIWA_REDUNDANCY = "float64 e1\nint32 status\nint32 turn\n"
IIWA_CARTESIAN_POSE = "geometry_msgs/PoseStamped pose\niiwa_msgs/RedundancyInformation redundancy\n"
IIWA_CARTESIAN_WRENCH = "geometry_msgs/WrenchStamped wrench\n"

CUSTOM_TYPES = {
    "intera_core_msgs/msg/EndpointState": INTERA_ENDPOINT_STATE,
    "intera_core_msgs/msg/JointCommand": INTERA_JOINT_COMMAND,
    "intera_core_msgs/msg/InteractionControlCommand": INTERA_INTERACTION_CONTROL_COMMAND,
    "iiwa_msgs/msg/Axes": IIWA_AXES,
    "iiwa_msgs/msg/JointPosition": IIWA_JOINT_POSITION,
    "iiwa_msgs/msg/RedundancyInformation": IIWA_REDUNDANCY,
    "iiwa_msgs/msg/CartesianPose": IIWA_CARTESIAN_POSE,
    "iiwa_msgs/msg/CartesianWrench": IIWA_CARTESIAN_WRENCH,
}


@functools.lru_cache(maxsize=None)
def typestore(generation: str = "ros1"):
  """The rosbags typestore of `generation` ("ros1" | "ros2") with the robot messages registered."""
  from rosbags.typesys import Stores, get_types_from_msg, get_typestore

  store = get_typestore(Stores.ROS1_NOETIC if generation == "ros1" else Stores.ROS2_HUMBLE)
  for name, text in CUSTOM_TYPES.items():  # Axes before JointPosition: dict order
    store.register(get_types_from_msg(text, name))
  return store


class Codec:
  """Builds, serialises and parses messages of one ROS generation."""

  def __init__(self, generation: str = "ros1"):
    self.generation = generation
    self.store = typestore(generation)
    self.types = self.store.types

  def serialize(self, message: Any, msgtype: str) -> bytes:
    if self.generation == "ros1":
      return bytes(self.store.serialize_ros1(message, msgtype))
    return bytes(self.store.serialize_cdr(message, msgtype))

  def deserialize(self, data: bytes, msgtype: str) -> Any:
    if self.generation == "ros1":
      return self.store.deserialize_ros1(data, msgtype)
    return self.store.deserialize_cdr(data, msgtype)

  # Builders (SI units; stamps in integer nanoseconds of the robot's clock) ------------------

  def header(self, stamp_ns: int, frame_id: str = "base", seq: int = 0):
    time = self.types["builtin_interfaces/msg/Time"](sec=int(stamp_ns // 1_000_000_000),
                                                     nanosec=int(stamp_ns % 1_000_000_000))
    fields = {"stamp": time, "frame_id": frame_id}
    if any(name == "seq" for name, _ in self.store.fielddefs["std_msgs/msg/Header"][1]):
      fields["seq"] = int(seq)
    return self.types["std_msgs/msg/Header"](**fields)

  def vector3(self, values: Sequence[float]):
    return self.types["geometry_msgs/msg/Vector3"](x=float(values[0]), y=float(values[1]),
                                                   z=float(values[2]))

  def pose(self, position_m: Sequence[float], quaternion_xyzw: Sequence[float]):
    point = self.types["geometry_msgs/msg/Point"](x=float(position_m[0]), y=float(position_m[1]),
                                                  z=float(position_m[2]))
    q = quaternion_xyzw
    orientation = self.types["geometry_msgs/msg/Quaternion"](x=float(q[0]), y=float(q[1]),
                                                             z=float(q[2]), w=float(q[3]))
    return self.types["geometry_msgs/msg/Pose"](position=point, orientation=orientation)

  def twist(self, twist6: Sequence[float]):
    return self.types["geometry_msgs/msg/Twist"](linear=self.vector3(twist6[:3]),
                                                 angular=self.vector3(twist6[3:]))

  def wrench(self, wrench6: Sequence[float]):
    return self.types["geometry_msgs/msg/Wrench"](force=self.vector3(wrench6[:3]),
                                                  torque=self.vector3(wrench6[3:]))

  def joint_state(self, stamp_ns, names, position, velocity, effort, frame_id=""):
    return self.types["sensor_msgs/msg/JointState"](
        header=self.header(stamp_ns, frame_id), name=list(names),
        position=np.asarray(position, np.float64), velocity=np.asarray(velocity, np.float64),
        effort=np.asarray(effort, np.float64))

  def axes(self, values: Sequence[float]):
    values = list(np.asarray(values, np.float64)) + [0.0] * (7 - len(values))
    return self.types["iiwa_msgs/msg/Axes"](**{f"a{i + 1}": float(v) for i, v in enumerate(values[:7])})

  def scalar(self, msgtype: str, value):
    return self.types[msgtype](data=value)


# Parsers ------------------------------------------------------------------------------------

def stamp_ns(header: Any) -> int:
  return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def vector3(v: Any) -> np.ndarray:
  return np.array([v.x, v.y, v.z], np.float64)


def pose7(pose: Any) -> np.ndarray:
  """[x, y, z, qx, qy, qz, qw] of a geometry_msgs/Pose."""
  p, q = pose.position, pose.orientation
  return np.array([p.x, p.y, p.z, q.x, q.y, q.z, q.w], np.float64)


def twist6(twist: Any) -> np.ndarray:
  return np.concatenate([vector3(twist.linear), vector3(twist.angular)])


def wrench6(wrench: Any) -> np.ndarray:
  return np.concatenate([vector3(wrench.force), vector3(wrench.torque)])


def axes7(axes: Any) -> np.ndarray:
  return np.array([getattr(axes, f"a{i}") for i in range(1, 8)], np.float64)
