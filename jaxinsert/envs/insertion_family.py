"""The insertion family for SMAC (seed 003, checklist S1 b): a kinematic peg-in-hole analogue of
SMAC's sparse-reward Sawyer manipulation, with tasks that differ in connector and socket pose.

Why kinematic. The contact simulation of the ODA suite (`backend_c`, 50 MuJoCo substeps per
policy step, 6-D twist actions, 50 steps) runs at about 1,600 env steps/s on one core of this
machine (22 environments, random actions, measured 2026-12-06), but it is a host-side
`VectorEnv`: the SMAC loops step a functional env inside `jax.lax.scan`, and PEARL from scratch
with a sparse reward on 6-D contact-rich insertion is far beyond a 3-seed study on one shared
core. So this family keeps what the encoder has to infer (where the socket is, how tight the
connector is) and replaces the contact dynamics by a geometric rule whose success region is the
connector's clearance. It is an analogue, not the simulator.

A task is a row (offset_x_m, offset_y_m, clearance_m, chamfer_m, depth_m, connector_index):
  - the socket's position error in the nominal frame the robot acts in: `socket_radius_m`
    (3 mm, the ODA suite's fixture-slot distance, `suites.ODA_SLOT_RADIUS_M`) from nominal in
    a direction ~ U[0, max_angle) drawn from the seed (the ODA "slots" made continuous);
  - one connector of the ODA suite (`suites.get_suite("oda")`, the task list of
    `training/insertion_tasks.py`): its clearance, chamfer and depth. Training tasks draw
    connectors from the suite's "train" split, test tasks from its "test" split (unseen
    connectors, as in ODA). Cross-section, key, pins, friction and yaw are not modelled.

State: the plug tip's position p (3,) in metres in the nominal socket frame (hole entrance at
the task's offset, face at z = 0, z up). Observation (3,): p / `obs_unit_m`; the socket pose
and the connector are never observed (the encoder must infer them from (s, a, r) context).
Reset: p = (0, 0, 5 mm) + U(-1 mm, 1 mm)^3 (the ODA suite's start). Action in [-1, 1]^3: a
position delta of at most `move_m` = 2 mm per axis (ODA's 0.02 m/s twist over 0.1 s).
Step, with o the socket offset, c the clearance, h the chamfer, d the depth and q = p + delta:
  - in the hole (p_z < 0) or entering it (q_z < 0 from p_z >= 0) with the lateral path
    passing within c + h of o (Chebyshev; the chamfer guides the tip in; "passing": the point
    of the lateral move closest to o), the walls bound q_xy to o +- c and the floor q_z >= -d;
  - entering elsewhere, the tip stops on the socket face (q_z = 0) and keeps its lateral move;
  - the workspace is a box: |x|, |y| <= `workspace_m`, z <= `workspace_m`.
Success: the tip at full depth within `success_depth_tolerance_m` (1 mm, ODA's), q_z <= -d + 1 mm.
Reward (SMAC's Sawyer tasks and the issue: sparse): 1 at every step that ends inserted, else 0;
no termination (the pipeline's rollouts have a fixed length; the plug may be pulled out again),
horizon 30. `shaped_reward(next_obs, task)` = -|p - (o_x, o_y, -d)| / `shaped_unit_m` is the
dense shaping that only the data-collecting PEARL's critic sees (oyster's sparse-reward recipe:
critic on the dense reward, encoder and buffers on the sparse one); it depends on the next
observation and the task only, so PEARL relabels its critic batches with it (smac_loops).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxinsert.envs.base import EnvSpec, EnvState

TASK_COLUMNS = ("offset_x_m", "offset_y_m", "clearance_m", "chamfer_m", "depth_m",
                "connector_index")
SOCKET_RADIUS_M = 0.003   # = suites.ODA_SLOT_RADIUS_M (checked in tests/test_insertion_family.py)


@dataclasses.dataclass(frozen=True)
class KinematicInsertion:
  """`task` is a row of TASK_COLUMNS (module docstring)."""

  max_episode_steps: int = 30
  move_m: float = 0.002                  # per axis at |action| = 1
  obs_unit_m: float = 0.005              # observation = tip position / this
  start_m: tuple = (0.0, 0.0, 0.005)     # the ODA suite's start centre
  start_noise_m: float = 0.001           # uniform +- per axis (ODA)
  success_depth_tolerance_m: float = 0.001
  workspace_m: float = 0.01
  shaped_unit_m: float = 0.01            # the shaping reward is -distance in centimetres

  @property
  def reward_type(self) -> str:
    return "sparse"   # the env's reward (the shaping is `shaped_reward`, PEARL's critic's)

  @property
  def spec(self) -> EnvSpec:
    return EnvSpec(obs_shape=(3,), action_dim=3, max_episode_steps=self.max_episode_steps)

  def observe(self, tip_m: jax.Array) -> jax.Array:
    return (tip_m / self.obs_unit_m).astype(jnp.float32)

  def inserted(self, tip_m: jax.Array, task: jax.Array) -> jax.Array:
    return tip_m[..., 2] <= -task[..., 4] + self.success_depth_tolerance_m

  def reward(self, tip_m: jax.Array, task: jax.Array) -> jax.Array:
    """The sparse reward of ending a step at `tip_m` (..., 3) in task `task` (..., 6)."""
    return self.inserted(tip_m, task).astype(jnp.float32)

  def shaped_reward(self, next_obs: jax.Array, task: jax.Array) -> jax.Array:
    """PEARL's critic reward (module docstring) from the observation after a step."""
    tip = next_obs * self.obs_unit_m
    goal = jnp.concatenate([task[..., :2], -task[..., 4:5]], axis=-1)
    return -jnp.linalg.norm(tip - goal, axis=-1) / self.shaped_unit_m

  def move(self, tip_m: jax.Array, action: jax.Array, task: jax.Array) -> jax.Array:
    """The tip after one action (the geometric rule of the module docstring)."""
    offset, clearance, chamfer, depth = task[:2], task[2], task[3], task[4]
    delta = jnp.clip(action, -1.0, 1.0) * self.move_m
    proposed = tip_m + delta
    lateral = delta[:2]
    # The point of the lateral move closest to the hole's centre.
    along = jnp.clip(jnp.dot(offset - tip_m[:2], lateral) / (jnp.dot(lateral, lateral) + 1e-12),
                     0.0, 1.0)
    closest = tip_m[:2] + along * lateral
    in_hole = tip_m[2] < 0.0
    entering = (proposed[2] < 0.0) & ~in_hole
    captured = jnp.max(jnp.abs(closest - offset)) <= clearance + chamfer
    bounded = in_hole | (entering & captured)
    xy = jnp.where(bounded, offset + jnp.clip(proposed[:2] - offset, -clearance, clearance),
                   proposed[:2])
    z = jnp.where(bounded, jnp.maximum(proposed[2], -depth),
                  jnp.where(entering, 0.0, proposed[2]))
    xy = jnp.clip(xy, -self.workspace_m, self.workspace_m)
    return jnp.concatenate([xy, jnp.minimum(z, self.workspace_m)[None]]).astype(jnp.float32)

  def reset(self, key: jax.Array, task=None) -> EnvState:
    if task is None:
      raise ValueError("KinematicInsertion.reset needs a task (a row of TASK_COLUMNS, shape (6,))")
    noise_key, key = jax.random.split(key)
    tip = jnp.asarray(self.start_m, jnp.float32) + jax.random.uniform(
        noise_key, (3,), jnp.float32, -self.start_noise_m, self.start_noise_m)
    false = jnp.bool_(False)
    return EnvState(physics={"tip_m": tip}, task=jnp.asarray(task, jnp.float32),
                    obs=self.observe(tip), reward=jnp.float32(0.0), terminal=false,
                    truncated=false, step_count=jnp.int32(0), key=key,
                    privileged={"success": false})

  def step(self, state: EnvState, action: jax.Array) -> EnvState:
    tip = self.move(state.physics["tip_m"], action, state.task)
    step_count = state.step_count + 1
    return EnvState(physics={"tip_m": tip}, task=state.task, obs=self.observe(tip),
                    reward=self.reward(tip, state.task), terminal=jnp.bool_(False),
                    truncated=step_count >= self.max_episode_steps, step_count=step_count,
                    key=state.key, privileged={"success": self.inserted(tip, state.task)})


