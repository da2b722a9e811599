"""Insertion tasks: a connector plus ids, start distribution, goal noise and camera variant.

`InsertionTask` is the host-side description (frozen, hashable); `task_params` turns a list of
them into the batched `TaskParams` pytree the JAX task functions read. The start presets follow
the seeds: ODA (uniform +-1 mm around a point 5 mm above the socket), LOTJ scenario I (+-10 mm
in xy, 10 mm above), LOTJ scenario II (xy on the boundary of a square 10-20 mm from the socket
centre, i.e. Chebyshev radius in [10, 20] mm), chapter 9 (5 cm above the fully inserted pose).
Goal noise moves the true socket uniformly by +-`goal_noise_m` in x and y relative to the
nominal frame the robot observes in (+-1 mm for chapter 9's "noisy goals"). A task may also
carry a fixed socket pose error (`socket_offset_m`, `socket_yaw_rad`): the same in every
episode, so it can be learned from the task's demonstrations (ODA), unlike goal noise.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence, Tuple

import jax.numpy as jnp
import numpy as np

from jaxinsert.envs import insertion, scene
from jaxinsert.envs.connectors import ConnectorSpec


@dataclasses.dataclass(frozen=True)
class StartDistribution:
  kind: str = "uniform"                                  # "uniform" | "ring"
  center_m: Tuple[float, float, float] = (0.0, 0.0, 0.005)
  half_range_m: Tuple[float, float, float] = (0.001, 0.001, 0.001)
  ring_m: Tuple[float, float] = (0.010, 0.020)           # Chebyshev radii for "ring"


def oda_start() -> StartDistribution:
  return StartDistribution("uniform", (0.0, 0.0, 0.005), (0.001, 0.001, 0.001))


def lotj_scenario_1() -> StartDistribution:
  return StartDistribution("uniform", (0.0, 0.0, 0.010), (0.010, 0.010, 0.0))


def lotj_scenario_2() -> StartDistribution:
  return StartDistribution("ring", (0.0, 0.0, 0.010), (0.0, 0.0, 0.0), (0.010, 0.020))


def ch9_start(depth_m: float) -> StartDistribution:
  return StartDistribution("uniform", (0.0, 0.0, 0.05 - depth_m), (0.0, 0.0, 0.0))


def nominal_start(start: StartDistribution) -> StartDistribution:
  """The same start without noise (for the scripted-collector acceptance test)."""
  return dataclasses.replace(start, kind="uniform", half_range_m=(0.0, 0.0, 0.0))


@dataclasses.dataclass(frozen=True)
class InsertionTask:
  """One task of a suite. `domain_id` distinguishes visual/robot variants of one task."""

  name: str
  connector: ConnectorSpec
  task_id: int = 0
  domain_id: int = 0
  start: StartDistribution = StartDistribution()
  goal_noise_m: float = 0.0
  action_mode: str = "twist"
  max_episode_steps: int = 50
  camera: str = "front"
  # The camera's vertical field of view in degrees (None: the scene's 45). A narrower view is a
  # crop around the socket: more pixels per millimetre at the same image size.
  camera_fovy_deg: Optional[float] = None
  family: str = ""
  robot: int = 0
  # How far the impedance target may lead the measured pose (None: 8 mm for "move", the
  # TaskConfig default for "twist"). It bounds the push when jammed (stiffness x lead).
  max_reference_error_m: Optional[float] = None
  # A fixed error of the socket pose the robot does not know (a fixture tolerance): the true
  # socket sits at socket_offset_m in the nominal frame and is turned by socket_yaw_rad.
  socket_offset_m: Tuple[float, float] = (0.0, 0.0)
  socket_yaw_rad: float = 0.0

  def replace(self, **changes) -> "InsertionTask":
    return dataclasses.replace(self, **changes)

  def config(self, **overrides) -> insertion.TaskConfig:
    if self.max_reference_error_m is not None:
      overrides.setdefault("max_reference_error_m", self.max_reference_error_m)
    elif self.action_mode == "move":
      # 1 cm moves need a longer lead of the impedance target to be reached within a step.
      overrides.setdefault("max_reference_error_m", 0.008)
    return insertion.TaskConfig(action_mode=self.action_mode,
                                max_episode_steps=self.max_episode_steps, **overrides)

  @property
  def model(self):
    return scene.build_model(self.connector)


def task_params(tasks: Sequence[InsertionTask], scene_config: Optional[scene.SceneConfig] = None
                ) -> insertion.TaskParams:
  """The batched `TaskParams` for `tasks` (leading axis = len(tasks))."""
  rows = []
  for task in tasks:
    model = scene.build_model(task.connector, scene_config or scene.SceneConfig())
    rows.append(dict(
        task_id=np.int32(task.task_id), domain_id=np.int32(task.domain_id),
        start_center_m=np.asarray(task.start.center_m, np.float32),
        start_half_range_m=np.asarray(task.start.half_range_m, np.float32),
        start_ring_m=np.asarray(task.start.ring_m, np.float32),
        start_kind=np.int32(insertion.START_KINDS[task.start.kind]),
        goal_noise_m=np.float32(task.goal_noise_m),
        socket_offset_m=np.asarray(task.socket_offset_m, np.float32),
        socket_yaw_rad=np.float32(task.socket_yaw_rad),
        grip_height_m=np.float32(task.connector.plug_height_m),
        depth_m=np.float32(task.connector.depth_m),
        clearance_m=np.float32(task.connector.clearance_m),
        wrench_bias=scene.wrench_bias(model)))
  stacked = {k: jnp.asarray(np.stack([r[k] for r in rows])) for k in rows[0]}
  return insertion.TaskParams(**stacked)


def single_task_params(task: InsertionTask) -> insertion.TaskParams:
  """`TaskParams` of one task without the leading axis."""
  import jax
  return jax.tree_util.tree_map(lambda x: x[0], task_params([task]))
