"""The robot loop: state -> policy observation -> action -> command -> safety layer -> robot.

`run_episode` is the 10 Hz loop on the robot's clock: it waits for a state newer than the last
one, builds the policy's observation in the task frame, asks the policy, converts the normalised
action into a Cartesian command, and sends it through the `SafeRobot`. A stop of any guard, a
lost robot or a refused command ends the episode with that status; the robot is left holding.

Task frame (`TaskFrame`): the socket frame's origin in the base frame (axes aligned), measured by
the lab (here: the simulated server's `socket_in_base_m`). The observation is the insertion
environment's: tcp_pose_in_socket (position [m], intrinsic x-y-z angles [rad]), tcp_velocity
[m/s, rad/s], wrench [N, N m] zeroed at reset.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np
from scipy.spatial.transform import Rotation

from jaxinsert.robots.protocol import CartesianMove, CartesianTwist, RobotError, RobotState


@dataclasses.dataclass(frozen=True)
class TaskFrame:
  socket_in_base_m: tuple = (0.6, 0.0, 0.1)
  zero_wrench_at_reset: bool = True

  def observation(self, state: RobotState, wrench_bias: np.ndarray) -> np.ndarray:
    position = np.asarray(state.tcp_position_m, np.float64) - np.asarray(self.socket_in_base_m)
    angles = Rotation.from_quat(np.asarray(state.tcp_quaternion_xyzw, np.float64)).as_euler("XYZ")
    wrench = np.asarray(state.wrench_at_tcp, np.float64) - wrench_bias
    return np.concatenate([position, angles, state.tcp_twist, wrench]).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class ActionSemantics:
  """What a normalised action means (from the policy's run: `Policy.action_semantics`)."""

  mode: str = "move"                       # "move" (3-D relative move) | "twist" (6-D velocity)
  move_m: float = 0.01                     # move at |a| = 1 [m]
  linear_speed_m_per_s: float = 0.02       # twist at |a| = 1
  angular_speed_rad_per_s: float = 0.2
  policy_dt_s: float = 0.1

  @classmethod
  def from_dict(cls, values: Optional[Dict[str, Any]]) -> "ActionSemantics":
    values = values or {}
    return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values})

  def command(self, action: np.ndarray):
    action = np.asarray(action, np.float64)
    if self.mode == "move":
      return CartesianMove(action[:3] * self.move_m, np.zeros(3))
    return CartesianTwist(action[:3] * self.linear_speed_m_per_s, action[3:6] * self.angular_speed_rad_per_s,
                          self.policy_dt_s)

  def normalised_twist(self, sent: CartesianMove) -> np.ndarray:
    """The executed move as the log specs' 6-D normalised twist."""
    if self.mode == "move":
      return np.concatenate([np.asarray(sent.delta_position_m) / self.move_m, np.zeros(3)])
    dt = self.policy_dt_s
    return np.concatenate([np.asarray(sent.delta_position_m) / (self.linear_speed_m_per_s * dt),
                           np.asarray(sent.delta_rotation_rad) / (self.angular_speed_rad_per_s * dt)])


@dataclasses.dataclass
class EpisodeResult:
  seed: int
  success: bool
  steps: int
  status: str                              # success | time_limit | stopped: <reason> | lost: <reason>
  observations: List[np.ndarray]
  actions: List[np.ndarray]                # the policy's actions
  sent: List[np.ndarray]                   # executed, normalised twist (6)
  loop_times_s: List[float]                # host time at each state receipt
  act_latency_s: List[float]


def _success(robot, state: RobotState, wait_s: float = 0.05) -> Optional[bool]:
  """The simulated server's success flag for `state` (None on a real robot)."""
  deadline = time.monotonic() + wait_s
  while True:
    status = getattr(robot, "sim_status", lambda: None)()
    if status is None:
      return None
    if abs(status[0] - state.stamp_s) < 1e-6:
      return bool(status[2])
    if time.monotonic() > deadline:
      return None
    time.sleep(0.001)


def run_episode(act: Callable[[np.ndarray], np.ndarray], robot, frame: TaskFrame,
                semantics: ActionSemantics, seed: int, max_steps: int, state_timeout_s: float = 1.0,
                logger=None, success_fn: Optional[Callable[[RobotState], bool]] = None) -> EpisodeResult:
  """One episode (see the module docstring); bounded by `max_steps` and `state_timeout_s` per step."""
  result = EpisodeResult(seed, False, 0, "time_limit", [], [], [], [], [])
  try:
    state = robot.reset(seed)
  except RobotError as error:
    result.status = f"lost: {error}"
    return result
  bias = np.asarray(state.wrench_at_tcp, np.float64) if frame.zero_wrench_at_reset else np.zeros(6)
  if not np.all(np.isfinite(bias)):
    bias = np.zeros(6)
  if logger is not None:
    logger.begin(state)
  for step in range(max_steps):
    result.loop_times_s.append(time.monotonic())
    obs = frame.observation(state, bias)
    result.observations.append(obs)
    try:
      started = time.perf_counter()
      action = np.asarray(act(obs))
      result.act_latency_s.append(time.perf_counter() - started)
      result.actions.append(action)
      if hasattr(robot, "check_action"):
        robot.check_action(action)
      sent = robot.send(semantics.command(action))
      executed = semantics.normalised_twist(sent) if isinstance(sent, CartesianMove) else np.zeros(6)
      result.sent.append(executed)
      previous = state
      state = robot.wait_for_state(state.stamp_s, state_timeout_s)
    except RobotError as error:
      result.status = f"stopped: {error}"
      robot.stop(str(error))
      return result
    except ValueError as error:  # an observation the policy refuses (ObservationError)
      result.status = f"stopped: {error}"
      robot.stop(str(error))
      return result
    result.steps = step + 1
    success = success_fn(state) if success_fn is not None else _success(robot, state)
    if logger is not None:
      logger.action(previous, executed, reward=float(bool(success)))
      if success:
        logger.success(previous)
      logger.state(state)
    if success:
      result.success, result.status = True, "success"
      break
  if result.status == "time_limit":
    result.observations.append(frame.observation(state, bias))
  return result
