"""The safety layer: a Robot that wraps any Robot and stands between it and any policy.

Guards (each a named entry of `GUARDS`; `SafeRobot(..., disabled=(name,))` removes one, which is
how the tests show that each guard is what holds its property):
  finite_command   NaN/Inf in a command: refused, never sent (CommandRefused)
  joint_limits     joint target outside [joint_min_rad, joint_max_rad]: refused
  step_limit       Cartesian move per period clipped to max_step_m / max_step_rad per axis; joint
                   target steps above max_joint_step_rad refused
  velocity_limit   twist clipped to max_speed_m_per_s / max_angular_speed_rad_per_s (then it is a
                   move of speed x duration); measured TCP speed above max_measured_speed_m_per_s
                   stops the robot (lbr_fri_ros2_stack's command guard checks measured velocity)
  workspace        the commanded TCP position (measured + move) clipped to the box, base frame
                   (SERL clips the commanded pose to a box every step)
  force_limit      measured |force| > max_force_n or |torque| > max_torque_nm: the command is
                   replaced by a retreat of retreat_m along the measured force (away from the
                   contact) for retreat_steps periods; |force| > hard_force_n is an e-stop
  state_check      NaN/Inf in the state, or a sensor stuck (stuck_samples identical samples
                   with advancing stamps): stop
  watchdog         a thread: no command within deadline_s of the state it answers (a missed
                   deadline), or no fresh state for max_state_age_s (a stale link): stop
An e-stop (`estop()`) latches: every command is refused until `reset()` after `release()`.
Units: metres, radians, newtons, seconds; frames: base (TCP position), TCP (wrench).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from jaxinsert.robots.protocol import (CartesianMove, CartesianTwist, Command, GripperCommand,
                                       JointTarget, RobotError, RobotState, Stop, command_arrays)

GUARDS = ("finite_command", "joint_limits", "step_limit", "velocity_limit", "workspace",
          "force_limit", "state_check", "watchdog")


class SafetyStop(RobotError):
  """The safety layer stopped the robot (the reason says which guard)."""


class CommandRefused(SafetyStop):
  """A command was refused and never sent."""


@dataclasses.dataclass(frozen=True)
class SafetyLimits:
  workspace_min_m: Tuple[float, float, float] = (-np.inf,) * 3   # TCP box, base frame [m]
  workspace_max_m: Tuple[float, float, float] = (np.inf,) * 3
  max_step_m: float = 0.01              # per axis per period [m]
  max_step_rad: float = 0.05            # per axis per period [rad]
  max_speed_m_per_s: float = 0.1        # commanded twist, per axis [m/s]
  max_angular_speed_rad_per_s: float = 0.5
  max_measured_speed_m_per_s: float = 0.5   # measured TCP speed (norm) that stops the robot
  max_force_n: float = 30.0             # measured force norm that triggers a retreat [N]
  max_torque_nm: float = 3.0            # measured torque norm that triggers a retreat [N m]
  hard_force_n: float = 80.0            # measured force norm that e-stops [N]
  retreat_m: float = 0.002              # retreat per period along the measured force [m]
  retreat_steps: int = 2
  joint_min_rad: Optional[Tuple[float, ...]] = None
  joint_max_rad: Optional[Tuple[float, ...]] = None
  max_joint_step_rad: float = 0.05      # per joint per period
  deadline_s: float = 0.1               # command due this long after its state (one 10 Hz period)
  max_state_age_s: float = 0.5          # no fresh state for this long: stale link
  stuck_samples: int = 5                # identical consecutive samples: stuck sensor
  action_tolerance: float = 1e-3        # normalised actions beyond 1 + this are out of range

  @classmethod
  def from_dict(cls, values: Dict[str, Any]) -> "SafetyLimits":
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
      raise ValueError(f"unknown safety limit(s) {unknown}; known: {sorted(known)}")
    converted = {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in values.items()}
    return cls(**converted)


@dataclasses.dataclass
class SafetyEvent:
  time_s: float
  guard: str
  detail: str


class SafeRobot:
  """The Robot protocol, guarded (see the module docstring)."""

  def __init__(self, robot, limits: SafetyLimits, disabled: Sequence[str] = (),
               watchdog_poll_s: float = 0.002):
    unknown = set(disabled) - set(GUARDS)
    if unknown:
      raise ValueError(f"unknown guard(s) {sorted(unknown)}; guards: {GUARDS}")
    self.robot = robot
    self.limits = limits
    self.enabled = tuple(g for g in GUARDS if g not in disabled)
    self.name, self.joint_names = robot.name, robot.joint_names
    self.control_period_s = robot.control_period_s
    self.events: List[SafetyEvent] = []
    self.estopped = False
    self.stopped_reason: Optional[str] = None
    self.stop_time_s: Optional[float] = None
    self._state: Optional[RobotState] = None
    self._last_joint_target: Optional[np.ndarray] = None
    self._identical = 0
    self._retreat_left = 0
    self._deadline: Optional[float] = None
    self._last_fresh = time.monotonic()
    self._lock = threading.RLock()
    self._closed = threading.Event()
    self._poll_s = watchdog_poll_s
    self._watchdog = None
    if "watchdog" in self.enabled:
      self._watchdog = threading.Thread(target=self._watch, name="safety-watchdog", daemon=True)
      self._watchdog.start()

  # Stops -----------------------------------------------------------------------------------
  def _event(self, guard: str, detail: str) -> None:
    self.events.append(SafetyEvent(time.monotonic(), guard, detail))

  def _halt(self, guard: str, detail: str) -> None:
    with self._lock:
      if self.stopped_reason is None:
        self.stopped_reason = f"{guard}: {detail}"
        self.stop_time_s = time.monotonic()
        self._event(guard, detail)
        self._deadline = None
        try:
          self.robot.stop(self.stopped_reason)
        except Exception as error:  # the link may be the thing that failed
          self._event(guard, f"stop could not be sent: {error}")

  def estop(self, reason: str = "e-stop") -> None:
    self.estopped = True
    self._halt("estop", reason)

  def release(self) -> None:
    """Un-latch an e-stop (a person decided); `reset()` is still needed before commands."""
    self.estopped = False

  def stop(self, reason: str = "") -> None:
    self._halt("stop", reason or "requested")

  def _watch(self) -> None:
    while not self._closed.wait(self._poll_s):
      now = time.monotonic()
      with self._lock:
        if self.stopped_reason is not None or self._state is None:
          continue
        if self._deadline is not None and now > self._deadline:
          late = now - self._deadline + self.limits.deadline_s
          self._halt("watchdog", f"missed deadline: no command {late:.3f} s after the state")
        elif self._deadline is None and now - self._last_fresh > self.limits.max_state_age_s:
          # Only while a command is out and its answer is due (the policy's turn has the deadline).
          self._halt("watchdog", f"stale state: none fresh for {now - self._last_fresh:.3f} s")

  # State -----------------------------------------------------------------------------------
  def latest_state(self) -> Optional[RobotState]:
    return self._state

  def sim_status(self):
    return getattr(self.robot, "sim_status", lambda: None)()

  def _check_state(self, state: RobotState) -> None:
    limits = self.limits
    if "state_check" in self.enabled:
      if not state.is_finite():
        self._halt("state_check", "NaN or Inf in the measured state")
      previous = self._state
      if previous is not None and state.stamp_s > previous.stamp_s and all(
          np.array_equal(a, b) for a, b in zip(state.arrays(), previous.arrays())):
        self._identical += 1
        if self._identical + 1 >= limits.stuck_samples:
          self._halt("state_check", f"stuck sensor: {self._identical + 1} identical samples")
      else:
        self._identical = 0
    if "velocity_limit" in self.enabled:
      speed = float(np.linalg.norm(state.tcp_twist[:3]))
      if np.isfinite(speed) and speed > limits.max_measured_speed_m_per_s:
        self._halt("velocity_limit", f"measured TCP speed {speed:.3f} m/s > {limits.max_measured_speed_m_per_s}")
    if "force_limit" in self.enabled:
      force = float(np.linalg.norm(state.wrench_at_tcp[:3]))
      if np.isfinite(force) and force > limits.hard_force_n:
        self.estopped = True
        self._halt("force_limit", f"|F| = {force:.1f} N > hard limit {limits.hard_force_n} N: e-stop")

  def wait_for_state(self, newer_than_s: float, timeout_s: float) -> RobotState:
    state = self.robot.wait_for_state(newer_than_s, timeout_s)
    with self._lock:
      self._check_state(state)
      self._state = state
      self._last_fresh = time.monotonic()
      if self.stopped_reason is None:
        self._deadline = state.received_s + self.limits.deadline_s
    if self.stopped_reason is not None:
      raise SafetyStop(self.stopped_reason)
    return state

  def reset(self, seed: int = 0, timeout_s: float = 5.0) -> RobotState:
    if self.estopped:
      raise SafetyStop("e-stop latched: release() first")
    with self._lock:
      self._deadline = None
      self.stopped_reason = None
      self.stop_time_s = None
      self._state = None
      self._identical = 0
      self._retreat_left = 0
    state = self.robot.reset(seed, timeout_s)
    with self._lock:
      self._last_joint_target = np.asarray(state.joint_position_rad, np.float64).copy()
      self._check_state(state)
      self._state = state
      self._last_fresh = time.monotonic()
      if self.stopped_reason is None:
        self._deadline = state.received_s + self.limits.deadline_s + 5.0  # first act compiles
    if self.stopped_reason is not None:
      raise SafetyStop(self.stopped_reason)
    return state

  # Commands --------------------------------------------------------------------------------
  def check_action(self, action: np.ndarray) -> None:
    """A normalised policy action: finite and inside [-1, 1] (with tolerance), else refused."""
    action = np.asarray(action, np.float64)
    if "finite_command" not in self.enabled:
      return
    if not np.all(np.isfinite(action)):
      reason = "NaN or Inf in the policy's action: refused"
    elif np.any(np.abs(action) > 1.0 + self.limits.action_tolerance):
      reason = f"action {np.round(action, 4).tolist()} outside [-1, 1]: refused"
    else:
      return
    self._halt("finite_command", reason)
    raise CommandRefused(reason)

  def filter(self, command: Command) -> Command:
    """The command that may be sent (clipped), or CommandRefused."""
    limits, enabled = self.limits, self.enabled
    if "finite_command" in enabled and not all(np.all(np.isfinite(a)) for a in command_arrays(command)):
      self._event("finite_command", f"{type(command).__name__} with NaN/Inf refused")
      raise CommandRefused(f"{type(command).__name__} holds NaN or Inf: refused")
    if isinstance(command, CartesianTwist):
      linear = np.asarray(command.linear_m_per_s, np.float64)
      angular = np.asarray(command.angular_rad_per_s, np.float64)
      if "velocity_limit" in enabled:
        linear = np.clip(linear, -limits.max_speed_m_per_s, limits.max_speed_m_per_s)
        angular = np.clip(angular, -limits.max_angular_speed_rad_per_s, limits.max_angular_speed_rad_per_s)
      command = CartesianMove(linear * command.duration_s, angular * command.duration_s)
    if isinstance(command, CartesianMove):
      delta = np.asarray(command.delta_position_m, np.float64).copy()
      rotation = np.asarray(command.delta_rotation_rad, np.float64).copy()
      state = self._state
      if "force_limit" in enabled and state is not None:
        force = np.asarray(state.wrench_at_tcp[:3], np.float64)
        torque = np.asarray(state.wrench_at_tcp[3:], np.float64)
        if (np.linalg.norm(force) > limits.max_force_n or np.linalg.norm(torque) > limits.max_torque_nm):
          self._retreat_left = limits.retreat_steps
          self._event("force_limit", f"|F| {np.linalg.norm(force):.1f} N, |T| {np.linalg.norm(torque):.2f} N m: retreat")
        if self._retreat_left > 0:
          self._retreat_left -= 1
          direction = force / max(np.linalg.norm(force), 1e-9)
          delta, rotation = limits.retreat_m * direction, np.zeros(3)
      if "step_limit" in enabled:
        delta = np.clip(delta, -limits.max_step_m, limits.max_step_m)
        rotation = np.clip(rotation, -limits.max_step_rad, limits.max_step_rad)
      if "workspace" in enabled and state is not None:
        target = np.clip(state.tcp_position_m + delta, limits.workspace_min_m, limits.workspace_max_m)
        if not np.allclose(target, state.tcp_position_m + delta):
          self._event("workspace", "commanded TCP clipped to the box")
        delta = target - state.tcp_position_m
      return CartesianMove(delta, rotation)
    if isinstance(command, JointTarget):
      target = np.asarray(command.position_rad, np.float64)
      if "joint_limits" in enabled and limits.joint_min_rad is not None:
        low, high = np.asarray(limits.joint_min_rad), np.asarray(limits.joint_max_rad)
        if np.any(target < low) or np.any(target > high):
          self._event("joint_limits", "joint target outside the limits refused")
          raise CommandRefused(f"joint target {np.round(target, 4).tolist()} outside the joint limits")
      if "step_limit" in enabled and self._last_joint_target is not None:
        step = np.max(np.abs(target - self._last_joint_target))
        if step > limits.max_joint_step_rad:
          self._event("step_limit", f"joint step {step:.3f} refused")
          raise CommandRefused(f"joint step {step:.4f} > {limits.max_joint_step_rad} per period: refused")
      return command
    return command

  def send(self, command: Command) -> Command:
    """Sends the guarded command; returns what was sent. Refused commands raise."""
    if isinstance(command, Stop):
      self.stop(command.reason)
      return command
    with self._lock:
      if self.estopped:
        raise CommandRefused("e-stop latched: command refused")
      if self.stopped_reason is not None:
        raise SafetyStop(f"robot stopped ({self.stopped_reason}): command refused")
      self._deadline = None
    if isinstance(command, GripperCommand):
      self.robot.send(command)
      return command
    try:
      sent = self.filter(command)
    except CommandRefused as refusal:
      self._halt(self.events[-1].guard if self.events else "finite_command", str(refusal))
      raise
    if isinstance(sent, JointTarget):
      self._last_joint_target = np.asarray(sent.position_rad, np.float64)
    self.robot.send(sent)
    return sent

  def close(self) -> None:
    self._closed.set()
    if self._watchdog is not None:
      self._watchdog.join(timeout=1.0)
    self.robot.close()
