"""Task-parameterised families for meta-RL (SMAC seed 003, checklist S1): fixed task lists.

A family is a functional environment whose `reset(key, task)` takes the task's parameters, plus
a task list drawn once from a seed and split into training and test tasks (SMAC App. C.2: "we use
the same sampled target velocities across all experiments"). Every consumer (PEARL data, SMAC,
the meta-test harness) gets the same lists from the same (name, seed, sizes).

"point-robot": PEARL's sparse point robot (oyster `SparsePointEnv`, read for reference). A point
starts at the origin; the action in [-1, 1]^2 is scaled to a displacement of at most
`max_step_m` = 0.1 per axis (PEARL clips actions to [-0.1, 0.1]); goals lie on the upper half
of the unit circle at angles linspace(0, pi, num_tasks), shuffled by the seed. Observation (2,):
the position; the goal is never observed. Reward, with d the distance to the goal:
  sparse (default): 1 - d where d <= goal_radius_m (0.2), else 0 (PEARL's `sparse_reward`);
  dense: -d (what PEARL's `step` returns; PEARL feeds dense rewards to the critic and sparse
  ones to the encoder, here one reward type feeds both, chosen by the config).
No termination; episodes end at the horizon (20 steps, PEARL), a time limit (mask stays 1).

"cheetah-vel": PEARL's Cheetah-Vel on gymnasium's HalfCheetah body (`envs/cheetah_vel.py`):
target velocities ~ U[0, 3] drawn from the seed, tasks [n, 1], horizon 200.

"ant-dir": PEARL's Ant-Dir on gymnasium's Ant body (`envs/ant_dir.py`): direction angles
~ U[0, max_angle) drawn from the seed (env field `max_angle`, 2 pi: the whole circle), tasks
[n, 1], horizon 200.

"insertion": the kinematic peg-in-hole analogue of SMAC's sparse Sawyer tasks
(`envs/insertion_family.py`): tasks are (socket offset 3 mm from nominal in a direction
~ U[0, max_angle), an ODA-suite connector: train tasks from its train split, test tasks from its
test split) from the seed, tasks [n, 6]; sparse reward 1 while inserted; horizon 30.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxinsert.envs import ant_dir, cheetah_vel, insertion_family
from jaxinsert.envs.base import EnvSpec, EnvState

FAMILIES = ("point-robot", "cheetah-vel", "ant-dir", "insertion")


@dataclasses.dataclass(frozen=True)
class PointRobot:
  """PEARL's point robot; `task` is the goal position (2,) in metres."""

  reward_type: str = "sparse"       # sparse (1 - d inside goal_radius_m, else 0) | dense (-d)
  goal_radius_m: float = 0.2        # PEARL's goal_radius
  max_step_m: float = 0.1           # displacement per axis at |action| = 1 (PEARL's clip)
  max_episode_steps: int = 20       # PEARL's max_path_length for the point robot

  def __post_init__(self):
    if self.reward_type not in ("sparse", "dense"):
      raise ValueError(f"reward_type must be 'sparse' or 'dense', got {self.reward_type!r}")

  @property
  def spec(self) -> EnvSpec:
    return EnvSpec(obs_shape=(2,), action_dim=2, max_episode_steps=self.max_episode_steps)

  def reward(self, position_m: jax.Array, goal_m: jax.Array) -> jax.Array:
    """The reward of arriving at `position_m` (..., 2) for goal `goal_m` (..., 2)."""
    distance_m = jnp.linalg.norm(position_m - goal_m, axis=-1)
    if self.reward_type == "dense":
      return -distance_m
    return jnp.where(distance_m <= self.goal_radius_m, 1.0 - distance_m, 0.0)

  def reset(self, key: jax.Array, task=None) -> EnvState:
    if task is None:
      raise ValueError("PointRobot.reset needs a task (the goal position, shape (2,))")
    goal = jnp.asarray(task, jnp.float32)
    position = jnp.zeros(2, jnp.float32)
    false = jnp.bool_(False)
    return EnvState(physics={"position_m": position}, task=goal, obs=position,
                    reward=jnp.float32(0.0), terminal=false, truncated=false,
                    step_count=jnp.int32(0), key=key,
                    privileged={"success": false})

  def step(self, state: EnvState, action: jax.Array) -> EnvState:
    position = state.physics["position_m"] + jnp.clip(action, -1.0, 1.0) * self.max_step_m
    reward = self.reward(position, state.task)
    success = jnp.linalg.norm(position - state.task) <= self.goal_radius_m
    step_count = state.step_count + 1
    return EnvState(physics={"position_m": position}, task=state.task, obs=position,
                    reward=reward.astype(jnp.float32), terminal=jnp.bool_(False),
                    truncated=step_count >= self.max_episode_steps, step_count=step_count,
                    key=state.key, privileged={"success": success})


@dataclasses.dataclass(frozen=True)
class TaskFamily:
  """An environment and its fixed task lists: [num_train, ...] and [num_test, ...] arrays."""

  name: str
  env: Any                 # a functional env whose reset(key, task) takes the task parameters
  train_tasks: np.ndarray
  test_tasks: np.ndarray

  @property
  def horizon(self) -> int:
    return self.env.max_episode_steps


def environment_class(name: str):
  """The environment class of family `name` (to check what it offers before building it)."""
  classes = {"point-robot": PointRobot, "cheetah-vel": cheetah_vel.HalfCheetahVel,
             "ant-dir": ant_dir.AntDir, "insertion": insertion_family.KinematicInsertion}
  if name not in classes:
    raise ValueError(f"unknown task family {name!r}; known: {', '.join(FAMILIES)}")
  return classes[name]


def point_robot_goals(seed: int, num_tasks: int) -> np.ndarray:
  """[num_tasks, 2] goals on the unit upper half circle, linspace angles, shuffled by `seed`."""
  if num_tasks < 2:
    raise ValueError(f"num_tasks must be at least 2 (a train and a test task), got {num_tasks}")
  angles = np.linspace(0.0, np.pi, num_tasks)
  goals = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
  return goals[np.random.default_rng(seed).permutation(num_tasks)]


def make_family(name: str, seed: int, num_train: int, num_test: int, **env_kwargs
                ) -> TaskFamily:
  """The family `name` with its first `num_train` tasks for training, the next `num_test` for
  testing (PEARL: 80 train / 20 test of 100 point-robot goals; 100 / 30 target velocities)."""
  if name not in FAMILIES:
    raise ValueError(f"unknown task family {name!r}; known: {', '.join(FAMILIES)}")
  if num_train < 1 or num_test < 1:
    raise ValueError(f"a family needs >= 1 train and test task, got {num_train} and {num_test}")
  if name == "cheetah-vel":
    tasks = cheetah_vel.target_velocities(seed, num_train + num_test)
  elif name == "ant-dir":
    tasks = ant_dir.directions(seed, num_train + num_test, env_kwargs.pop("max_angle", 2 * np.pi))
  elif name == "insertion":
    tasks = insertion_family.socket_tasks(seed, num_train, num_test,
                                          env_kwargs.pop("max_angle", 2 * np.pi))
  else:
    tasks = point_robot_goals(seed, num_train + num_test)
  return TaskFamily(name=name, env=environment_class(name)(**env_kwargs),
                    train_tasks=tasks[:num_train], test_tasks=tasks[num_train:])


def task_angles(goals: np.ndarray) -> Tuple[float, ...]:
  """Goal angles in radians (for reports)."""
  return tuple(float(a) for a in np.arctan2(goals[:, 1], goals[:, 0]))
