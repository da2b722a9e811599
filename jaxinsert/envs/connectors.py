"""Connector geometry from parameters: the plug and socket shapes as lists of convex parts.

A connector is described by a `ConnectorSpec` (cross-section, sizes, clearance, chamfer, depth,
friction, contact stiffness, pins, key). `plug_parts` and `socket_parts` turn it into convex
primitives that both physics backends collide: boxes, and convex prism meshes for chamfered or
non-rectangular plugs (MJX cannot collide cylinders with boxes or meshes, so round plugs are
16-gon prisms). The socket is always boxes: one wall per edge of the hole polygon, a pocket for
the key, a pin plate for multi-pin connectors, and a floor at full depth.

Frames: the plug frame has its origin at the plug tip (bottom centre), z up. The socket frame has
its origin at the centre of the hole entrance (top face), z up; the hole goes down to -depth_m.
"""

from __future__ import annotations

import dataclasses
import math
from typing import List, Optional, Tuple

import numpy as np

CROSS_SECTIONS = ("rect", "keyed", "trapezoid", "multipin", "round")

# The socket face must stay under the plug for the largest start offset (LOTJ: 20 mm box).
WALL_THICKNESS_M = 0.03
FLOOR_THICKNESS_M = 0.004


@dataclasses.dataclass(frozen=True)
class ConnectorSpec:
  """Geometry and contact parameters of one plug/socket pair (SI units)."""

  name: str
  cross_section: str = "rect"
  width_m: float = 0.010          # plug extent along x (bottom width for trapezoids, diameter for round)
  length_m: float = 0.010         # plug extent along y
  clearance_m: float = 0.0005     # radial play per side between plug and hole
  chamfer_m: float = 0.0          # 45-degree bevel on the plug's bottom edges
  depth_m: float = 0.010          # insertion depth (socket top to floor)
  plug_height_m: float = 0.030    # plug length above its tip (grip point at the top)
  friction: float = 0.5
  solref_timeconst_s: float = 0.005  # contact stiffness: smaller is stiffer (>= 2 * timestep)
  taper: float = 0.7              # trapezoid: top width / bottom width of the cross-section
  key_width_m: float = 0.003
  key_depth_m: float = 0.0015
  pin_count: int = 2
  pin_size_m: float = 0.0015      # square pin side
  pin_pitch_m: float = 0.003
  pin_length_m: float = 0.004
  shroud_clearance_m: Optional[float] = None  # multipin housing play (default: clearance)
  plug_rgba: Tuple[float, float, float, float] = (0.2, 0.2, 0.25, 1.0)
  socket_rgba: Tuple[float, float, float, float] = (0.8, 0.8, 0.75, 1.0)

  def __post_init__(self):
    if self.cross_section not in CROSS_SECTIONS:
      raise ValueError(f"cross_section {self.cross_section!r} not in {CROSS_SECTIONS}")
    if not 0.0 < self.clearance_m < 0.005:
      raise ValueError(f"clearance_m {self.clearance_m} outside (0, 5 mm)")
    if self.cross_section == "multipin" and self.pin_length_m >= self.depth_m:
      raise ValueError("multipin: pin_length_m must be shorter than depth_m")


@dataclasses.dataclass(frozen=True)
class Box:
  center: Tuple[float, float, float]
  half_size: Tuple[float, float, float]
  yaw_rad: float = 0.0


@dataclasses.dataclass(frozen=True)
class Prism:
  """A convex prism along z from z0 to z1 with a bottom bevel of `chamfer` (mesh vertices)."""

  polygon_xy: Tuple[Tuple[float, float], ...]  # counter-clockwise
  z0: float
  z1: float
  chamfer: float = 0.0

  def vertices(self) -> np.ndarray:
    poly = np.asarray(self.polygon_xy)
    top = np.concatenate([poly, np.full((len(poly), 1), self.z1)], axis=1)
    if self.chamfer <= 0:
      bottom = np.concatenate([poly, np.full((len(poly), 1), self.z0)], axis=1)
      return np.concatenate([bottom, top])
    mid = np.concatenate([poly, np.full((len(poly), 1), self.z0 + self.chamfer)], axis=1)
    inner = offset_polygon(poly, -self.chamfer)
    bottom = np.concatenate([inner, np.full((len(poly), 1), self.z0)], axis=1)
    return np.concatenate([bottom, mid, top])


