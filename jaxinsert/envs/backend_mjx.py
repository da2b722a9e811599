"""The MJX backend: the insertion task as a pure `FunctionalEnv` (jit, vmap, scan; GPU/TPU).

Same model, same task functions and the same step semantics as the CPU backend
(`backend_c.CpuInsertionEnv`): the controller target is interpolated over the substeps, the
wrench is the mean of the last `wrench_filter_substeps` sensor readings, and the constraint
solver starts cold every policy step. Differences that remain: MJX computes in float32 (the C
library in float64) and its box-box collision differs at the edge (tested in
tests/test_env_backends.py with a stated tolerance).

Geometry is fixed per environment object (it is in the compiled model); `task` (a
`TaskParams`) varies ids and start/goal distributions and can be vmapped. Images are not
produced here (the renderer is host-side): use the CPU backend for vision.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from mujoco import mjx

from jaxinsert.envs import insertion, tasks as tasks_lib
from jaxinsert.envs.base import EnvSpec, EnvState


@struct.dataclass
class MjxPhysics:
  data: mjx.Data
  target: jax.Array          # controller joint target (6,)
  goal_offset_m: jax.Array   # true socket position in the nominal frame (privileged)


class MjxInsertionEnv:
  """A `FunctionalEnv` for one connector on MJX (see the module docstring)."""

  def __init__(self, task: tasks_lib.InsertionTask, reward: str = "sparse", **config_overrides):
    self.task = task
    self.config = task.config(reward=reward, **config_overrides)
    self.model = tasks_lib.scene.build_model(task.connector, self.config.scene)
    self.mjx_model = tasks_lib.scene.mjx_model(self.model)
    self.default_task = tasks_lib.single_task_params(task)
    self.spec = EnvSpec((insertion.OBSERVATION_DIM,), self.config.action_dim,
                        self.config.max_episode_steps)
    self._data0 = mjx.make_data(self.mjx_model)

  def reset(self, key: jax.Array, task: insertion.TaskParams = None) -> EnvState:
    task = self.default_task if task is None else task
    reset_key, key = jax.random.split(key)
    fresh = insertion.reset_physics(reset_key, task)
    data = self._data0.replace(qpos=fresh["qpos"], qvel=fresh["qvel"], ctrl=fresh["target"])
    features = insertion.observe(fresh["qpos"], fresh["qvel"], task.wrench_bias,
                                 fresh["goal_offset_m"], task)
    return EnvState(
        physics=MjxPhysics(data, fresh["target"], fresh["goal_offset_m"]), task=task,
        obs=insertion.flatten_observation(features), reward=jnp.zeros((), jnp.float32),
        terminal=jnp.zeros((), bool), truncated=jnp.zeros((), bool),
        step_count=jnp.zeros((), jnp.int32), key=key,
        privileged=insertion.privileged_info(fresh["qpos"], fresh["goal_offset_m"], task,
                                             self.config))

  def simulate(self, data: mjx.Data, controls: jax.Array):
    """Runs the substeps; returns the final data and the filtered raw wrench reading."""
    def substep(d, ctrl):
      d = mjx.step(self.mjx_model, d.replace(ctrl=ctrl))
      return d, d.sensordata[:6]
    data = data.replace(qacc_warmstart=jnp.zeros_like(data.qacc_warmstart))
    data, readings = jax.lax.scan(substep, data, controls)
    return data, readings[-self.config.wrench_filter_substeps:].mean(axis=0)

  def step(self, state: EnvState, action: jax.Array) -> EnvState:
    physics = state.physics
    qpos = physics.data.qpos.astype(jnp.float32)
    new_target, controls = insertion.plan_controls(physics.target, action, qpos, self.config)
    data, wrench_raw = self.simulate(physics.data, controls)
    step_count = state.step_count + 1
    features, reward, terminal, truncated, privileged = insertion.transition_outcome(
        data.qpos, data.qvel, wrench_raw, physics.goal_offset_m, state.task, step_count,
        self.config)
    return state.replace(
        physics=physics.replace(data=data, target=new_target),
        obs=insertion.flatten_observation(features), reward=reward, terminal=terminal,
        truncated=truncated, step_count=step_count, privileged=privileged)
