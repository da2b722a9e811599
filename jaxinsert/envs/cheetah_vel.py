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

Two physics backends behind the same pure `reset` / `step`:
  "c"   (CPU default): MuJoCo's C library through `jax.pure_callback` (a batch of environments is
        one `mujoco.rollout` call of 5 substeps; under `vmap` the callback sees the whole batch),
        so the jitted, vmapped loops of `training/smac_loops.py` run unchanged. On this CPU it is
        about 20-50x faster than MJX; on an accelerator each step is a host round trip.
  "mjx": MJX, for accelerators (CG solver and the sparse mass matrix: no LAPACK Cholesky, the
        call that deadlocked MJX on this CPU; gymnasium's model uses Newton).
The physics state is carried in float32 between policy steps (the C library computes in
float64 within a step), and the constraint solver starts cold every policy step (as the
insertion backends do), so trajectories match gymnasium's to float32 rounding, not bit for bit.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading

import jax
import jax.numpy as jnp
import numpy as np

from jaxinsert.envs.base import EnvSpec, EnvState

FRAME_SKIP = 5
TORSO_HEIGHT_M = 0.7      # the torso body's pos in the XML: its z at rootz = 0
NQ, NV, NU = 9, 9, 6


def model_path() -> str:
  import gymnasium

  path = os.path.join(os.path.dirname(gymnasium.__file__), "envs", "mujoco", "assets",
                      "half_cheetah.xml")
  if not os.path.exists(path):
    raise FileNotFoundError(f"gymnasium's HalfCheetah model is missing at {path}; "
                            "install gymnasium[mujoco] (setup.cfg pins it)")
  return path


@functools.lru_cache(maxsize=None)
def mujoco_model():
  import mujoco

  model = mujoco.MjModel.from_xml_path(model_path())
  if (model.nq, model.nv, model.nu) != (NQ, NV, NU):
    raise RuntimeError(f"unexpected HalfCheetah sizes nq={model.nq} nv={model.nv} nu={model.nu}")
  return model


@functools.lru_cache(maxsize=None)
def _mjx_model():
  import copy

  import mujoco
  from mujoco import mjx

  model = copy.copy(mujoco_model())
  model.opt.solver = mujoco.mjtSolver.mjSOL_CG
  model.opt.jacobian = mujoco.mjtJacobian.mjJAC_SPARSE
  with jax.ensure_compile_time_eval():  # concrete arrays even when first built inside a trace
    return mjx.put_model(model)


class _CStepper:
  """A persistent `mujoco.rollout` pool; one call steps a whole batch (thread-safe)."""

  def __init__(self):
    import mujoco
    import mujoco.rollout

    self.model = mujoco_model()
    self.nthread = max(1, min(os.cpu_count() or 1, 4))
    self.rollout = mujoco.rollout.Rollout(nthread=self.nthread)
    self.datas = [mujoco.MjData(self.model) for _ in range(self.nthread)]
    self.lock = threading.Lock()

  def __call__(self, qpos: np.ndarray, qvel: np.ndarray, action: np.ndarray):
    batch_shape = qpos.shape[:-1]
    qpos = np.asarray(qpos, np.float64).reshape(-1, NQ)
    qvel = np.asarray(qvel, np.float64).reshape(-1, NV)
    count = qpos.shape[0]
    initial = np.concatenate([np.zeros((count, 1)), qpos, qvel], axis=1)
    controls = np.repeat(np.asarray(action, np.float64).reshape(count, 1, NU), FRAME_SKIP, 1)
    with self.lock:
      state, _ = self.rollout.rollout([self.model] * count, self.datas, initial, controls,
                                      initial_warmstart=np.zeros((count, NV)), nstep=FRAME_SKIP)
    last = state[:, -1]
    return (last[:, 1:1 + NQ].astype(np.float32).reshape(batch_shape + (NQ,)),
            last[:, 1 + NQ:1 + NQ + NV].astype(np.float32).reshape(batch_shape + (NV,)))


@functools.lru_cache(maxsize=None)
def _c_stepper() -> _CStepper:
  return _CStepper()


def _c_physics_step(qpos: jax.Array, qvel: jax.Array, action: jax.Array):
  shapes = (jax.ShapeDtypeStruct(qpos.shape, jnp.float32),
            jax.ShapeDtypeStruct(qvel.shape, jnp.float32))
  return jax.pure_callback(lambda q, v, a: _c_stepper()(q, v, a), shapes, qpos, qvel, action,
                           vmap_method="broadcast_all")


def _mjx_physics_step(qpos: jax.Array, qvel: jax.Array, action: jax.Array):
  from mujoco import mjx

  model = _mjx_model()
  data = mjx.make_data(model).replace(qpos=qpos, qvel=qvel, ctrl=action)

  def substep(d, _):
    return mjx.step(model, d), None

  data, _ = jax.lax.scan(substep, data, None, length=FRAME_SKIP)
  return data.qpos.astype(jnp.float32), data.qvel.astype(jnp.float32)


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
    if self.backend not in ("c", "mjx"):
      raise ValueError(f"backend must be 'c' or 'mjx', got {self.backend!r}")
    if self.backend == "mjx":
      _mjx_model()

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
    pos_key, vel_key, key = jax.random.split(key, 3)
    scale = self.reset_noise_scale
    qpos = jax.random.uniform(pos_key, (NQ,), jnp.float32, -scale, scale)
    qvel = scale * jax.random.normal(vel_key, (NV,), jnp.float32)
    false = jnp.bool_(False)
    return EnvState(physics={"qpos": qpos, "qvel": qvel}, task=jnp.asarray(task, jnp.float32),
                    obs=observation(qpos, qvel), reward=jnp.float32(0.0), terminal=false,
                    truncated=false, step_count=jnp.int32(0), key=key,
                    privileged={"velocity": jnp.float32(0.0)})

  def step(self, state: EnvState, action: jax.Array) -> EnvState:
    action = jnp.clip(action, -1.0, 1.0)
    qpos, qvel = state.physics["qpos"], state.physics["qvel"]
    physics_step = _c_physics_step if self.backend == "c" else _mjx_physics_step
    new_qpos, new_qvel = physics_step(qpos, qvel, action)
    target = state.task[..., 0]
    reward = self.reward(qpos[..., 0], new_qpos[..., 0], action, target)
    step_count = state.step_count + 1
    return EnvState(physics={"qpos": new_qpos, "qvel": new_qvel}, task=state.task,
                    obs=observation(new_qpos, new_qvel), reward=reward.astype(jnp.float32),
                    terminal=jnp.bool_(False), truncated=step_count >= self.max_episode_steps,
                    step_count=step_count, key=state.key,
                    privileged={"velocity": (new_qpos[..., 0] - qpos[..., 0]) / self.dt})


def target_velocities(seed: int, num_tasks: int, low: float = 0.0, high: float = 3.0
                      ) -> np.ndarray:
  """[num_tasks, 1] target velocities ~ U[low, high] from `seed` (PEARL: U[0, 3])."""
  return np.random.default_rng(seed).uniform(low, high, (num_tasks, 1)).astype(np.float32)
