"""Cheetah-Vel (PEARL / SMAC, seed 003 checklist S1 a) as a functional environment.

The body is gymnasium's `HalfCheetah-v5` model (its XML ships inside the installed gymnasium
package; nothing is downloaded). A task is a target forward velocity v* (PEARL's
`HalfCheetahVelEnv`, which SMAC's rlkit branch uses unchanged):

  reward = -|v_x - v*| - 0.05 * |a|^2,  v_x = (x_after - x_before) / dt,  dt = 5 x 0.01 s
  observation (20,) = qpos[1:] (8), qvel (9), the torso body's position (3): PEARL's
  `_get_obs` (`get_body_com("torso")`, which is the body frame's position, absolute x included)
  reset: qpos0 + U(-0.1, 0.1), qvel0 + 0.1 N(0, 1) (gymnasium v5 and PEARL); horizon 200 (SMAC);
  no termination (a time limit keeps mask 1).

The torso's position is (x, 0, 0.7 + z) for the root slide joints: computed from qpos, checked
against MuJoCo's kinematics in tests/test_cheetah_vel.py.

The physics (MuJoCo's C library through `jax.pure_callback` on CPU, or MJX) is
`envs/mujoco_bodies.py`, shared with Ant-Dir.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxinsert.envs import mujoco_bodies
from jaxinsert.envs.base import EnvSpec, EnvState

TORSO_HEIGHT_M = 0.7      # the torso body's pos in the XML: its z at rootz = 0
BODY = mujoco_bodies.Body(xml="half_cheetah.xml", nq=9, nv=9, nu=6, nbody=8)
FRAME_SKIP, NQ, NV, NU = BODY.frame_skip, BODY.nq, BODY.nv, BODY.nu


def mujoco_model():
  return mujoco_bodies.mujoco_model(BODY)


def observation(qpos: jax.Array, qvel: jax.Array) -> jax.Array:
  torso = jnp.stack([qpos[..., 0], jnp.zeros_like(qpos[..., 0]), TORSO_HEIGHT_M + qpos[..., 1]],
                    axis=-1)
  return jnp.concatenate([qpos[..., 1:], qvel, torso], axis=-1)


@dataclasses.dataclass(frozen=True)
class HalfCheetahVel:
  """`task` is the target velocity, shape (1,), in m/s."""

  backend: str = "c"                 # c | mjx (module docstring)
  max_episode_steps: int = 200       # SMAC's horizon for Cheetah-Vel
  ctrl_cost_weight: float = 0.05     # PEARL: 0.5 * 1e-1 * |a|^2
  reset_noise_scale: float = 0.1     # gymnasium v5 and PEARL

  def __post_init__(self):
    mujoco_bodies.check_backend(BODY, self.backend)

  @property
  def spec(self) -> EnvSpec:
    return EnvSpec(obs_shape=(20,), action_dim=NU, max_episode_steps=self.max_episode_steps)

  @property
  def dt(self) -> float:
    return FRAME_SKIP * 0.01

  def reward(self, x_before: jax.Array, x_after: jax.Array, action: jax.Array,
             target_velocity: jax.Array) -> jax.Array:
    velocity = (x_after - x_before) / self.dt
    return (-jnp.abs(velocity - target_velocity)
            - self.ctrl_cost_weight * jnp.sum(jnp.square(action), axis=-1))

  def reset(self, key: jax.Array, task=None) -> EnvState:
    if task is None:
      raise ValueError("HalfCheetahVel.reset needs a task (the target velocity, shape (1,))")
    return mujoco_bodies.reset_state(BODY, key, task, self.reset_noise_scale, observation,
                                     {"velocity": jnp.float32(0.0)})

  def step(self, state: EnvState, action: jax.Array) -> EnvState:
    action = jnp.clip(action, -1.0, 1.0)
    qpos, qvel = state.physics["qpos"], state.physics["qvel"]
    new_qpos, new_qvel = mujoco_bodies.physics_step(BODY, self.backend, qpos, qvel, action)
    target = state.task[..., 0]
    reward = self.reward(qpos[..., 0], new_qpos[..., 0], action, target)
    return mujoco_bodies.stepped_state(
        state, new_qpos, new_qvel, observation(new_qpos, new_qvel), reward,
        self.max_episode_steps, {"velocity": (new_qpos[..., 0] - qpos[..., 0]) / self.dt})


def target_velocities(seed: int, num_tasks: int, low: float = 0.0, high: float = 3.0
                      ) -> np.ndarray:
  """[num_tasks, 1] target velocities ~ U[low, high] from `seed` (PEARL: U[0, 3])."""
  return np.random.default_rng(seed).uniform(low, high, (num_tasks, 1)).astype(np.float32)
