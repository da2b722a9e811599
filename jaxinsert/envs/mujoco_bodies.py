"""Gymnasium's MuJoCo bodies (HalfCheetah, Ant) as a pure physics step for the functional
meta-RL families (`envs/cheetah_vel.py`, `envs/ant_dir.py`): one mechanism, two backends.

A `Body` names a model XML that ships inside the installed gymnasium package (nothing is
downloaded), its sizes and its frame skip. `physics_step(body, backend, qpos, qvel, action)`
advances `frame_skip` substeps and returns float32 (qpos, qvel), plus the external contact
forces `cfrc_ext` [nbody, 6] after the step when `body.contact_forces` (Ant's contact cost):
  "c"   (CPU default): MuJoCo's C library through `jax.pure_callback` (a batch of environments is
        one `mujoco.rollout` call; under `vmap` the callback sees the whole batch), so jitted,
        vmapped loops run unchanged. On this CPU it is about 20-50x faster than MJX; on an
        accelerator each step is a host round trip. Contact forces: the last substep stepped
        again per environment, then `mj_rnePostConstraint`, which is what gymnasium reads.
  "mjx": MJX, for accelerators (CG solver and the sparse mass matrix: no LAPACK Cholesky, the
        call that deadlocked MJX on this CPU; gymnasium's models use Newton); contact forces from
        `mjx.rne_postconstraint` after the last substep (not checked against the C library
        here: no accelerator was at hand when the Ant was added).
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

from jaxinsert.envs.base import EnvState

BACKENDS = ("c", "mjx")


@dataclasses.dataclass(frozen=True)
class Body:
  xml: str                        # file name under gymnasium/envs/mujoco/assets
  nq: int
  nv: int
  nu: int
  nbody: int
  frame_skip: int = 5
  contact_forces: bool = False    # also return cfrc_ext after the step

  @property
  def dt(self) -> float:
    return self.frame_skip * float(mujoco_model(self).opt.timestep)


def model_path(body: Body) -> str:
  import gymnasium

  path = os.path.join(os.path.dirname(gymnasium.__file__), "envs", "mujoco", "assets", body.xml)
  if not os.path.exists(path):
    raise FileNotFoundError(f"gymnasium's {body.xml} is missing at {path}; install "
                            "gymnasium[mujoco] (setup.cfg pins it)")
  return path


@functools.lru_cache(maxsize=None)
def mujoco_model(body: Body):
  import mujoco

  model = mujoco.MjModel.from_xml_path(model_path(body))
  sizes = (model.nq, model.nv, model.nu, model.nbody)
  if sizes != (body.nq, body.nv, body.nu, body.nbody):
    raise RuntimeError(f"unexpected sizes of {body.xml}: (nq, nv, nu, nbody) = {sizes}, "
                       f"expected {(body.nq, body.nv, body.nu, body.nbody)}")
  return model


@functools.lru_cache(maxsize=None)
def _mjx_model(body: Body):
  import copy

  import mujoco
  from mujoco import mjx

  model = copy.copy(mujoco_model(body))
  model.opt.solver = mujoco.mjtSolver.mjSOL_CG
  model.opt.jacobian = mujoco.mjtJacobian.mjJAC_SPARSE
  with jax.ensure_compile_time_eval():  # concrete arrays even when first built inside a trace
    return mjx.put_model(model)


def check_backend(body: Body, backend: str) -> None:
  """Refuses an unknown backend naming the field; builds the MJX model early (it fails fast)."""
  if backend not in BACKENDS:
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
  if backend == "mjx":
    _mjx_model(body)


class _CStepper:
  """A persistent `mujoco.rollout` pool for one body; one call steps a whole batch."""

  def __init__(self, body: Body):
    import mujoco
    import mujoco.rollout

    self.body = body
    self.model = mujoco_model(body)
    self.nthread = max(1, min(os.cpu_count() or 1, 4))
    self.rollout = mujoco.rollout.Rollout(nthread=self.nthread)
    self.datas = [mujoco.MjData(self.model) for _ in range(self.nthread)]
    self.lock = threading.Lock()

  def __call__(self, qpos: np.ndarray, qvel: np.ndarray, action: np.ndarray):
    body = self.body
    batch_shape = qpos.shape[:-1]
    qpos = np.asarray(qpos, np.float64).reshape(-1, body.nq)
    qvel = np.asarray(qvel, np.float64).reshape(-1, body.nv)
    count = qpos.shape[0]
    initial = np.concatenate([np.zeros((count, 1)), qpos, qvel], axis=1)
    controls = np.repeat(np.asarray(action, np.float64).reshape(count, 1, body.nu),
                         body.frame_skip, 1)
    with self.lock:
      state, _ = self.rollout.rollout([self.model] * count, self.datas, initial, controls,
                                      initial_warmstart=np.zeros((count, body.nv)),
                                      nstep=body.frame_skip)
      last = state[:, -1]
      new_qpos = last[:, 1:1 + body.nq]
      new_qvel = last[:, 1 + body.nq:1 + body.nq + body.nv]
      outputs = (new_qpos.astype(np.float32).reshape(batch_shape + (body.nq,)),
                 new_qvel.astype(np.float32).reshape(batch_shape + (body.nv,)))
      if body.contact_forces:
        before_last = state[:, -2] if body.frame_skip > 1 else initial
        forces = self._contact_forces(before_last[:, 1:1 + body.nq],
                                      before_last[:, 1 + body.nq:1 + body.nq + body.nv],
                                      controls[:, -1])
        outputs += (forces.astype(np.float32).reshape(batch_shape + (body.nbody, 6)),)
    return outputs

  def _contact_forces(self, qpos, qvel, ctrl) -> np.ndarray:
    """cfrc_ext as gymnasium reads it after `mj_step` + `mj_rnePostConstraint`: the last
    substep is stepped again from the state before it (with the model's integrator: the Ant's
    RK4 leaves the contacts of its last stage in the data, not those of the start state)."""
    import mujoco

    data, forces = self.datas[0], np.empty((qpos.shape[0], self.body.nbody, 6))
    for index in range(qpos.shape[0]):
      data.qpos[:], data.qvel[:], data.ctrl[:] = qpos[index], qvel[index], ctrl[index]
      data.qacc_warmstart[:] = 0.0
      mujoco.mj_step(self.model, data)
      mujoco.mj_rnePostConstraint(self.model, data)
      forces[index] = data.cfrc_ext
    return forces


@functools.lru_cache(maxsize=None)
def _c_stepper(body: Body) -> _CStepper:
  return _CStepper(body)


def _output_shapes(body: Body, batch_shape):
  shapes = (jax.ShapeDtypeStruct(batch_shape + (body.nq,), jnp.float32),
            jax.ShapeDtypeStruct(batch_shape + (body.nv,), jnp.float32))
  if body.contact_forces:
    shapes += (jax.ShapeDtypeStruct(batch_shape + (body.nbody, 6), jnp.float32),)
  return shapes


def _c_physics_step(body: Body, qpos: jax.Array, qvel: jax.Array, action: jax.Array):
  return jax.pure_callback(lambda q, v, a: _c_stepper(body)(q, v, a),
                           _output_shapes(body, qpos.shape[:-1]), qpos, qvel, action,
                           vmap_method="broadcast_all")


def _mjx_physics_step(body: Body, qpos: jax.Array, qvel: jax.Array, action: jax.Array):
  from mujoco import mjx

  model = _mjx_model(body)
  data = mjx.make_data(model).replace(qpos=qpos, qvel=qvel, ctrl=action)

  def substep(d, _):
    return mjx.step(model, d), None

  data, _ = jax.lax.scan(substep, data, None, length=body.frame_skip)
  outputs = (data.qpos.astype(jnp.float32), data.qvel.astype(jnp.float32))
  if body.contact_forces:
    outputs += (mjx.rne_postconstraint(model, data).cfrc_ext.astype(jnp.float32),)
  return outputs


def physics_step(body: Body, backend: str, qpos: jax.Array, qvel: jax.Array,
                 action: jax.Array):
  """`frame_skip` substeps: (qpos, qvel[, cfrc_ext]) after them (module docstring)."""
  step = _c_physics_step if backend == "c" else _mjx_physics_step
  return step(body, qpos, qvel, action)


def reset_state(body: Body, key: jax.Array, task, noise_scale: float, observe,
                privileged) -> EnvState:
  """Gymnasium's (and PEARL's) reset, qpos0 + U(-s, s) and 0 + s N(0, 1), as an EnvState with
  `observe(qpos, qvel)` as its observation."""
  pos_key, vel_key, key = jax.random.split(key, 3)
  qpos0 = jnp.asarray(mujoco_model(body).qpos0, jnp.float32)
  qpos = qpos0 + jax.random.uniform(pos_key, (body.nq,), jnp.float32, -noise_scale, noise_scale)
  qvel = noise_scale * jax.random.normal(vel_key, (body.nv,), jnp.float32)
  false = jnp.bool_(False)
  return EnvState(physics={"qpos": qpos, "qvel": qvel}, task=jnp.asarray(task, jnp.float32),
                  obs=observe(qpos, qvel), reward=jnp.float32(0.0), terminal=false,
                  truncated=false, step_count=jnp.int32(0), key=key, privileged=privileged)


def stepped_state(state: EnvState, qpos: jax.Array, qvel: jax.Array, obs: jax.Array,
                  reward: jax.Array, max_episode_steps: int, privileged) -> EnvState:
  """The state after one policy step; no termination (a time limit keeps mask 1)."""
  step_count = state.step_count + 1
  return EnvState(physics={"qpos": qpos, "qvel": qvel}, task=state.task, obs=obs,
                  reward=reward.astype(jnp.float32), terminal=jnp.bool_(False),
                  truncated=step_count >= max_episode_steps, step_count=step_count,
                  key=state.key, privileged=privileged)
