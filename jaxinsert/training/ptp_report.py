"""The PTP study's success table, curve and episode video (summary.json, finetune_curve.png,
ptp_episode.gif)."""

from __future__ import annotations

import glob
import os
import re
from typing import Any, Dict, Optional

import numpy as np

from jaxinsert.training import evaluation, logging

LABELS = {"ptp": "PTP (hierarchical, plan buffer)", "ptp_no_buffer": "PTP w/o plan buffer",
          "ptp_flat": "PTP w/o hierarchy (flat, buffer)", "leap": "LEAP-style (VAE prior, MPPI)",
          "gcp": "GCP (bisection midpoints)", "final_goal": "model-free final goal"}


def _cell(result: Dict[str, Any]) -> str:
  k, n = result["success_k"], result["success_n"]
  low, high = evaluation.wilson_interval(k, n)
  seeds = " ".join(f"{s:.2f}" for s in result["success_per_seed"])
  return f"{k:3d}/{n:<3d} {k / n:5.2f} [{low:.2f}, {high:.2f}] seeds {seeds}"


def plot_curves(finetune: Dict[str, Any], path: str) -> str:
  return logging.plot_success_curves(
      {LABELS.get(method, method): ([p["env_steps"] for p in curve],
                                    [p["success_per_seed"] for p in curve])
       for method, curve in finetune.items()}, path)


