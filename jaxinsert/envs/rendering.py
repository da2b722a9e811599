"""Camera images of a batch of insertion environments with MuJoCo's renderer.

On a headless CPU machine set `MUJOCO_GL=egl` (Debian: `apt-get install libegl1 libgl1`) before
MuJoCo creates its first context; `egl_available()` says whether that works here. Each task picks
one of the model's cameras ("front" or "side", the two robot/camera variants), optionally with its
own field of view (`camera_fovy_deg`, a crop around the socket), and carries its own plug/socket
colours, so domains differ visually. Images are uint8 (H, W, 3), or (H, W, 1)
grayscale (chapter 9 uses 32x32 grayscale).
"""

from __future__ import annotations

import os
from typing import Dict, Sequence

import mujoco
import numpy as np

from jaxinsert.envs import scene


def egl_available() -> bool:
  """True if an offscreen MuJoCo context can be made (cheap probe, cached)."""
  global _EGL_OK
  if _EGL_OK is None:
    try:
      model = mujoco.MjModel.from_xml_string("<mujoco><worldbody/></mujoco>")
      with mujoco.Renderer(model, 8, 8) as renderer:
        renderer.render()
      _EGL_OK = True
    except Exception:  # no display / no EGL: the caller decides (tests skip)
      _EGL_OK = False
  return _EGL_OK


_EGL_OK = None


def to_grayscale(rgb: np.ndarray) -> np.ndarray:
  weights = np.array([0.299, 0.587, 0.114], np.float32)
  return (rgb.astype(np.float32) @ weights).round().clip(0, 255).astype(np.uint8)[..., None]


class BatchRenderer:
  """Renders environment i of a batch from `tasks[i]`'s model and camera."""

  def __init__(self, tasks: Sequence, size: int = 64, grayscale: bool = False):
    os.environ.setdefault("MUJOCO_GL", "egl")
    self.tasks = list(tasks)
    self.size = size
    self.grayscale = grayscale
    self._per_model: Dict[object, tuple] = {}

  def _context(self, connector):
    if connector not in self._per_model:
      model = scene.build_model(connector)
      self._per_model[connector] = (model, mujoco.MjData(model),
                                    mujoco.Renderer(model, self.size, self.size),
                                    model.cam_fovy.copy())
    return self._per_model[connector]

  def render(self, qpos: np.ndarray) -> np.ndarray:
    channels = 1 if self.grayscale else 3
    images = np.empty((len(self.tasks), self.size, self.size, channels), np.uint8)
    for i, task in enumerate(self.tasks):
      model, data, renderer, scene_fovy = self._context(task.connector)
      camera = model.camera(task.camera).id
      fovy = task.camera_fovy_deg
      model.cam_fovy[camera] = scene_fovy[camera] if fovy is None else fovy
      data.qpos[:] = qpos[i]
      mujoco.mj_kinematics(model, data)
      mujoco.mj_camlight(model, data)
      renderer.update_scene(data, camera=task.camera)
      rgb = renderer.render()
      images[i] = to_grayscale(rgb) if self.grayscale else rgb
    return images

  def close(self):
    for _, _, renderer, _ in self._per_model.values():
      renderer.close()
    self._per_model.clear()
