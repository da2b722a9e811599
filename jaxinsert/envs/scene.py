"""The insertion scene as one MJCF model: a compliant Cartesian gripper holding a plug above a
socket, with the impedance controller inside the model.

Kinematics: a `carriage` body with 3 slide joints (x, y, z) and 3 hinge joints (about x, y, z,
in that order, pivoting at the grip point `plug_height_m` above the tip); the plug is a child body
welded to it (so a force-torque sensor between them measures the wrist wrench). One position
actuator per joint with stiffness `kp`, damping `kv` and a force range is the Cartesian
impedance controller: both physics backends run it identically at the physics rate.

Solver options are chosen so that MJX never calls LAPACK's batched Cholesky (which deadlocks on
this 2-core CPU, see WORKSPACE_NOTES.md): the CG solver (Newton factors its Hessian with
`cho_factor`), the Euler integrator (implicitfast calls `cho_factor`) and, in MJX only, the
sparse Jacobian (MJX then factors the mass matrix with its own sparse LDL; `mjx_model` sets it).
The C library keeps the dense Jacobian, 15-30% faster here for nv = 6 and the same equations.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Tuple

import mujoco
import numpy as np

from jaxinsert.envs import connectors
from jaxinsert.envs.connectors import Box, ConnectorSpec, Prism

JOINT_NAMES = ("slide_x", "slide_y", "slide_z", "hinge_x", "hinge_y", "hinge_z")
NUM_JOINTS = 6
CAMERA_NAMES = ("front", "side")


@dataclasses.dataclass(frozen=True)
class SceneConfig:
  """Physics rate, controller gains and contact calibration shared by every connector."""

  timestep_s: float = 0.002           # 500 Hz physics
  substeps: int = 50                  # 50 x 2 ms = 10 Hz policy
  stiffness_n_per_m: float = 1000.0
  stiffness_nm_per_rad: float = 2.0
  force_limit_n: float = 20.0
  torque_limit_nm: float = 0.5
  carriage_mass_kg: float = 0.5
  rotational_inertia_kgm2: float = 1e-3  # carriage inertia + hinge armature
  solimp: Tuple[float, float, float] = (0.95, 0.99, 0.0005)
  solver_iterations: int = 20
  ls_iterations: int = 8

  @property
  def policy_dt_s(self) -> float:
    return self.timestep_s * self.substeps

  @property
  def damping_n_s_per_m(self) -> float:
    # Critically damped translation for the carriage mass.
    return 2.0 * np.sqrt(self.stiffness_n_per_m * self.carriage_mass_kg)

  @property
  def damping_nm_s_per_rad(self) -> float:
    return 2.0 * np.sqrt(self.stiffness_nm_per_rad * self.rotational_inertia_kgm2)


def _fmt(values) -> str:
  return " ".join(f"{float(v):.7g}" for v in values)


def _yaw_quat(yaw: float) -> str:
  return _fmt([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def _geom_xml(part, name: str, cls: str, rgba, mesh_name: str = "") -> str:
  if isinstance(part, Box):
    return (f'<geom name="{name}" class="{cls}" type="box" pos="{_fmt(part.center)}" '
            f'size="{_fmt(part.half_size)}" quat="{_yaw_quat(part.yaw_rad)}" rgba="{_fmt(rgba)}"/>')
  if isinstance(part, Prism):
    return f'<geom name="{name}" class="{cls}" type="mesh" mesh="{mesh_name}" rgba="{_fmt(rgba)}"/>'
  raise TypeError(f"unknown part {part!r}")


def build_mjcf(spec: ConnectorSpec, config: SceneConfig = SceneConfig()) -> str:
  """The MJCF text of the scene for one connector."""
  plug = connectors.plug_parts(spec)
  socket = connectors.socket_parts(spec)
  assets, plug_geoms = [], []
  for i, part in enumerate(plug):
    mesh_name = ""
    if isinstance(part, Prism):
      mesh_name = f"plug_mesh{i}"
      assets.append(f'<mesh name="{mesh_name}" vertex="{_fmt(part.vertices().ravel())}"/>')
    plug_geoms.append(_geom_xml(part, f"plug{i}", "plug", spec.plug_rgba, mesh_name))
  socket_geoms = [_geom_xml(p, f"socket{i}", "socket", spec.socket_rgba)
                  for i, p in enumerate(socket)]
  grip_z = spec.plug_height_m
  kp, kv = config.stiffness_n_per_m, config.damping_n_s_per_m
  kr, kvr = config.stiffness_nm_per_rad, config.damping_nm_s_per_rad
  f, tq = config.force_limit_n, config.torque_limit_nm
  actuators = []
  for name in JOINT_NAMES:
    gain, damp, lim = (kp, kv, f) if name.startswith("slide") else (kr, kvr, tq)
    actuators.append(f'<position name="act_{name}" joint="{name}" kp="{gain:.7g}" kv="{damp:.7g}" '
                     f'forcelimited="true" forcerange="{-lim:.7g} {lim:.7g}" ctrllimited="false"/>')
  floor_z = -spec.depth_m - connectors.FLOOR_THICKNESS_M
  solref = f"{spec.solref_timeconst_s:.7g} 1"
  return f"""