def offset_polygon(polygon_xy, distance: float) -> np.ndarray:
  """Moves every edge of a convex counter-clockwise polygon outward by `distance`."""
  poly = np.asarray(polygon_xy, dtype=np.float64)
  n = len(poly)
  normals = []
  for i in range(n):
    edge = poly[(i + 1) % n] - poly[i]
    normals.append(np.array([edge[1], -edge[0]]) / np.linalg.norm(edge))
  out = []
  for i in range(n):
    n_prev, n_next = normals[i - 1], normals[i]
    # The vertex moves along the bisector so both adjacent edges move by `distance`.
    bisector = n_prev + n_next
    scale = distance / (1.0 + float(n_prev @ n_next))
    out.append(poly[i] + bisector * scale)
  return np.asarray(out)


def cross_section_polygon(spec: ConnectorSpec) -> np.ndarray:
  """The plug's main cross-section (counter-clockwise xy vertices)."""
  w, l = spec.width_m / 2, spec.length_m / 2
  if spec.cross_section == "trapezoid":
    top = w * spec.taper
    return np.array([[-w, -l], [w, -l], [top, l], [-top, l]])
  if spec.cross_section == "round":
    n = 16
    angles = 2 * np.pi * (np.arange(n) + 0.5) / n
    return np.stack([w * np.cos(angles), w * np.sin(angles)], axis=1)
  return np.array([[-w, -l], [w, -l], [w, l], [-w, l]])


def plug_parts(spec: ConnectorSpec) -> List[object]:
  """Convex parts of the plug in the plug frame (tip at the origin)."""
  height = spec.plug_height_m
  bottom = spec.pin_length_m if spec.cross_section == "multipin" else 0.0
  w, l = spec.width_m / 2, spec.length_m / 2
  parts: List[object] = []
  if spec.cross_section in ("rect", "keyed", "multipin") and spec.chamfer_m <= 0:
    parts.append(Box((0.0, 0.0, (bottom + height) / 2), (w, l, (height - bottom) / 2)))
  else:
    poly = tuple(map(tuple, cross_section_polygon(spec)))
    parts.append(Prism(poly, bottom, height, spec.chamfer_m))
  if spec.cross_section == "keyed":
    # The key fin stops one chamfer above the tip so the main body enters first.
    z0 = spec.chamfer_m
    parts.append(Box((0.0, l + spec.key_depth_m / 2, (z0 + height) / 2),
                     (spec.key_width_m / 2, spec.key_depth_m / 2, (height - z0) / 2)))
  if spec.cross_section == "multipin":
    half_pin = spec.pin_size_m / 2
    overlap = 0.0005  # pins reach into the housing so the plug is one rigid body
    for x in pin_positions(spec):
      parts.append(Box((x, 0.0, (spec.pin_length_m + overlap) / 2),
                       (half_pin, half_pin, (spec.pin_length_m + overlap) / 2)))
  return parts


def pin_positions(spec: ConnectorSpec) -> np.ndarray:
  return (np.arange(spec.pin_count) - (spec.pin_count - 1) / 2) * spec.pin_pitch_m


