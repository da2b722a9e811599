"""The CPU backend: MuJoCo's C library stepping whole batches through `mujoco.rollout`.

A `VectorEnv` (NumPy in and out, same-step autoreset, `info["final_obs"]`). Per policy step it
makes two jitted JAX calls that are the task logic shared with the MJX backend
(`insertion.plan_controls` before the physics; `insertion.transition_outcome` plus the autoreset
after it) and one `mujoco.rollout` call per distinct connector model for the 50 physics substeps
of every environment, on a persistent pool of CPU threads.

Environments may mix tasks (environment i runs `tasks[i % len(tasks)]`); tasks must share the
action mode and episode length. Observations: "state" gives the flat float32 vector (features in
`insertion.OBSERVATION_FEATURES` order); "image" gives uint8 images (B, H, W, C) and puts the
state vector in `info["state"]`.
"""

from __future__ import annotations

import functools
import os
from typing import Dict, Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp
import mujoco
import mujoco.rollout
import numpy as np

from jaxinsert.envs import insertion, rendering, rewards, tasks as tasks_lib
from jaxinsert.envs.base import EnvSpec


@functools.partial(jax.jit, static_argnums=7)
def _post_step(qpos, qvel, wrench_raw, goal_offset, params, step_count, keys, config):
  """Outcome of a step for every environment, then autoreset where it ended (one jit)."""
  step_count = step_count + 1
  outcome = jax.vmap(insertion.transition_outcome, in_axes=(0, 0, 0, 0, 0, 0, None))(
      qpos, qvel, wrench_raw, goal_offset, params, step_count, config)
  features, reward, terminal, truncated, privileged = outcome
  done = terminal | truncated
  split = jax.vmap(jax.random.split)(keys)
  fresh = jax.vmap(insertion.reset_physics)(split[:, 0], params)
  fresh_features = jax.vmap(insertion.observe)(
      fresh["qpos"], fresh["qvel"], params.wrench_bias, fresh["goal_offset_m"], params)
  pick = lambda new, old: jnp.where(done.reshape(done.shape + (1,) * (old.ndim - 1)), new, old)
  final_obs = insertion.flatten_observation(features)
  return dict(
      final_obs=final_obs, reward=reward, terminal=terminal, truncated=truncated,
      success=privileged["success"], tip_in_socket=privileged["tip_in_socket"],
      socket_position_in_nominal=privileged["socket_position_in_nominal"],
      obs=pick(insertion.flatten_observation(fresh_features), final_obs),
      qpos=pick(fresh["qpos"], qpos), qvel=pick(fresh["qvel"], qvel),
      target=fresh["target"], done=done,
      goal_offset=pick(fresh["goal_offset_m"], goal_offset),
      step_count=jnp.where(done, 0, step_count), keys=split[:, 1])


@functools.partial(jax.jit, static_argnums=3)
def _plan(target, actions, qpos, config):
  return jax.vmap(insertion.plan_controls, in_axes=(0, 0, 0, None))(target, actions, qpos, config)


@functools.partial(jax.jit, static_argnums=3)
def _privileged(qpos, goal_offset, params, config):
  return jax.vmap(insertion.privileged_info, in_axes=(0, 0, 0, None))(qpos, goal_offset, params,
                                                                      config)


def bucket_size(count: int) -> int:
  """The batch size the task logic is compiled for: a power of two, at least 8."""
  return max(8, 1 << (count - 1).bit_length())


class BatchBucket:
  """Calls jitted per-environment functions at `bucket_size(count)` rows, so that batches of
  5, 6, 7 or 8 environments share one compilation (a new size cost 1.5-16 s of compiling,
  measured). Every array argument is padded by repeating its last row; every output row past
  `count` is dropped. Rows are independent (everything is vmapped), so results are unchanged."""

  def __init__(self, count: int):
    self.count, self.size = count, bucket_size(count)

  def _pad(self, leaf):
    leaf = jnp.asarray(leaf)
    extra = self.size - self.count
    return jnp.concatenate([leaf, jnp.repeat(leaf[-1:], extra, axis=0)]) if extra else leaf

  def _cut(self, leaf):
    return leaf[:self.count] if leaf.ndim and leaf.shape[0] == self.size else leaf

  def __call__(self, fn, *arrays, static=()):
    padded = jax.tree_util.tree_map(self._pad, arrays)
    return jax.tree_util.tree_map(self._cut, fn(*padded, *static))