def write_summary(pipeline, records: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
  offline = records["offline_eval"]
  finetune = {method: curve for method, curve in records.get("finetune", {}).items()
              if isinstance(curve, list)}
  seeds = pipeline.config.num_seeds
  task = pipeline.config.env.get("task", "tray_socket")
  models = "own latent models per seed" if pipeline.num_model_sets > 1 else "shared latent models"
  lines = [f"multi-stage insertion task {task}; {seeds} seeds ({models}) x "
           f"{pipeline.config.eval.episodes} evaluation episodes; k/N pooled, rate [Wilson 95%]"]
  lines.append(f"{'method':34} {'offline':52} after finetuning")
  rows = {}
  for mode, result in offline.items():
    if not isinstance(result, dict) or "success_k" not in result:
      continue
    after = finetune.get(mode, [None])[-1]
    rows[mode] = {"offline": result, "finetuned": after}
    lines.append(f"{LABELS.get(mode, mode):34} {_cell(result):52} "
                 f"{_cell(after) if after else '-'}")
  checks = {}
  if "ptp" in finetune and "final_goal" in finetune:
    ptp_end = finetune["ptp"][-1]["success_k"] / finetune["ptp"][-1]["success_n"]
    base_end = finetune["final_goal"][-1]["success_k"] / finetune["final_goal"][-1]["success_n"]
    # The start is the offline evaluation the table shows (the curve's first point evaluates
    # the same agents with another key); the curve's only where offline PTP was not evaluated.
    start = offline["ptp"] if "success_k" in offline.get("ptp", {}) else finetune["ptp"][0]
    ptp_start = start["success_k"] / start["success_n"]
    checks = {"ptp_finetuned_at_least_50": ptp_end >= 0.5, "ptp_rises": ptp_end > ptp_start,
              "baseline_at_most_30": base_end <= 0.3, "ptp_finetuned": ptp_end,
              "ptp_start": ptp_start, "baseline_finetuned": base_end}
    lines.append(f"acceptance: PTP {ptp_start:.2f} -> {ptp_end:.2f} (>= 0.50: "
                 f"{checks['ptp_finetuned_at_least_50']}, rises: {checks['ptp_rises']}); "
                 f"baseline {base_end:.2f} (<= 0.30: {checks['baseline_at_most_30']})")
    curve = plot_curves(finetune, os.path.join(pipeline.workdir, "finetune_curve.png"))
    lines.append(f"curve: {os.path.basename(curve)}")
  video = episode_video_of_run(pipeline)
  if video:
    lines.append(f"video: {os.path.basename(video)}")
  seconds = {name: round(record.get("seconds", 0.0)) for name, record in records.items()}
  lines.append("wall-clock per stage (s): " + ", ".join(f"{k} {v}" for k, v in seconds.items()))
  table = "\n".join(lines)
  print(table, flush=True)
  summary = {"task": task, "model_sets": pipeline.num_model_sets,
             "rows": rows, "checks": checks, "seconds": seconds, "table": table, "video": video,
             "collect": records.get("collect"), "models": records.get("models")}
  logging.write_json_atomically(os.path.join(pipeline.workdir, "summary.json"), summary,
                                default=float)
  return summary


def plot_plan(env, positions, subgoals, subgoal_index, path: str, title: str = "") -> str:
  """Side view (x, z) of one episode: the tray, the socket, the path and the planned subgoals
  (numbered; the one followed at each step colours the path)."""
  plt = logging.pyplot()

  positions, subgoals = np.asarray(positions), np.asarray(subgoals)
  figure, axis = plt.subplots(figsize=(6, 3.2))
  _draw_side(env, axis)
  axis.scatter(positions[:, 0], positions[:, 2], c=np.asarray(subgoal_index), cmap="viridis",
               s=10, label="plug tip (colour: subgoal followed)")
  axis.plot(subgoals[:, 0], subgoals[:, 2], "r--", lw=0.8)
  for number, subgoal in enumerate(subgoals):
    axis.annotate(str(number + 1), (subgoal[0], subgoal[2]), color="red", fontsize=8)
  axis.scatter(subgoals[:, 0], subgoals[:, 2], marker="x", color="red", label="planned subgoals")
  axis.set_xlabel("x (m)")
  axis.set_ylabel("z (m)")
  axis.set_aspect("equal")
  axis.legend(fontsize=7, loc="upper left")
  if title:
    axis.set_title(title, fontsize=9)
  return logging.save_figure(figure, path, dpi=120)


def _draw_side(env, side):
  """The obstacles in the side view (x, z): the tray's walls, the table and the hole, the
  barriers' and the lid's x extent."""
  tray_x, half = env.tray_center_m[0], env.tray_half_width_m
  for wall_x in (tray_x - half, tray_x + half):
    side.plot([wall_x, wall_x], [0, env.wall_height_m], "k-", lw=3)
  socket_x = env.socket_center_m[0]
  side.plot([env.workspace_low_m[0], socket_x - env.hole_radius_m], [0, 0], "k-", lw=1)
  side.plot([socket_x + env.hole_radius_m, env.workspace_high_m[0]], [0, 0], "k-", lw=1)
  side.fill_between([socket_x - env.hole_radius_m, socket_x + env.hole_radius_m],
                    -env.hole_depth_m, 0, color="0.85")
  for x_low, x_high, _, _, height in env.barriers:   # barriers, pit walls
    side.fill_between([x_low, x_high], 0, height, color="0.6")
  if env.lid is not None:   # the lid slides along y: its x extent is fixed
    x_low, x_high, _, _ = env.lid_footprint_m(0.0)
    side.fill_between([x_low, x_high], 0, env.lid.height_m, color="tab:orange", alpha=0.5)


def _draw_scene(env, side, top):
  """The obstacles in the side view (x, z) and the top view (x, y); returns the lid's patch in
  the top view (None without a lid)."""
  _draw_side(env, side)
  tray_x, tray_y = env.tray_center_m
  half = env.tray_half_width_m
  top.add_patch(_rectangle(tray_x - half, tray_y - half, 2 * half, 2 * half, fill=False, lw=2))
  socket_x, socket_y = env.socket_center_m
  low, high = env.workspace_low_m, env.workspace_high_m
  top.add_patch(_circle((socket_x, socket_y), env.chamfer_radius_m, fill=False, color="0.4"))
  top.add_patch(_circle((socket_x, socket_y), env.hole_radius_m, color="0.6"))
  for x_low, x_high, y_low, y_high, _ in env.barriers:
    top.add_patch(_rectangle(x_low, y_low, x_high - x_low, y_high - y_low, color="0.6"))
  lid = None
  if env.lid is not None:   # the lid at offset 0; episode_frames moves it along y
    x_low, x_high, y_low, y_high = env.lid_footprint_m(0.0)
    lid = top.add_patch(_rectangle(x_low, y_low, x_high - x_low, y_high - y_low,
                                   color="tab:orange", alpha=0.5))
  side.set_xlim(low[0], high[0])
  side.set_ylim(low[2] - 0.01, high[2])
  top.set_xlim(low[0], high[0])
  top.set_ylim(low[1], high[1])
  for axis, label in ((side, "z (m)"), (top, "y (m)")):
    axis.set_aspect("equal")
    axis.set_xlabel("x (m)", fontsize=7)
    axis.set_ylabel(label, fontsize=7)
    axis.tick_params(labelsize=6)
  return lid


def _rectangle(x, y, width, height, **style):
  from matplotlib.patches import Rectangle
  return Rectangle((x, y), width, height, **style)


def _circle(center, radius, **style):
  from matplotlib.patches import Circle
  return Circle(center, radius, **style)


def episode_frames(env, start, positions, subgoals, subgoal_index, title: str = "") -> np.ndarray:
  """Frames (T + 1, H, W, 3) uint8 of one episode in the side and top views: the planned
  subgoals (decoded to positions) as numbered red crosses, the one being followed ringed, and
  the plug's path so far."""
  plt = logging.pyplot()

  path = np.concatenate([np.asarray(start)[None], np.asarray(positions)])
  subgoals, subgoal_index = np.asarray(subgoals), np.asarray(subgoal_index)
  following = np.concatenate([subgoal_index, subgoal_index[-1:]])
  figure, (side, top) = plt.subplots(2, 1, figsize=(5.0, 4.6))
  lid = _draw_scene(env, side, top)
  goal = np.asarray(env.goal_state())
  for axis, (h, v) in ((side, (0, 2)), (top, (0, 1))):
    axis.plot([goal[h]], [goal[v]], "*", color="green", ms=9)   # the final goal
    axis.plot(subgoals[:, h], subgoals[:, v], "r--", lw=0.6)
    axis.scatter(subgoals[:, h], subgoals[:, v], marker="x", color="red", s=18)
    for number, subgoal in enumerate(subgoals):
      axis.annotate(str(number + 1), (subgoal[h], subgoal[v]), color="red", fontsize=6)
  artists = []
  for axis, (h, v) in ((side, (0, 2)), (top, (0, 1))):
    trail, = axis.plot([], [], "-", color="tab:blue", lw=1)
    plug, = axis.plot([], [], "o", color="tab:blue", ms=5)
    ring, = axis.plot([], [], "o", mfc="none", mec="magenta", ms=11, mew=1.5)
    artists.append((trail, plug, ring, h, v))
  heading = figure.suptitle("", fontsize=8)
  frames = []
  for t in range(len(path)):
    current = int(following[t])
    for trail, plug, ring, h, v in artists:
      trail.set_data(path[:t + 1, h], path[:t + 1, v])
      plug.set_data([path[t, h]], [path[t, v]])
      ring.set_data([subgoals[current, h]], [subgoals[current, v]])
    if lid is not None:   # the state's 4th entry: the lid's offset along y
      lid.set_y(env.lid_footprint_m(float(path[t, 3]))[2])
    heading.set_text(f"{title}\nstep {t}/{len(path) - 1}, following subgoal {current + 1} of "
                     f"{len(subgoals)} (ringed); red crosses: the planned subgoals")
    figure.canvas.draw()
    frames.append(np.asarray(figure.canvas.buffer_rgba())[..., :3].copy())
  plt.close(figure)
  return np.stack(frames)


def episode_video(env, episode_path: str, out_path: str, title: str = "") -> str:
  """The video of a saved episode (PTPPipeline.save_episode), as a gif or an mp4."""
  from jaxinsert.training import videos
  episode = np.load(episode_path)
  outcome = "inserted" if bool(episode["success"]) else "not inserted"
  frames = episode_frames(env, episode["start"], episode["positions"], episode["subgoals"],
                          episode["subgoal_index"], f"{title} ({outcome})")
  frames = np.concatenate([frames, np.repeat(frames[-1:], 5, axis=0)])   # rest on the outcome
  return videos.save_video(out_path, frames, fps=8)


def episode_video_of_run(pipeline) -> Optional[str]:
  """ptp_episode.gif from the latest saved PTP episode of the run (None if there is none)."""
  saved = glob.glob(os.path.join(pipeline.workdir, "episodes", "ptp_iteration*.npz"))
  if not saved:
    return None
  latest = max(saved, key=lambda p: int(re.search(r"iteration(\d+)", p).group(1)))
  iteration = int(re.search(r"iteration(\d+)", latest).group(1))
  return episode_video(pipeline.env, latest, os.path.join(pipeline.workdir, "ptp_episode.gif"),
                       f"PTP on {pipeline.config.env.get('task', 'tray_socket')}, "
                       f"online iteration {iteration}, seed 0, episode 0")
