"""The insertion task as pure JAX functions, shared by both physics backends.

A backend owns the physics (MJX `step` under `lax.scan`, or `mujoco.rollout` on CPU threads);
everything else is here and is the same code for both: sampling the start state, turning a
normalised action into the controller's joint targets for every physics substep, and turning the
physics state (qpos, qvel, mean wrist force-torque reading) into observations, success and
rewards.

Frames. The *true* socket frame is the world frame (origin at the hole entrance centre, z up).
The *nominal* socket frame is where the robot believes the socket is: the true frame shifted by
`goal_offset_m` (a task's fixed socket position error plus per-episode goal noise, privileged),
with yaw read `socket_yaw_rad` (a task's fixed socket yaw error) higher than in the true frame.
Observations are in the nominal frame.

Observation features, in flat-vector order (`OBSERVATION_FEATURES`):
  tcp_pose_in_socket (6): plug-tip position [m] in the nominal socket frame, then the gripper's
    intrinsic x-y-z rotation angles [rad] (0 = upright);
  tcp_velocity (6): the time derivatives of the above [m/s, rad/s];
  wrench (6): force [N] and torque [N m] the environment applies to the plug, in the TCP frame,
    zeroed at reset (low-passed over the last `wrench_filter_substeps` physics steps).
Agents get the flat float32 concatenation; datasets store the named dict.

Actions are normalised to [-1, 1]: "twist" (6-D, ODA) is a TCP velocity in the socket frame
integrated over the policy step; "move" (3-D, LOTJ and chapter 9) is a relative Cartesian move
with the orientation held upright. Both move the impedance controller's target, which is kept
within `max_reference_error` of the measured pose (reference clipping, so contact forces stay
bounded) and interpolated linearly over the substeps.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Tuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxinsert.envs import rewards
from jaxinsert.envs.scene import SceneConfig

OBSERVATION_FEATURES = (("tcp_pose_in_socket", 6), ("tcp_velocity", 6), ("wrench", 6))
OBSERVATION_DIM = sum(size for _, size in OBSERVATION_FEATURES)
ACTION_DIMS = {"twist": 6, "move": 3}
START_KINDS = {"uniform": 0, "ring": 1}


@struct.dataclass
class TaskParams:
  """The per-episode task pytree (vmap-able): ids and start / goal distributions."""

  task_id: jax.Array            # int32
  domain_id: jax.Array          # int32
  start_center_m: jax.Array     # (3,) nominal start of the plug tip, socket frame
  start_half_range_m: jax.Array  # (3,) uniform half-widths around the centre
  start_ring_m: jax.Array       # (2,) inner, outer Chebyshev radius in xy (kind "ring")
  start_kind: jax.Array         # int32, START_KINDS
  goal_noise_m: jax.Array       # uniform +- half-width of the socket position in xy
  socket_offset_m: jax.Array    # (2,) fixed socket position error in xy (a fixture tolerance)
  socket_yaw_rad: jax.Array     # fixed socket yaw error: the nominal frame's yaw reading offset
  grip_height_m: jax.Array      # connector numbers the task logic needs (geometry is in the model)
  depth_m: jax.Array
  clearance_m: jax.Array
  wrench_bias: jax.Array        # (6,) sensor reading of the plug hanging still (zeroed at reset)


@dataclasses.dataclass(frozen=True)
class TaskConfig:
  """Static (compile-time) settings of an insertion environment (shared by its tasks)."""

  scene: SceneConfig = SceneConfig()
  action_mode: str = "twist"
  max_episode_steps: int = 50
  linear_speed_m_per_s: float = 0.02     # twist at |a| = 1
  angular_speed_rad_per_s: float = 0.2
  move_m: float = 0.01                   # relative move at |a| = 1
  max_reference_error_m: float = 0.005
  max_reference_error_rad: float = 0.1
  wrench_filter_substeps: int = 10
  success_depth_tolerance_m: float = 0.001
  success_tilt_rad: float = 0.1
  terminate_on_success: bool = True
  reward: str = "sparse"                 # "sparse" | "dense" (thesis eq. 48)
  dense_inverse_distance_sign: float = 1.0  # eq. 48's beta term: +1 = bonus (our reading)

  @property
  def action_dim(self) -> int:
    return ACTION_DIMS[self.action_mode]


def sample_start(key: jax.Array, task: TaskParams) -> Tuple[jax.Array, jax.Array]:
  """(plug tip start in the nominal frame, true socket offset in the nominal frame)."""
  k_uniform, k_ring_r, k_ring_s, k_ring_side, k_goal = jax.random.split(key, 5)
  uniform = task.start_center_m + task.start_half_range_m * jax.random.uniform(
      k_uniform, (3,), minval=-1.0, maxval=1.0)
  # Ring: a point on the boundary of a square of Chebyshev radius r in [inner, outer].
  radius = jax.random.uniform(k_ring_r, (), minval=task.start_ring_m[0], maxval=task.start_ring_m[1])
  along = jax.random.uniform(k_ring_s, (), minval=-1.0, maxval=1.0) * radius
  side = jax.random.randint(k_ring_side, (), 0, 4)
  ring_xy = jnp.stack([
      jnp.array([radius, along]), jnp.array([-radius, along]),
      jnp.array([along, radius]), jnp.array([along, -radius])])[side]
  ring = uniform.at[:2].set(task.start_center_m[:2] + ring_xy)
  start = jnp.where(task.start_kind == START_KINDS["ring"], ring, uniform)
  goal_xy = task.socket_offset_m + task.goal_noise_m * jax.random.uniform(
      k_goal, (2,), minval=-1.0, maxval=1.0)
  return start, jnp.concatenate([goal_xy, jnp.zeros(1)])


def reset_physics(key: jax.Array, task: TaskParams) -> Dict[str, jax.Array]:
  """Joint positions/velocities, controller target and goal offset of a fresh episode."""
  start_nominal, goal_offset = sample_start(key, task)
  # The robot starts where it believes the start is: in the true frame that is shifted.
  start_true = start_nominal - goal_offset
  # It also starts upright in its nominal frame, i.e. turned by -yaw error against the socket.
  angles_true = jnp.stack([0.0, 0.0, -task.socket_yaw_rad])
  qpos = jnp.concatenate([start_true, angles_true]).astype(jnp.float32)
  return dict(qpos=qpos, qvel=jnp.zeros(6, jnp.float32), target=qpos,
              goal_offset_m=goal_offset.astype(jnp.float32))


def _rot(axis: int, angle: jax.Array) -> jax.Array:
  c, s = jnp.cos(angle), jnp.sin(angle)
  one, zero = jnp.ones_like(c), jnp.zeros_like(c)
  if axis == 0:
    rows = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
  elif axis == 1:
    rows = [[c, zero, s], [zero, one, zero], [-s, zero, c]]
  else:
    rows = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
  return jnp.stack([jnp.stack(r) for r in rows])


def tip_position_m(qpos: jax.Array, grip_height_m: float) -> jax.Array:
  """Plug tip in the true socket frame: the hinges pivot at the grip point above the tip."""
  rotation = _rot(0, qpos[3]) @ _rot(1, qpos[4]) @ _rot(2, qpos[5])
  grip = jnp.array([0.0, 0.0, grip_height_m])
  return qpos[:3] + grip - rotation @ grip


def tip_velocity(qpos: jax.Array, qvel: jax.Array, grip_height_m: float) -> jax.Array:
  _, tangent = jax.jvp(lambda q: tip_position_m(q, grip_height_m), (qpos,), (qvel,))
  return tangent


def plan_controls(target: jax.Array, action: jax.Array, qpos: jax.Array, config: TaskConfig
                  ) -> Tuple[jax.Array, jax.Array]:
  """(new joint target, per-substep controls (substeps, 6)) for one normalised action."""
  action = jnp.clip(action.astype(jnp.float32), -1.0, 1.0)
  if config.action_mode == "twist":
    dt = config.scene.policy_dt_s
    delta = jnp.concatenate([action[:3] * config.linear_speed_m_per_s * dt,
                             action[3:] * config.angular_speed_rad_per_s * dt])
    new_target = target + delta
  else:
    new_target = jnp.concatenate([target[:3] + action * config.move_m, jnp.zeros(3)])
  bound = jnp.array([config.max_reference_error_m] * 3 + [config.max_reference_error_rad] * 3)
  new_target = jnp.clip(new_target, qpos - bound, qpos + bound)
  fractions = jnp.arange(1, config.scene.substeps + 1, dtype=jnp.float32) / config.scene.substeps
  controls = target[None, :] + fractions[:, None] * (new_target - target)[None, :]
  return new_target, controls


def observe(qpos, qvel, wrench_raw, goal_offset_m, task: TaskParams) -> Dict[str, jax.Array]:
  """The named observation features (see the module docstring)."""
  grip = task.grip_height_m
  tip_nominal = tip_position_m(qpos, grip) + goal_offset_m
  angles_nominal = qpos[3:6] + jnp.stack([0.0, 0.0, task.socket_yaw_rad])
  return {
      "tcp_pose_in_socket": jnp.concatenate([tip_nominal, angles_nominal]).astype(jnp.float32),
      "tcp_velocity": jnp.concatenate([tip_velocity(qpos, qvel, grip), qvel[3:6]]).astype(jnp.float32),
      # The sensor gives the carriage's force on the plug; the contact force is its negative.
      "wrench": -(wrench_raw - task.wrench_bias).astype(jnp.float32),
  }


def flatten_observation(features: Dict[str, jax.Array]) -> jax.Array:
  return jnp.concatenate([features[name] for name, _ in OBSERVATION_FEATURES], axis=-1)


def split_observation(flat):
  """Inverse of `flatten_observation` (works on NumPy and JAX arrays, any leading axes)."""
  out, start = {}, 0
  for name, size in OBSERVATION_FEATURES:
    out[name] = flat[..., start:start + size]
    start += size
  return out


def is_success(qpos: jax.Array, task: TaskParams, config: TaskConfig) -> jax.Array:
  """Full depth in the true socket frame, inside the hole, upright (privileged)."""
  tip = tip_position_m(qpos, task.grip_height_m)
  deep = tip[2] <= -task.depth_m + config.success_depth_tolerance_m
  # Generous: below the socket face the walls bound the plug; this only rejects tunnelling.
  lateral = jnp.max(jnp.abs(tip[:2])) <= task.clearance_m + 0.002
  upright = jnp.max(jnp.abs(qpos[3:5])) <= config.success_tilt_rad
  return deep & lateral & upright


def goal_position_m(task: TaskParams) -> jax.Array:
  """The fully inserted tip position in the true socket frame."""
  return jnp.stack([jnp.zeros_like(task.depth_m), jnp.zeros_like(task.depth_m), -task.depth_m])


def privileged_info(qpos, goal_offset_m, task: TaskParams, config: TaskConfig
                    ) -> Dict[str, jax.Array]:
  """What a self-supervised learner must not read: success and the true socket pose."""
  tip = tip_position_m(qpos, task.grip_height_m)
  return {
      "success": is_success(qpos, task, config),
      "socket_position_in_nominal": goal_offset_m,
      "socket_yaw_in_nominal": task.socket_yaw_rad,
      "tip_in_socket": tip,
  }


def transition_outcome(qpos, qvel, wrench_raw, goal_offset_m, task: TaskParams,
                       step_count: jax.Array, config: TaskConfig):
  """(observation features, reward, terminal, truncated, privileged) after a step."""
  features = observe(qpos, qvel, wrench_raw, goal_offset_m, task)
  privileged = privileged_info(qpos, goal_offset_m, task, config)
  success = privileged["success"]
  if config.reward == "dense":
    reward = rewards.dense_reward_eq48(privileged["tip_in_socket"], goal_position_m(task),
                                       features["wrench"][2], success,
                                       config.dense_inverse_distance_sign)
  else:
    reward = rewards.sparse_reward(success)
  terminal = success if config.terminate_on_success else jnp.zeros_like(success)
  truncated = (step_count >= config.max_episode_steps) & ~terminal
  return features, reward, terminal, truncated, privileged
