"""KUKA LBR iiwa adapters: an FRI-style fixed-rate UDP exchange, or iiwa_stack's ROS 1 topics.

FRI-style (`IiwaFriRobot`). As KUKA's Fast Robot Interface does, the *robot* owns the clock: it
sends a state packet every `cycle_s` (1-5 ms on a real controller, 5 ms = 200 Hz by default
here) and the client must answer each one with a command before the next; unanswered cycles
count as missed, and after `max_missed_cycles` in a row the robot leaves commanding (holds,
session MONITORING_READY) until the next reset. The packets are this module's own little-endian
layout, not KUKA's nanopb/protobuf wire format: a lab replaces `FriPackets` with KUKA's client
SDK or pyfri and keeps the adapter. The client answers from a receive thread with the latest
joint target, so a 10 Hz policy rides on the fast exchange.

iiwa_stack topics (`IiwaRosRobot`), ROS 1:
  /iiwa/state/JointPosition    iiwa_msgs/JointPosition  A1..A7 [rad]
  /iiwa/state/CartesianWrench  iiwa_msgs/CartesianWrench  TCP wrench [N, N m]
  /jaxinsert/tcp_twist         geometry_msgs/TwistStamped  TCP twist [m/s, rad/s] (iiwa_stack has
                               none: a lab node differentiates the pose; the simulator sends it)
  /iiwa/state/CartesianPose    iiwa_msgs/CartesianPose  TCP pose, base frame (primary)
  /iiwa/command/JointPosition  iiwa_msgs/JointPosition  (command)
iiwa_stack publishes no joint velocity or torque on these topics: they read as zeros here.
"""

from __future__ import annotations

import dataclasses
import socket
import struct
import threading
import time
from typing import Any, Dict, Optional, Tuple

import numpy as np

from jaxinsert.robots import messages, protocol
from jaxinsert.robots.protocol import GripperCommand, RobotState, RobotTimeout, Stop
from jaxinsert.robots.topic_robot import TopicProfile, TopicRobot
from jaxinsert.robots.transport import UdpTopicTransport

JOINT_NAMES = tuple(f"A{i}" for i in range(1, 8))
# FRI's ESessionState values.
IDLE, MONITORING_WAIT, MONITORING_READY, COMMANDING_WAIT, COMMANDING_ACTIVE = range(5)


class IiwaRosProfile(TopicProfile):
  name = "iiwa"
  generation = "ros1"
  joint_names = JOINT_NAMES
  state_topics = (("/iiwa/state/JointPosition", "iiwa_msgs/msg/JointPosition"),
                  ("/iiwa/state/CartesianWrench", "iiwa_msgs/msg/CartesianWrench"),
                  ("/jaxinsert/tcp_twist", "geometry_msgs/msg/TwistStamped"),
                  ("/iiwa/state/CartesianPose", "iiwa_msgs/msg/CartesianPose"))
  command_topic = ("/iiwa/command/JointPosition", "iiwa_msgs/msg/JointPosition")

  def encode_state(self, codec, m, seq: int):
    stamp_ns = int(round(m.stamp_s * 1e9))
    types = codec.types
    header = lambda frame: codec.header(stamp_ns, frame, seq)
    joints = types["iiwa_msgs/msg/JointPosition"](header=header(""), position=codec.axes(m.joint_position_rad))
    wrench = types["iiwa_msgs/msg/CartesianWrench"](wrench=types["geometry_msgs/msg/WrenchStamped"](
        header=header("tcp"), wrench=codec.wrench(m.wrench_at_tcp)))
    twist = types["geometry_msgs/msg/TwistStamped"](header=header("iiwa_link_0"), twist=codec.twist(m.tcp_twist))
    pose = types["iiwa_msgs/msg/CartesianPose"](
        pose=types["geometry_msgs/msg/PoseStamped"](header=header("iiwa_link_0"),
                                                    pose=codec.pose(m.tcp_position_m, m.tcp_quaternion_xyzw)),
        redundancy=types["iiwa_msgs/msg/RedundancyInformation"](e1=0.0, status=-1, turn=-1))
    return [(topic, msgtype, message) for (topic, msgtype), message
            in zip(self.state_topics, (joints, wrench, twist, pose))]

  def decode_state(self, topic: str, message: Any) -> Tuple[int, Dict[str, np.ndarray]]:
    if topic == "/iiwa/state/JointPosition":
      return messages.stamp_ns(message.header), {
          "joint_position_rad": messages.axes7(message.position),
          "joint_velocity_rad_per_s": np.zeros(7), "joint_torque_nm": np.zeros(7)}
    if topic == "/iiwa/state/CartesianWrench":
      return messages.stamp_ns(message.wrench.header), {"wrench_at_tcp": messages.wrench6(message.wrench.wrench)}
    if topic == "/jaxinsert/tcp_twist":
      return messages.stamp_ns(message.header), {"tcp_twist": messages.twist6(message.twist)}
    pose = messages.pose7(message.pose.pose)
    return messages.stamp_ns(message.pose.header), {"tcp_position_m": pose[:3], "tcp_quaternion_xyzw": pose[3:]}

  def encode_command(self, codec, joint_target: np.ndarray, stamp_ns: int):
    return codec.types["iiwa_msgs/msg/JointPosition"](header=codec.header(stamp_ns),
                                                       position=codec.axes(joint_target))

  def decode_command(self, message: Any):
    return messages.axes7(message.position)