@jax.jit
def _reset_all(keys, params):
  fresh = jax.vmap(insertion.reset_physics)(keys, params)
  features = jax.vmap(insertion.observe)(
      fresh["qpos"], fresh["qvel"], params.wrench_bias, fresh["goal_offset_m"], params)
  next_keys = jax.vmap(lambda key: jax.random.split(key)[1])(keys)
  return fresh, insertion.flatten_observation(features), next_keys


class CpuInsertionEnv:
  """A batch of insertion environments on MuJoCo's C library (see the module docstring)."""

  def __init__(self, tasks: Union[tasks_lib.InsertionTask, Sequence[tasks_lib.InsertionTask]],
               num_envs: int = 1, nthread: Optional[int] = None, obs_mode: str = "state",
               image_size: int = 64, grayscale: bool = False, reward: str = "sparse",
               **config_overrides):
    task_list = [tasks] if isinstance(tasks, tasks_lib.InsertionTask) else list(tasks)
    if len({(t.action_mode, t.max_episode_steps) for t in task_list}) != 1:
      raise ValueError("tasks in one CpuInsertionEnv must share action_mode and max_episode_steps")
    self.num_envs = num_envs
    self.env_tasks = [task_list[i % len(task_list)] for i in range(num_envs)]
    self.config = task_list[0].config(
        reward="sparse" if reward == "image_l1" else reward, **config_overrides)
    self.reward_kind = reward
    self.obs_mode = obs_mode
    self.image_size = image_size
    self.grayscale = grayscale
    self.params = tasks_lib.task_params(self.env_tasks, self.config.scene)
    self.task_ids = np.array([t.task_id for t in self.env_tasks], np.int32)
    self.domain_ids = np.array([t.domain_id for t in self.env_tasks], np.int32)
    channels = 1 if grayscale else 3
    obs_shape = ((image_size, image_size, channels) if obs_mode == "image"
                 else (insertion.OBSERVATION_DIM,))
    self.spec = EnvSpec(obs_shape, self.config.action_dim, self.config.max_episode_steps)
    self._nthread = nthread or min(os.cpu_count() or 1, max(1, num_envs))
    self._rollout = mujoco.rollout.Rollout(nthread=self._nthread)
    self._groups = self._group_by_model()
    self._batch = BatchBucket(num_envs)
    self._renderer = None
    self._goal_images = None
    self._state: Optional[Dict[str, np.ndarray]] = None

  def _group_by_model(self):
    groups: Dict[object, list] = {}
    for i, task in enumerate(self.env_tasks):
      groups.setdefault(task.connector, []).append(i)
    out = []
    substeps = self.config.scene.substeps
    for connector, idx in groups.items():
      model = tasks_lib.scene.build_model(connector, self.config.scene)
      nstate = mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_FULLPHYSICS)
      if nstate != 1 + model.nq + model.nv:
        raise RuntimeError(f"unexpected physics state size {nstate} for {connector.name}")
      idx = np.asarray(idx)
      out.append(dict(model=model, idx=idx, models=[model] * len(idx),
                      warmstart=np.zeros((len(idx), model.nv)),
                      datas=[mujoco.MjData(model) for _ in range(self._nthread)],
                      state=np.zeros((len(idx), substeps, nstate)),
                      sensordata=np.zeros((len(idx), substeps, model.nsensordata))))
    return out

  # VectorEnv interface ----------------------------------------------------------------------

  def reset(self, seed: int) -> np.ndarray:
    keys = jax.random.split(jax.random.PRNGKey(seed), self.num_envs)
    fresh, obs, next_keys = self._batch(_reset_all, keys, self.params)
    self._state = dict(qpos=np.asarray(fresh["qpos"], np.float64),
                       qvel=np.asarray(fresh["qvel"], np.float64),
                       target=np.asarray(fresh["target"]), goal_offset=np.asarray(fresh["goal_offset_m"]),
                       step_count=np.zeros(self.num_envs, np.int32),
                       keys=np.asarray(next_keys),
                       obs=np.asarray(obs))
    return self._observation(self._state["obs"])

  def step(self, actions: np.ndarray):
    if self._state is None:
      raise RuntimeError("CpuInsertionEnv.step called before reset")
    s = self._state
    actions = np.asarray(actions, np.float32).reshape(self.num_envs, self.config.action_dim)
    new_target, controls = self._batch(_plan, s["target"], actions,
                                       s["qpos"].astype(np.float32), static=(self.config,))
    qpos, qvel, wrench_raw = self.simulate(s["qpos"], s["qvel"], np.asarray(controls))
    out = self._batch(_post_step, qpos.astype(np.float32), qvel.astype(np.float32), wrench_raw,
                      s["goal_offset"], self.params, s["step_count"], s["keys"],
                      static=(self.config,))
    out = jax.tree_util.tree_map(np.asarray, out)
    self.last_final_qpos = qpos  # before autoreset (for rendering the true next state)
    done = out["done"]
    target = np.where(done[:, None], out["target"], np.asarray(new_target))
    # Keep float64 physics where the episode continues (no float32 round trip of the state).
    self._state = dict(qpos=np.where(done[:, None], out["qpos"], qpos),
                       qvel=np.where(done[:, None], out["qvel"], qvel), target=target,
                       goal_offset=out["goal_offset"], step_count=out["step_count"],
                       keys=out["keys"], obs=out["obs"])
    info = {"final_obs": out["final_obs"], "success": out["success"],
            "tip_in_socket": out["tip_in_socket"],
            "socket_position_in_nominal": out["socket_position_in_nominal"],
            "task_id": self.task_ids, "domain_id": self.domain_ids}
    reward = out["reward"]
    if self.obs_mode == "image" or self.reward_kind == "image_l1":
      info["final_state"] = out["final_obs"]
      final_images = self.render(qpos=qpos)
      info["final_obs"] = final_images if self.obs_mode == "image" else out["final_obs"]
      if self.reward_kind == "image_l1":
        reward = rewards.goal_image_l1_reward(final_images, self.goal_images()).astype(np.float32)
    return (self._observation(out["obs"]), reward, out["terminal"], out["truncated"], info)

  # Physics and rendering --------------------------------------------------------------------

  def simulate(self, qpos: np.ndarray, qvel: np.ndarray, controls: np.ndarray
               ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs every environment's substeps; returns final qpos, qvel and the filtered wrench."""
    qpos_out = np.empty_like(qpos, dtype=np.float64)
    qvel_out = np.empty_like(qvel, dtype=np.float64)
    wrench = np.empty((self.num_envs, 6), np.float32)
    k = self.config.wrench_filter_substeps
    for group in self._groups:
      idx = group["idx"]
      initial = np.concatenate([np.zeros((len(idx), 1)), qpos[idx], qvel[idx]], axis=1)
      # skip_checks: models as a per-environment list, outputs preallocated, nstep explicit.
      # A cold solver start (zero warmstart) every policy step, as the MJX backend does, so
      # the result does not depend on which thread's MjData ran the environment before.
      self._rollout.rollout(group["models"], group["datas"], initial,
                            np.ascontiguousarray(controls[idx], dtype=np.float64),
                            initial_warmstart=group["warmstart"],
                            nstep=self.config.scene.substeps, state=group["state"],
                            sensordata=group["sensordata"], skip_checks=True)
      last = group["state"][:, -1]
      nq = group["model"].nq
      qpos_out[idx] = last[:, 1:1 + nq]
      qvel_out[idx] = last[:, 1 + nq:]
      wrench[idx] = group["sensordata"][:, -k:, :6].mean(axis=1)
    return qpos_out, qvel_out, wrench

  def render(self, qpos: Optional[np.ndarray] = None, size: Optional[int] = None) -> np.ndarray:
    """Camera images (B, H, W, C) uint8 of every environment (current state by default)."""
    if self._renderer is None:
      self._renderer = rendering.BatchRenderer(self.env_tasks, size or self.image_size,
                                               self.grayscale)
    return self._renderer.render(self._state["qpos"] if qpos is None else qpos)

  def goal_images(self) -> np.ndarray:
    if self._goal_images is None:
      goal = np.zeros((self.num_envs, 6))
      goal[:, 2] = -np.array([t.connector.depth_m for t in self.env_tasks])
      self._goal_images = self.render(qpos=goal)
    return self._goal_images

  def _observation(self, flat_obs: np.ndarray) -> np.ndarray:
    if self.obs_mode == "image":
      return self.render()
    return flat_obs

  def policy_context(self) -> Dict[str, object]:
    """Batched context for `controllers` policies: task params, step counts, privileged info."""
    s = self._state
    privileged = self._batch(_privileged, s["qpos"].astype(np.float32), s["goal_offset"],
                             self.params, static=(self.config,))
    return {"task": self.params, "step_count": jnp.asarray(s["step_count"]),
            "privileged": privileged}

  @property
  def physics_state(self) -> Dict[str, np.ndarray]:
    """The current host state (qpos, qvel, controller target, goal offset, step count)."""
    return dict(self._state)

  def close(self):
    if self._renderer is not None:
      self._renderer.close()
      self._renderer = None
