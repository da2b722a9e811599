"""Ant-Dir (PEARL / SMAC, seed 003 checklist S1 a) as a functional environment.

The body is gymnasium's `Ant-v5` model (`ant.xml`, inside the installed gymnasium package); the
physics step is `envs/mujoco_bodies.py`, shared with Cheetah-Vel. A task is a direction angle
theta; the reward is PEARL's `AntDirEnv.step` as the rlkit `smac` branch ships it
(`rlkit/envs/pearl_envs/ant_dir.py`, read for reference; the paper's own text contradicts
itself, digest B.8 #10):

  reward = v_xy . (cos theta, sin theta) - 0.5 |a|^2 - 0.5e-3 sum clip(cfrc_ext, -1, 1)^2 + 1
  v_xy = (xy_after - xy_before) / dt of the torso (its body frame = the free joint's position),
  dt = 5 x 0.01 s, from qpos after the step. (PEARL's `get_body_com` and gymnasium's `xpos`,
  read after `mj_step`, hold the kinematics of the last substep's start, so their displacement
  is the same 5 substeps shifted by one: a difference of ~1e-3 in the reward.)
  cfrc_ext after the step as gymnasium v5 computes it (`mj_rnePostConstraint`).
  observation (27,) = qpos[2:] (torso height, orientation quaternion, 8 joint angles), qvel
  (14): rlkit's `AntEnv._get_obs` (gymnasium's Ant without contact forces; the paper's 20-D
  drops the height and the torso velocities). reset: qpos0 + U(-0.1, 0.1), 0.1 N(0, 1).
  Horizon 200 (SMAC).

Tasks: rlkit's `sample_tasks` draws theta ~ U[0, 2 pi) (SMAC's saved Ant task list is a binary
file, not read); here `directions(seed, n)` draws them from a seed, over `max_angle` (2 pi, the
whole circle; pi gives the upper half circle).

Termination: PEARL ends an episode when the torso leaves z in [0.2, 1.0]; the fixed-length
scans of `training/meta_rl.py` cannot stop early, so the episode runs on (mask 1) and
`privileged["healthy"]` records it.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxinsert.envs import mujoco_bodies
from jaxinsert.envs.base import EnvSpec, EnvState

BODY = mujoco_bodies.Body(xml="ant.xml", nq=15, nv=14, nu=8, nbody=14, contact_forces=True)
HEALTHY_Z_M = (0.2, 1.0)        # PEARL's (and gymnasium's) healthy torso height


def observation(qpos: jax.Array, qvel: jax.Array) -> jax.Array:
  return jnp.concatenate([qpos[..., 2:], qvel], axis=-1)


@dataclasses.dataclass(frozen=True)
class AntDir:
  """`task` is the direction angle, shape (1,), in radians."""

  backend: str = "c"                  # c | mjx (envs/mujoco_bodies.py)
  max_episode_steps: int = 200        # SMAC's horizon
  ctrl_cost_weight: float = 0.5       # PEARL: .5 * |a|^2
  contact_cost_weight: float = 0.5e-3  # PEARL: 0.5 * 1e-3 * sum clip(cfrc_ext)^2
  survive_reward: float = 1.0         # PEARL
  reset_noise_scale: float = 0.1      # gymnasium v5 and PEARL

  def __post_init__(self):
    mujoco_bodies.check_backend(BODY, self.backend)

  @property
  def spec(self) -> EnvSpec:
    return EnvSpec(obs_shape=(BODY.nq - 2 + BODY.nv,), action_dim=BODY.nu,
                   max_episode_steps=self.max_episode_steps)

  @property
  def dt(self) -> float:
    return BODY.frame_skip * 0.01

  def reward(self, xy_before: jax.Array, xy_after: jax.Array, action: jax.Array,
             contact_forces: jax.Array, angle: jax.Array) -> jax.Array:
    direction = jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=-1)
    forward = jnp.sum((xy_after - xy_before) / self.dt * direction, axis=-1)
    ctrl_cost = self.ctrl_cost_weight * jnp.sum(jnp.square(action), axis=-1)
    contact_cost = self.contact_cost_weight * jnp.sum(
        jnp.square(jnp.clip(contact_forces, -1.0, 1.0)), axis=(-2, -1))
    return forward - ctrl_cost - contact_cost + self.survive_reward

  def reset(self, key: jax.Array, task=None) -> EnvState:
    if task is None:
      raise ValueError("AntDir.reset needs a task (the direction angle, shape (1,))")
    return mujoco_bodies.reset_state(BODY, key, task, self.reset_noise_scale, observation,
                                     {"healthy": jnp.bool_(True),
                                      "velocity": jnp.zeros(2, jnp.float32)})

  def step(self, state: EnvState, action: jax.Array) -> EnvState:
    action = jnp.clip(action, -1.0, 1.0)
    qpos, qvel = state.physics["qpos"], state.physics["qvel"]
    new_qpos, new_qvel, forces = mujoco_bodies.physics_step(BODY, self.backend, qpos, qvel,
                                                            action)
    reward = self.reward(qpos[..., :2], new_qpos[..., :2], action, forces, state.task[..., 0])
    height = new_qpos[..., 2]
    return mujoco_bodies.stepped_state(
        state, new_qpos, new_qvel, observation(new_qpos, new_qvel), reward,
        self.max_episode_steps,
        {"healthy": (height >= HEALTHY_Z_M[0]) & (height <= HEALTHY_Z_M[1]),
         "velocity": (new_qpos[..., :2] - qpos[..., :2]) / self.dt})


def directions(seed: int, num_tasks: int, max_angle: float = 2 * np.pi) -> np.ndarray:
  """[num_tasks, 1] direction angles ~ U[0, max_angle) from `seed` (rlkit: the whole circle)."""
  if not 0 < max_angle <= 2 * np.pi:
    raise ValueError(f"max_angle must be in (0, 2 pi], got {max_angle}")
  return np.random.default_rng(seed).uniform(0.0, max_angle, (num_tasks, 1)).astype(np.float32)