class IiwaRosRobot(TopicRobot):
  """An iiwa behind iiwa_stack (or the simulated server speaking its topics)."""

  def __init__(self, address, control_period_s: float = 0.1, transport=None, kinematics=None):
    transport = transport or UdpTopicTransport("ros1", peer=tuple(address))
    super().__init__(IiwaRosProfile(), transport, control_period_s, kinematics)


# FRI-style packets ------------------------------------------------------------------------------

@dataclasses.dataclass
class FriState:
  seq: int                 # cycle counter (one per packet)
  sample: int              # physics sample index within the episode
  episode: int
  sample_time_s: float     # robot clock when the physics sample was measured
  send_time_s: float       # robot clock when this packet left
  session_state: int
  success: bool
  done: bool
  joint_position_rad: np.ndarray
  commanded_joint_position_rad: np.ndarray
  joint_velocity_rad_per_s: np.ndarray
  external_torque_nm: np.ndarray
  tcp_position_m: np.ndarray
  tcp_quaternion_xyzw: np.ndarray
  tcp_twist: np.ndarray
  wrench_at_tcp: np.ndarray


class FriPackets:
  """The byte layout of the FRI-style exchange (little-endian, see the module docstring)."""

  STATE_HEAD = struct.Struct("<4sIIIddBBBB")
  STATE_ARRAYS = (7, 7, 7, 7, 3, 4, 6, 6)
  COMMAND = struct.Struct("<4sIBxxxI7d")
  FLAG_COMMAND, FLAG_RESET, FLAG_STOP = 1, 2, 4

  @classmethod
  def state_size(cls) -> int:
    return cls.STATE_HEAD.size + 8 * sum(cls.STATE_ARRAYS)

  @classmethod
  def pack_state(cls, s: FriState) -> bytes:
    head = cls.STATE_HEAD.pack(b"FRS1", s.seq, s.sample, s.episode, s.sample_time_s, s.send_time_s,
                               s.session_state, int(s.success), int(s.done), 0)
    arrays = np.concatenate([s.joint_position_rad, s.commanded_joint_position_rad,
                             s.joint_velocity_rad_per_s, s.external_torque_nm, s.tcp_position_m,
                             s.tcp_quaternion_xyzw, s.tcp_twist, s.wrench_at_tcp]).astype("<f8")
    return head + arrays.tobytes()

  @classmethod
  def unpack_state(cls, data: bytes) -> Optional[FriState]:
    if len(data) != cls.state_size() or data[:4] != b"FRS1":
      return None
    _, seq, sample, episode, sample_time, send_time, session, success, done, _ = cls.STATE_HEAD.unpack_from(data)
    values = np.frombuffer(data, "<f8", offset=cls.STATE_HEAD.size).astype(np.float64)
    parts, start = [], 0
    for size in cls.STATE_ARRAYS:
      parts.append(values[start:start + size])
      start += size
    return FriState(seq, sample, episode, sample_time, send_time, session, bool(success), bool(done), *parts)

  @classmethod
  def pack_command(cls, seq: int, flags: int, seed: int, joint_target: np.ndarray) -> bytes:
    return cls.COMMAND.pack(b"FRC1", seq, flags, seed, *np.asarray(joint_target, np.float64)[:7])

  @classmethod
  def unpack_command(cls, data: bytes):
    if len(data) != cls.COMMAND.size or data[:4] != b"FRC1":
      return None
    _, seq, flags, seed, *target = cls.COMMAND.unpack(data)
    return seq, flags, seed, np.asarray(target, np.float64)