def _walls_around(polygon_xy: np.ndarray, z_top: float, z_bottom: float,
                  thickness: float) -> List[Box]:
  """One box per polygon edge, on the outer side of the edge, from z_bottom to z_top."""
  boxes = []
  n = len(polygon_xy)
  for i in range(n):
    a, b = polygon_xy[i], polygon_xy[(i + 1) % n]
    edge = b - a
    length = float(np.linalg.norm(edge))
    normal = np.array([edge[1], -edge[0]]) / length
    center = (a + b) / 2 + normal * thickness / 2
    # Extending along the edge closes the corners; a convex hole never reaches the extension.
    boxes.append(Box((float(center[0]), float(center[1]), (z_top + z_bottom) / 2),
                     (length / 2 + thickness, thickness / 2, (z_top - z_bottom) / 2),
                     yaw_rad=math.atan2(edge[1], edge[0])))
  return boxes


def socket_parts(spec: ConnectorSpec) -> List[Box]:
  """Boxes of the socket in the socket frame (hole entrance centre at the origin)."""
  c, t, depth = spec.clearance_m, WALL_THICKNESS_M, spec.depth_m
  w, l = spec.width_m / 2, spec.length_m / 2
  parts: List[Box] = []
  hole_clearance = c
  shroud_bottom = -depth
  if spec.cross_section == "multipin":
    # The shroud aligns the housing so that the pins meet their holes, as in real connectors.
    hole_clearance = spec.shroud_clearance_m if spec.shroud_clearance_m else c
    shroud_bottom = -(depth - spec.pin_length_m)
  hole = offset_polygon(cross_section_polygon(spec), hole_clearance)
  walls = _walls_around(hole, 0.0, shroud_bottom, t)
  if spec.cross_section == "keyed":
    walls = walls[:2] + walls[3:]  # the +y wall (index 2) is rebuilt with a gap for the key
    y_in = l + c
    gap = spec.key_width_m / 2 + c
    x_out = w + c + t
    z_mid, z_half = -depth / 2, depth / 2
    for sign in (-1, 1):
      parts.append(Box((sign * (gap + x_out) / 2, y_in + t / 2, z_mid),
                       ((x_out - gap) / 2, t / 2, z_half)))
    pocket_y1 = l + spec.key_depth_m + c
    for sign in (-1, 1):
      parts.append(Box((sign * (gap + t / 2), (y_in + pocket_y1 + t) / 2, z_mid),
                       (t / 2, (pocket_y1 + t - y_in) / 2, z_half)))
    parts.append(Box((0.0, pocket_y1 + t / 2, z_mid), (gap + t, t / 2, z_half)))
  parts = walls + parts
  if spec.cross_section == "multipin":
    parts += _pin_plate(spec, hole_clearance)
  extent = max(w, l) + hole_clearance + 2 * t
  parts.append(Box((0.0, 0.0, -depth - FLOOR_THICKNESS_M / 2),
                   (extent, extent, FLOOR_THICKNESS_M / 2)))
  return parts


def _pin_plate(spec: ConnectorSpec, shroud_clearance: float) -> List[Box]:
  """The plate under the shroud with one square hole per pin (bars between the holes)."""
  c = spec.clearance_m
  half_hole = spec.pin_size_m / 2 + c
  x_edge = spec.width_m / 2 + shroud_clearance
  y_edge = spec.length_m / 2 + shroud_clearance
  z_top, z_bottom = -(spec.depth_m - spec.pin_length_m), -spec.depth_m
  z_mid, z_half = (z_top + z_bottom) / 2, (z_top - z_bottom) / 2
  bars = []
  edges = [-x_edge] + [v for x in pin_positions(spec) for v in (x - half_hole, x + half_hole)]
  edges.append(x_edge)
  for x0, x1 in zip(edges[0::2], edges[1::2]):
    if x1 - x0 > 1e-6:
      bars.append(Box(((x0 + x1) / 2, 0.0, z_mid), ((x1 - x0) / 2, half_hole, z_half)))
  for sign in (-1, 1):
    bars.append(Box((0.0, sign * (half_hole + y_edge) / 2, z_mid),
                    (x_edge, (y_edge - half_hole) / 2, z_half)))
  return bars


def insertion_lateral_slack_m(spec: ConnectorSpec) -> float:
  """How far the plug can move sideways at full depth (the tightest fit)."""
  return spec.clearance_m