def oda_connectors(split: str):
  """The ODA suite's connectors of `split` ("train" | "test"), in suite order."""
  from jaxinsert.envs import suites

  return [task.connector for task in suites.get_suite("oda").split(split)]


def socket_tasks(seed: int, num_train: int, num_test: int, max_angle: float = 2 * np.pi,
                 radius_m: float = SOCKET_RADIUS_M) -> np.ndarray:
  """[num_train + num_test, 6] task rows (TASK_COLUMNS) from `seed`: socket directions
  ~ U[0, max_angle) at `radius_m`; connectors drawn uniformly from the ODA suite's "train" split
  for the first `num_train` rows and from its "test" split for the rest. connector_index is the
  index within its split."""
  rng = np.random.default_rng(seed)
  angles = rng.uniform(0.0, max_angle, num_train + num_test)
  rows = []
  for split, count, start in (("train", num_train, 0), ("test", num_test, num_train)):
    connectors = oda_connectors(split)
    picks = rng.integers(0, len(connectors), count)
    for index, pick in enumerate(picks):
      angle, spec = angles[start + index], connectors[pick]
      rows.append([radius_m * np.cos(angle), radius_m * np.sin(angle), spec.clearance_m,
                   spec.chamfer_m, spec.depth_m, float(pick)])
  return np.asarray(rows, np.float32)