class IiwaFriRobot:
  """The Robot protocol over the FRI-style exchange with the robot at `address`."""

  name = "iiwa"
  joint_names = JOINT_NAMES

  def __init__(self, address, control_period_s: float = 0.1, kinematics=None):
    self.address = tuple(address)
    self.control_period_s = control_period_s
    self.kinematics = kinematics or protocol.CarriageKinematics()
    self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    self.socket.bind(("127.0.0.1", 0))
    self.socket.settimeout(0.05)
    self.reference: Optional[np.ndarray] = None
    self.stopped = False
    self._flags = 0
    self._seed = 0
    self._reset_from = -1
    self._commanding = False   # FLAG_COMMAND only after the first command since reset
    self._latest: Optional[RobotState] = None
    self.latest_fri: Optional[FriState] = None
    self._changed = threading.Condition()
    self._closed = threading.Event()
    self.cycles = 0
    self.sent_commands = 0
    self._thread = threading.Thread(target=self._loop, name="fri-client", daemon=True)
    self._thread.start()
    self.socket.sendto(FriPackets.pack_command(0, 0, 0, np.zeros(7)), self.address)  # hello
    deadline = time.monotonic() + 5.0
    with self._changed:  # connected once the robot's clock reaches us
      while self.latest_fri is None:
        if time.monotonic() > deadline:
          raise RobotTimeout(f"iiwa (FRI): no packet from {self.address} within 5 s")
        self._changed.wait(timeout=0.05)

  def _loop(self) -> None:
    while not self._closed.is_set():
      try:
        data, _ = self.socket.recvfrom(4096)
      except socket.timeout:
        continue
      except OSError:
        return
      fri = FriPackets.unpack_state(data)
      if fri is None:
        continue
      with self._changed:
        flags, seed = self._flags, self._seed
        target = fri.joint_position_rad if self.reference is None else self.reference
        if self._commanding and not (flags & FriPackets.FLAG_RESET):
          flags |= FriPackets.FLAG_COMMAND
        self._flags &= ~FriPackets.FLAG_STOP
      try:  # answer first: the deadline is the next cycle
        self.socket.sendto(FriPackets.pack_command(fri.seq, flags, seed, target), self.address)
      except OSError:
        return
      self.cycles += 1
      with self._changed:
        previous = self.latest_fri
        self.latest_fri = fri
        self._changed.notify_all()
        if self._flags & FriPackets.FLAG_RESET and previous is not None and fri.episode != self._reset_from:
          self._flags &= ~FriPackets.FLAG_RESET
        if previous is None or fri.sample_time_s != previous.sample_time_s or fri.episode != previous.episode:
          self._latest = RobotState(
              stamp_s=fri.sample_time_s, received_s=time.monotonic(), tcp_position_m=fri.tcp_position_m,
              tcp_quaternion_xyzw=fri.tcp_quaternion_xyzw, tcp_twist=fri.tcp_twist,
              wrench_at_tcp=fri.wrench_at_tcp, joint_names=JOINT_NAMES,
              joint_position_rad=fri.joint_position_rad, joint_velocity_rad_per_s=fri.joint_velocity_rad_per_s,
              joint_torque_nm=fri.external_torque_nm, seq=fri.seq)
          self._changed.notify_all()

  def latest_state(self) -> Optional[RobotState]:
    return self._latest

  def sim_status(self) -> Optional[np.ndarray]:
    fri = self.latest_fri
    return None if fri is None else np.array([fri.sample_time_s, fri.sample, fri.success, fri.done])

  def wait_for_state(self, newer_than_s: float, timeout_s: float) -> RobotState:
    with self._changed:
      return protocol.wait_for_newer(self._changed, lambda: self._latest, newer_than_s, timeout_s,
                                     "iiwa (FRI)")

  def send(self, command) -> None:
    if isinstance(command, Stop):
      self.stop(command.reason)
      return
    if isinstance(command, GripperCommand):
      return  # FRI carries no gripper; the simulated plug stays held
    if self.stopped:
      raise protocol.RobotError("iiwa is stopped; reset before commanding it again")
    target = protocol.joint_target_for(command, self.reference, self.kinematics, "iiwa")
    with self._changed:
      self.reference = np.asarray(target, np.float64)
      self._commanding = True
    self.sent_commands += 1

  def stop(self, reason: str = "") -> None:
    with self._changed:
      self.stopped = True     # the reference stays: every answer from now on holds it
      self._flags |= FriPackets.FLAG_STOP
    self.stop_reason = reason

  def reset(self, seed: int = 0, timeout_s: float = 5.0) -> RobotState:
    with self._changed:
      self._reset_from = self.latest_fri.episode if self.latest_fri is not None else -1
      self._flags = FriPackets.FLAG_RESET
      self._seed = int(seed)
      self.reference = None
      self._commanding = False
    deadline = time.monotonic() + timeout_s
    with self._changed:
      while (self.latest_fri is None or self.latest_fri.episode == self._reset_from
             or self._latest is None or self._latest.stamp_s != self.latest_fri.sample_time_s):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
          raise RobotTimeout(f"iiwa (FRI): no fresh episode within {timeout_s:.1f} s of the reset request")
        self._changed.wait(timeout=min(remaining, 0.05))
      state = self._latest
      self.reference = np.asarray(state.joint_position_rad, np.float64).copy()
      self.stopped = False
      self._flags = 0
    return state

  def close(self) -> None:
    self._closed.set()
    self._thread.join(timeout=1.0)
    self.socket.close()
