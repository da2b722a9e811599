"""The PTP study's success table and curve (summary.json, finetune_curve.png)."""

from __future__ import annotations

import os
from typing import Any, Dict

import numpy as np

from jaxinsert.training import evaluation, logging

LABELS = {"ptp": "PTP (hierarchical, plan buffer)", "ptp_no_buffer": "PTP w/o plan buffer",
          "ptp_flat": "PTP w/o hierarchy (flat K=8)", "final_goal": "model-free final goal"}


def _cell(result: Dict[str, Any]) -> str:
  k, n = result["success_k"], result["success_n"]
  low, high = evaluation.wilson_interval(k, n)
  seeds = " ".join(f"{s:.2f}" for s in result["success_per_seed"])
  return f"{k:3d}/{n:<3d} {k / n:5.2f} [{low:.2f}, {high:.2f}] seeds {seeds}"


def plot_curves(finetune: Dict[str, Any], path: str) -> str:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  figure, axis = plt.subplots(figsize=(5.5, 3.5))
  for method, curve in finetune.items():
    steps = np.array([point["env_steps"] for point in curve])
    per_seed = np.array([point["success_per_seed"] for point in curve])
    axis.plot(steps, per_seed.mean(1), label=LABELS.get(method, method), lw=1.5)
    axis.fill_between(steps, per_seed.min(1), per_seed.max(1), alpha=0.2)
  axis.set_xlabel("online environment steps (per seed)")
  axis.set_ylabel("success (end of episode)")
  axis.set_ylim(-0.02, 1.02)
  axis.grid(alpha=0.3)
  axis.legend(fontsize=8)
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  plt.close(figure)
  return path


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
    ptp_start = finetune["ptp"][0]["success_k"] / finetune["ptp"][0]["success_n"]
    checks = {"ptp_finetuned_at_least_50": ptp_end >= 0.5, "ptp_rises": ptp_end > ptp_start,
              "baseline_at_most_30": base_end <= 0.3, "ptp_finetuned": ptp_end,
              "ptp_start": ptp_start, "baseline_finetuned": base_end}
    lines.append(f"acceptance: PTP {ptp_start:.2f} -> {ptp_end:.2f} (>= 0.50: "
                 f"{checks['ptp_finetuned_at_least_50']}, rises: {checks['ptp_rises']}); "
                 f"baseline {base_end:.2f} (<= 0.30: {checks['baseline_at_most_30']})")
    curve = plot_curves(finetune, os.path.join(pipeline.workdir, "finetune_curve.png"))
    lines.append(f"curve: {os.path.basename(curve)}")
  seconds = {name: round(record.get("seconds", 0.0)) for name, record in records.items()}
  lines.append("wall-clock per stage (s): " + ", ".join(f"{k} {v}" for k, v in seconds.items()))
  table = "\n".join(lines)
  print(table, flush=True)
  summary = {"task": task, "model_sets": pipeline.num_model_sets,
             "rows": rows, "checks": checks, "seconds": seconds, "table": table,
             "collect": records.get("collect"), "models": records.get("models")}
  logging.write_json_atomically(os.path.join(pipeline.workdir, "summary.json"), summary,
                                default=float)
  return summary


def plot_plan(env, positions, subgoals, subgoal_index, path: str, title: str = "") -> str:
  """Side view (x, z) of one episode: the tray, the socket, the path and the planned subgoals
  (numbered; the one followed at each step colours the path)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  positions, subgoals = np.asarray(positions), np.asarray(subgoals)
  figure, axis = plt.subplots(figsize=(6, 3.2))
  tray_x, half = env.tray_center_m[0], env.tray_half_width_m
  for wall_x in (tray_x - half, tray_x + half):
    axis.plot([wall_x, wall_x], [0, env.wall_height_m], "k-", lw=3)
  socket_x = env.socket_center_m[0]
  axis.plot([-0.25, socket_x - env.hole_radius_m], [0, 0], "k-", lw=1)
  axis.plot([socket_x + env.hole_radius_m, 0.25], [0, 0], "k-", lw=1)
  axis.fill_between([socket_x - env.hole_radius_m, socket_x + env.hole_radius_m],
                    -env.hole_depth_m, 0, color="0.85")
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
  figure.tight_layout()
  figure.savefig(path, dpi=120)
  plt.close(figure)
  return path
