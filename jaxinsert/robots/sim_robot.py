"""The simulated robot behind the servers: one insertion environment seen as a robot.

The robot is the simulator's compliant carriage: six joints (TCP x, y, z [m], then intrinsic
x-y-z angles [rad]) reported as the first six of seven joints (the seventh reads 0), under the
simulator's Cartesian impedance controller at 500 Hz. Physics advances in policy periods
(0.1 s, `TaskConfig.scene.policy_dt_s`).

Frames: the robot's *base* frame is the nominal socket frame shifted by `socket_in_base_m`
(axes aligned), i.e. a calibration the client must know; TCP pose, twist and wrench are the
environment's observation expressed there. Joint targets are read as increments: the move
applied in a period is the difference between this period's joint target and the last one,
the simulator's controller clipping its reference to the measured pose (as SERL's does).
No command in a period (the intera command timeout, a missed FRI deadline) means hold.

Everything the robot measured and every action it applied is recorded per step (`records`),
which is the ground truth the logging round trip and the safety tests compare against.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

import numpy as np
from scipy.spatial.transform import Rotation

from jaxinsert.envs import factory, insertion

NUM_JOINTS = 7


@dataclasses.dataclass
class Measurement:
  """One sample of the simulated robot, robot clock and base frame (see module docstring)."""

  stamp_s: float
  step: int
  tcp_position_m: np.ndarray        # (3,)
  tcp_quaternion_xyzw: np.ndarray   # (4,)
  tcp_twist: np.ndarray             # (6,)
  wrench_at_tcp: np.ndarray         # (6,)
  joint_position_rad: np.ndarray    # (7,)
  joint_velocity_rad_per_s: np.ndarray
  joint_torque_nm: np.ndarray
  success: bool = False
  done: bool = False

  def replace(self, **changes) -> "Measurement":
    return dataclasses.replace(self, **changes)


def quaternion_from_angles(angles_rad: np.ndarray) -> np.ndarray:
  """Intrinsic x-y-z angles (the simulator's hinge order) -> quaternion (x, y, z, w)."""
  return Rotation.from_euler("XYZ", np.asarray(angles_rad, np.float64)).as_quat()


def angles_from_quaternion(quaternion_xyzw: np.ndarray) -> np.ndarray:
  return Rotation.from_quat(np.asarray(quaternion_xyzw, np.float64)).as_euler("XYZ")


class SimulatedInsertionRobot:
  """One insertion task on the CPU backend, stepped one policy period at a time."""

  def __init__(self, task: str = "lotj/dt12@robot0", socket_in_base_m=(0.6, 0.0, 0.1),
               env_kwargs: Optional[Dict[str, Any]] = None):
    self.env = factory.make(task, backend="c", num_envs=1, **(env_kwargs or {}))
    self.config = self.env.config
    self.task = task
    self.socket_in_base_m = np.asarray(socket_in_base_m, np.float64)
    self.period_s = float(self.config.scene.policy_dt_s)
    self.records: List[Dict[str, Any]] = []
    self.episode = -1
    self.step_index = 0
    self.time_s = 0.0
    self.done = True
    self._last_target: Optional[np.ndarray] = None
    self._current: Optional[Measurement] = None
    self._warm_up()

  def _warm_up(self) -> None:
    """Compile the environment's jitted reset and step now, not inside a client's deadline."""
    self.reset(0)
    self.step(None)
    self.records.clear()
    self.episode, self.step_index, self.time_s, self.done = -1, 0, 0.0, True
    self._current = None

  # --- units of the simulator's normalised action --------------------------------------------
  def action_from_increment(self, increment: np.ndarray) -> np.ndarray:
    """The environment's normalised action for a joint-target increment over one period."""
    config = self.config
    if config.action_mode == "move":
      return (increment[:3] / config.move_m).astype(np.float32)
    dt = config.scene.policy_dt_s
    return np.concatenate([increment[:3] / (config.linear_speed_m_per_s * dt),
                           increment[3:6] / (config.angular_speed_rad_per_s * dt)]).astype(np.float32)

  def _measure(self, flat_obs: np.ndarray, qpos: np.ndarray, qvel: np.ndarray,
               success: bool = False, done: bool = False) -> Measurement:
    features = insertion.split_observation(np.asarray(flat_obs, np.float64))
    pose = features["tcp_pose_in_socket"]
    joints = np.zeros(NUM_JOINTS)
    joints[:6] = qpos
    velocities = np.zeros(NUM_JOINTS)
    velocities[:6] = qvel
    return Measurement(
        stamp_s=self.time_s, step=self.step_index,
        tcp_position_m=pose[:3] + self.socket_in_base_m,
        tcp_quaternion_xyzw=quaternion_from_angles(pose[3:6]),
        tcp_twist=np.asarray(features["tcp_velocity"], np.float64),
        wrench_at_tcp=np.asarray(features["wrench"], np.float64),
        joint_position_rad=joints, joint_velocity_rad_per_s=velocities,
        joint_torque_nm=np.zeros(NUM_JOINTS), success=success, done=done)

  def reset(self, seed: int, time_s: Optional[float] = None) -> Measurement:
    obs = self.env.reset(int(seed))[0]
    physics = self.env.physics_state
    self.episode += 1
    self.step_index = 0
    self.time_s = self.time_s + 1.0 if time_s is None else time_s  # a pause between episodes
    self.done = False
    self._last_target = self.joint_target_reference(physics["qpos"][0])
    self._current = self._measure(obs, physics["qpos"][0], physics["qvel"][0])
    self.records.append(self._record(self._current, None, None, seed=seed))
    return self._current

  @staticmethod
  def joint_target_reference(qpos6: np.ndarray) -> np.ndarray:
    reference = np.zeros(NUM_JOINTS)
    reference[:6] = qpos6
    return reference

  @property
  def current(self) -> Optional[Measurement]:
    return self._current

  def step(self, joint_target: Optional[np.ndarray]) -> Measurement:
    """Advance one period under `joint_target` (None = hold: no move this period)."""
    if self.done or self._current is None:
      return self._current
    if joint_target is None:
      increment = np.zeros(NUM_JOINTS)
    else:
      joint_target = np.asarray(joint_target, np.float64)
      increment = joint_target - self._last_target
      self._last_target = joint_target
    action = self.action_from_increment(increment)
    obs, reward, terminal, truncated, info = self.env.step(action[None])
    self.step_index += 1
    self.time_s += self.period_s
    done = bool(terminal[0] or truncated[0])
    qpos = self.env.last_final_qpos[0]
    # Velocity of the true next state: the host state holds the reset one when the episode ended.
    qvel = self.env.physics_state["qvel"][0] if not done else np.zeros(6)
    measurement = self._measure(info["final_obs"][0], qpos, qvel, bool(info["success"][0]), done)
    if done:
      # The measured velocity of the final state is in final_obs (features); joints hold.
      measurement = measurement.replace(joint_velocity_rad_per_s=np.zeros(NUM_JOINTS))
    self.records[-1].update(action=action, increment=increment, reward=float(reward[0]),
                            commanded=joint_target is not None)
    self.done = done
    self._current = measurement
    self.records.append(self._record(measurement, None, None))
    return measurement

  def _record(self, measurement: Measurement, action, increment, seed=None) -> Dict[str, Any]:
    return {"episode": self.episode, "step": measurement.step, "stamp_s": measurement.stamp_s,
            "measurement": measurement, "action": action, "increment": increment, "reward": 0.0,
            "success": measurement.success, "done": measurement.done, "seed": seed,
            "commanded": False}

  def episode_records(self, episode: int) -> List[Dict[str, Any]]:
    return [r for r in self.records if r["episode"] == episode]

  def close(self) -> None:
    self.env.close()


def finite_or_nan(values: np.ndarray) -> bool:
  return bool(np.all(np.isfinite(values)))