<mujoco model="insertion_{spec.name}">
  <compiler angle="radian"/>
  <option timestep="{config.timestep_s}" integrator="Euler" solver="CG" jacobian="dense"
          iterations="{config.solver_iterations}" ls_iterations="{config.ls_iterations}"
          cone="pyramidal">
    <flag eulerdamp="disable"/>
  </option>
  <size memory="2M"/>
  <visual><global offwidth="256" offheight="256"/><quality shadowsize="0"/></visual>
  <default>
    <default class="plug">
      <geom contype="1" conaffinity="0" condim="3" friction="{spec.friction} 0.005 0.0001"
            solref="{solref}" solimp="{_fmt(config.solimp)}" density="1200"/>
    </default>
    <default class="socket">
      <geom contype="0" conaffinity="1" condim="3" friction="{spec.friction} 0.005 0.0001"
            solref="{solref}" solimp="{_fmt(config.solimp)}"/>
    </default>
  </default>
  <asset>
    {' '.join(assets)}
  </asset>
  <worldbody>
    <light pos="0.05 -0.1 0.3" dir="-0.2 0.4 -1" diffuse="0.8 0.8 0.8"/>
    <geom name="table" type="box" size="0.15 0.15 0.005" pos="0 0 {floor_z - 0.005:.7g}"
          contype="0" conaffinity="0" rgba="0.35 0.3 0.25 1"/>
    <camera name="front" pos="0 -0.07637 0.08437" xyaxes="1 0 0 0 0.7071 0.7071" fovy="45"/>
    <camera name="side" pos="0.07245 -0.02414 0.08437" xyaxes="0.3161 0.9487 0 -0.6708 0.2235 0.7071" fovy="45"/>
    <body name="socket" pos="0 0 0">
      {' '.join(socket_geoms)}
    </body>
    <body name="carriage" pos="0 0 0" gravcomp="1">
      <inertial pos="0 0 {grip_z:.7g}" mass="{config.carriage_mass_kg}"
                diaginertia="{config.rotational_inertia_kgm2 / 2:.7g} {config.rotational_inertia_kgm2 / 2:.7g} {config.rotational_inertia_kgm2 / 2:.7g}"/>
      <joint name="slide_x" type="slide" axis="1 0 0" range="-0.1 0.1"/>
      <joint name="slide_y" type="slide" axis="0 1 0" range="-0.1 0.1"/>
      <joint name="slide_z" type="slide" axis="0 0 1" range="-0.1 0.2"/>
      <joint name="hinge_x" type="hinge" axis="1 0 0" pos="0 0 {grip_z:.7g}" armature="{config.rotational_inertia_kgm2 / 2:.7g}"/>
      <joint name="hinge_y" type="hinge" axis="0 1 0" pos="0 0 {grip_z:.7g}" armature="{config.rotational_inertia_kgm2 / 2:.7g}"/>
      <joint name="hinge_z" type="hinge" axis="0 0 1" pos="0 0 {grip_z:.7g}" armature="{config.rotational_inertia_kgm2 / 2:.7g}"/>
      <body name="plug" pos="0 0 0" gravcomp="1">
        <site name="tcp" pos="0 0 0" size="0.001"/>
        {' '.join(plug_geoms)}
      </body>
    </body>
  </worldbody>
  <actuator>
    {' '.join(actuators)}
  </actuator>
  <sensor>
    <force name="wrist_force" site="tcp"/>
    <torque name="wrist_torque" site="tcp"/>
  </sensor>
</mujoco>
"""


@functools.lru_cache(maxsize=256)
def build_model(spec: ConnectorSpec, config: SceneConfig = SceneConfig()) -> mujoco.MjModel:
  """The compiled `MjModel` for one connector (cached: specs are frozen and hashable)."""
  return mujoco.MjModel.from_xml_string(build_mjcf(spec, config))


def mjx_model(model: mujoco.MjModel):
  """The MJX model of `model` with the sparse mass-matrix path (no LAPACK Cholesky)."""
  from mujoco import mjx
  sparse = copy.copy(model)
  sparse.opt.jacobian = mujoco.mjtJacobian.mjJAC_SPARSE
  return mjx.put_model(sparse)


def wrench_bias(model: mujoco.MjModel) -> np.ndarray:
  """The force-torque reading of the plug hanging still and upright (zeroed at every reset).

  Gravity compensation acts on the joints, so the sensor still reads the plug's weight; the
  reset pose is always upright, so this constant is the reading to subtract.
  """
  data = mujoco.MjData(model)
  mujoco.mj_forward(model, data)
  return np.array(data.sensordata[:6], dtype=np.float32)
