"""A robot over ROS-style topics: the client half shared by the Sawyer and iiwa_stack adapters.

A `TopicProfile` names a robot's topics and converts its messages to and from the protocol's
quantities; `TopicRobot` is the adapter around one profile and one transport. A full state is
assembled when the profile's `primary` state topic arrives, from the newest message of every
state topic; its `stamp_s` is the *oldest* of those stamps, so a lost message makes the state
look stale (the watchdog's business) instead of silently mixing old and new.

Commands become joint position targets: Cartesian moves through `kinematics` (the simulated
carriage's, or a real arm's IK), the reference integrated from the joint positions measured at
reset. `stop()` re-sends the current reference (hold) and refuses further motion until reset.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from jaxinsert.robots import protocol
from jaxinsert.robots.protocol import Command, GripperCommand, RobotState, RobotTimeout, Stop

SIM_RESET_TOPIC = "/jaxinsert/sim/reset"          # std_msgs/Int32: seed (simulated server only)
SIM_STATUS_TOPIC = "/jaxinsert/sim/status"        # std_msgs/Float64MultiArray [stamp_s, step, success, done]
GRIPPER_TOPIC = "/jaxinsert/gripper/width_m"      # std_msgs/Float64 (the simulated plug stays held)


class TopicProfile:
  """Topics and message conversions of one robot (subclassed per robot)."""

  name = "robot"
  generation = "ros1"
  joint_names: Tuple[str, ...] = ()
  state_topics: Tuple[Tuple[str, str], ...] = ()   # (topic, type), primary last
  command_topic: Tuple[str, str] = ("", "")

  def encode_state(self, codec, m, seq: int) -> List[Tuple[str, str, Any]]:
    raise NotImplementedError

  def decode_state(self, topic: str, message: Any) -> Tuple[int, Dict[str, np.ndarray]]:
    """(stamp_ns, {RobotState field: value}) of one state message."""
    raise NotImplementedError

  def encode_command(self, codec, joint_target: np.ndarray, stamp_ns: int) -> Any:
    raise NotImplementedError

  def decode_command(self, message: Any) -> Optional[np.ndarray]:
    raise NotImplementedError

  def warm_up(self, codec) -> None:
    """rosbags builds each type's (de)serialiser on first use, which can take longer than a
    control period: build them all before the first deadline."""
    from jaxinsert.robots.sim_robot import Measurement

    zeros = lambda n: np.zeros(n)
    sample = Measurement(0.0, 0, zeros(3), np.array([0.0, 0.0, 0.0, 1.0]), zeros(6), zeros(6),
                         zeros(7), zeros(7), zeros(7))
    command = self.encode_command(codec, zeros(7), 0)
    pairs = [(self.command_topic[1], command)] + [(t, m) for _, t, m in self.encode_state(codec, sample, 0)]
    for msgtype, message in pairs:
      codec.deserialize(codec.serialize(message, msgtype), msgtype)
    for msgtype, value in (("std_msgs/msg/Int32", 0), ("std_msgs/msg/Float64", 0.0), ("std_msgs/msg/String", "")):
      codec.deserialize(codec.serialize(codec.scalar(msgtype, value), msgtype), msgtype)


class TopicRobot:
  """The Robot protocol over a `TopicTransport` (see the module docstring)."""

  def __init__(self, profile: TopicProfile, transport, control_period_s: float = 0.1,
               kinematics=None):
    self.profile = profile
    self.name = profile.name
    self.joint_names = profile.joint_names
    self.control_period_s = control_period_s
    self.transport = transport
    self.codec = transport.codec
    self.kinematics = kinematics or protocol.CarriageKinematics()
    profile.warm_up(self.codec)
    self._parts: Dict[str, Tuple[int, Dict[str, np.ndarray]]] = {}
    self._latest: Optional[RobotState] = None
    self._status: Optional[np.ndarray] = None
    self._seq = 0
    self._changed = threading.Condition()
    self.reference: Optional[np.ndarray] = None    # joint target being integrated
    self.stopped = False
    self.sent_commands = 0
    for topic, msgtype in profile.state_topics:
      transport.subscribe(topic, msgtype, self._make_callback(topic))
    transport.subscribe(SIM_STATUS_TOPIC, "std_msgs/msg/Float64MultiArray", self._on_status)

  def _make_callback(self, topic: str) -> Callable[[Any], None]:
    primary = self.profile.state_topics[-1][0]

    def callback(message):
      stamp_ns, fields = self.profile.decode_state(topic, message)
      with self._changed:
        self._parts[topic] = (stamp_ns, fields)
        if topic == primary and len(self._parts) == len(self.profile.state_topics):
          self._seq += 1
          merged: Dict[str, Any] = {}
          for _, part in self._parts.values():
            merged.update(part)
          oldest = min(stamp for stamp, _ in self._parts.values())
          self._latest = RobotState(stamp_s=oldest * 1e-9, received_s=time.monotonic(),
                                    joint_names=self.joint_names, seq=self._seq, **merged)
          self._changed.notify_all()
    return callback

  def _on_status(self, message) -> None:
    with self._changed:
      self._status = np.asarray(message.data, np.float64)
      self._changed.notify_all()

  # Robot protocol -----------------------------------------------------------------------------
  def latest_state(self) -> Optional[RobotState]:
    return self._latest

  def sim_status(self) -> Optional[np.ndarray]:
    """[stamp_s, step, success, done] from the simulated server (None on a real robot)."""
    return self._status

  def wait_for_state(self, newer_than_s: float, timeout_s: float) -> RobotState:
    with self._changed:
      return protocol.wait_for_newer(self._changed, lambda: self._latest, newer_than_s, timeout_s, self.name)

  def send(self, command: Command) -> None:
    if isinstance(command, Stop):
      self.stop(command.reason)
      return
    if isinstance(command, GripperCommand):
      self.transport.publish(GRIPPER_TOPIC, "std_msgs/msg/Float64",
                             self.codec.scalar("std_msgs/msg/Float64", float(command.width_m)))
      return
    if self.stopped:
      raise protocol.RobotError(f"{self.name} is stopped; reset before commanding it again")
    target = protocol.joint_target_for(command, self.reference, self.kinematics, self.name)
    self._publish_target(target)

  def _publish_target(self, target: np.ndarray) -> None:
    self.reference = np.asarray(target, np.float64)
    stamp_ns = int(time.monotonic() * 1e9)
    topic, msgtype = self.profile.command_topic
    self.transport.publish(topic, msgtype, self.profile.encode_command(self.codec, self.reference, stamp_ns))
    self.sent_commands += 1

  def stop(self, reason: str = "") -> None:
    if self.reference is not None and not self.stopped:
      self._publish_target(self.reference)   # hold: no further increment
    self.stopped = True
    self.stop_reason = reason

  def reset(self, seed: int = 0, timeout_s: float = 5.0) -> RobotState:
    before = self._latest.stamp_s if self._latest is not None else -1.0
    deadline = time.monotonic() + timeout_s
    while True:  # the answer may be lost on a faulty link: ask again (same seed, same start)
      self.transport.publish(SIM_RESET_TOPIC, "std_msgs/msg/Int32",
                             self.codec.scalar("std_msgs/msg/Int32", int(seed)))
      try:
        state = self.wait_for_state(before, min(0.5, max(deadline - time.monotonic(), 0.01)))
        break
      except RobotTimeout:
        if time.monotonic() >= deadline:
          raise
    self.reference = np.asarray(state.joint_position_rad, np.float64).copy()
    self.stopped = False
    return state

  def close(self) -> None:
    self.transport.close()
