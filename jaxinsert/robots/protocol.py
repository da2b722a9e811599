"""The Robot protocol: what any robot adapter reads and accepts, in SI units, frames named.

Observation (`RobotState`), all in the robot's *base* frame unless named otherwise:
  tcp_position_m (3)           tool-centre-point position [m], base frame
  tcp_quaternion_xyzw (4)      TCP orientation, unit quaternion (x, y, z, w), base frame
  tcp_twist (6)                TCP linear [m/s] then angular [rad/s] velocity, base frame
  wrench_at_tcp (6)            force [N] then torque [N m] the environment applies at the TCP,
                               axes of the TCP frame (equal to the base axes when upright)
  joint_position_rad / joint_velocity_rad_per_s / joint_torque_nm (n), named by joint_names
  stamp_s                      when the robot measured it, on the robot's clock [s]
  received_s                   when this process received it, host monotonic clock [s]
Commands (dataclasses below): Cartesian relative moves or twists, joint targets, gripper,
stop (hold the current position), home/reset. An adapter converts them to its robot's
messages; a transport carries the messages (a lab swaps our loopback transports for rospy,
rclpy or KUKA's FRI client without touching the adapters' semantics).
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Protocol, Sequence, Tuple, Union

import numpy as np


class RobotError(RuntimeError):
  """The robot (or the link to it) is not in a state to take commands."""


class RobotTimeout(RobotError):
  """No fresh state within the allowed time (a stale link, a stopped robot, a dead server)."""


@dataclasses.dataclass(frozen=True)
class RobotState:
  stamp_s: float
  received_s: float
  tcp_position_m: np.ndarray
  tcp_quaternion_xyzw: np.ndarray
  tcp_twist: np.ndarray
  wrench_at_tcp: np.ndarray
  joint_names: Tuple[str, ...]
  joint_position_rad: np.ndarray
  joint_velocity_rad_per_s: np.ndarray
  joint_torque_nm: np.ndarray
  seq: int = 0

  def arrays(self):
    return (self.tcp_position_m, self.tcp_quaternion_xyzw, self.tcp_twist, self.wrench_at_tcp,
            self.joint_position_rad, self.joint_velocity_rad_per_s, self.joint_torque_nm)

  def is_finite(self) -> bool:
    return all(np.all(np.isfinite(a)) for a in self.arrays())


@dataclasses.dataclass(frozen=True)
class CartesianMove:
  """Move the TCP by (delta_position_m, delta_rotation_rad) within one control period, base
  frame; rotation as a rotation vector (axis x angle)."""

  delta_position_m: np.ndarray
  delta_rotation_rad: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(3))


@dataclasses.dataclass(frozen=True)
class CartesianTwist:
  """Hold a TCP velocity [m/s, rad/s] (base frame) for `duration_s`."""

  linear_m_per_s: np.ndarray
  angular_rad_per_s: np.ndarray
  duration_s: float


@dataclasses.dataclass(frozen=True)
class JointTarget:
  """Absolute joint position targets [rad] (or [m] for prismatic joints), robot joint order."""

  position_rad: np.ndarray


@dataclasses.dataclass(frozen=True)
class GripperCommand:
  width_m: float


@dataclasses.dataclass(frozen=True)
class Stop:
  """Hold the current position (the robot's own hold; not a brake)."""

  reason: str = ""


Command = Union[CartesianMove, CartesianTwist, JointTarget, GripperCommand, Stop]


def command_arrays(command: Command) -> Sequence[np.ndarray]:
  """Every number a command carries (for the NaN/Inf guard)."""
  if isinstance(command, CartesianMove):
    return (np.asarray(command.delta_position_m, float), np.asarray(command.delta_rotation_rad, float))
  if isinstance(command, CartesianTwist):
    return (np.asarray(command.linear_m_per_s, float), np.asarray(command.angular_rad_per_s, float),
            np.asarray([command.duration_s], float))
  if isinstance(command, JointTarget):
    return (np.asarray(command.position_rad, float),)
  if isinstance(command, GripperCommand):
    return (np.asarray([command.width_m], float),)
  return ()


class Robot(Protocol):
  """A connected robot (an adapter over a transport)."""

  name: str
  joint_names: Tuple[str, ...]
  control_period_s: float     # the policy period the adapter is set up for (10 Hz: 0.1 s)

  def latest_state(self) -> Optional[RobotState]: ...

  def wait_for_state(self, newer_than_s: float, timeout_s: float) -> RobotState:
    """The first state with stamp_s > newer_than_s; RobotTimeout after timeout_s (host time)."""

  def send(self, command: Command) -> None: ...

  def stop(self, reason: str = "") -> None:
    """Hold position now (also what the safety layer calls)."""

  def reset(self, seed: int = 0, timeout_s: float = 5.0) -> RobotState:
    """Home the robot (the simulated server also starts a new episode); returns the first state."""

  def close(self) -> None: ...


def joint_target_for(command: Command, reference: Optional[np.ndarray], kinematics, name: str) -> np.ndarray:
  """The joint target a motion command means from the current `reference` (adapters share it)."""
  if reference is None:
    raise RobotError(f"{name}: reset() before the first command")
  if isinstance(command, CartesianTwist):
    command = CartesianMove(np.asarray(command.linear_m_per_s) * command.duration_s,
                            np.asarray(command.angular_rad_per_s) * command.duration_s)
  if isinstance(command, CartesianMove):
    return kinematics.joint_target(reference, command)
  if isinstance(command, JointTarget):
    return np.asarray(command.position_rad, np.float64)
  raise TypeError(f"unknown command {command!r}")


def wait_for_newer(changed, latest, newer_than_s: float, timeout_s: float, name: str) -> RobotState:
  """Waits on `changed` (a Condition, held by the caller) until `latest()` is newer than
  `newer_than_s`; RobotTimeout after `timeout_s` of host time."""
  import time

  deadline = time.monotonic() + timeout_s
  while latest() is None or latest().stamp_s <= newer_than_s:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
      raise RobotTimeout(f"{name}: no state newer than {newer_than_s:.3f} s within {timeout_s:.3f} s")
    changed.wait(timeout=min(remaining, 0.05))
  return latest()


class CarriageKinematics:
  """Kinematics of the simulated robot: a Cartesian carriage whose first six joints are the
  TCP's x, y, z [m] and intrinsic x-y-z angles [rad] (joint 7 is held at 0).

  A relative TCP move is then the same relative joint move. A real Sawyer or iiwa needs its arm's
  inverse kinematics here (intera's IK service, or KDL/TRAC-IK on the URDF): an object with the
  same `joint_target` method.
  """

  def joint_target(self, joint_target_rad: np.ndarray, move: CartesianMove) -> np.ndarray:
    target = np.array(joint_target_rad, np.float64)
    target[:3] += np.asarray(move.delta_position_m, np.float64)
    target[3:6] += np.asarray(move.delta_rotation_rad, np.float64)
    return target
