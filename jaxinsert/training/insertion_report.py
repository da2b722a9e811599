"""What an insertion pipeline run leaves for a reader: the success table, the plot of success
against online trials, a rollout video of the final policy and summary.json.

The table gives, per connector, success k/N with its 95% Wilson interval before finetuning
(zero-shot) and after, then the online trials used and the wall-clock of every stage.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

import numpy as np

from jaxinsert.training import evaluation, logging

STAGES = ("collect", "offline", "zero_shot", "online", "finetuned")


def _cell(summary: Optional[Dict[str, Any]]) -> str:
  if not summary:
    return "-"
  low, high = summary["success_ci95"]
  return f"{summary['success_k']:>2}/{summary['success_n']:<2} [{low:.2f}, {high:.2f}]"


def table_rows(before: Optional[Dict], after: Optional[Dict], held_out_label: str = "held-out"
               ) -> List[Dict[str, Any]]:
  """One row per (split, connector) plus a pooled row per split.

  Splits: held-out (finetuned on; `held_out_label` names it), train (the offline data's
  connectors), eval-only (never trained on)."""
  rows = []
  for split in ("held_out", "train", "also"):
    first = (before or {}).get(split) or (after or {}).get(split)
    if not first:
      continue
    names = list(first["per_task"]) + ["all"]
    for name in names:
      cells = []
      for result in (before, after):
        part = (result or {}).get(split)
        cells.append(None if not part else
                     part["pooled"] if name == "all" else part["per_task"].get(name))
      label = {"held_out": held_out_label, "also": "eval-only"}.get(split, split)
      rows.append({"split": label, "connector": name, "before": cells[0],
                   "after": cells[1]})
  return rows


def format_table(records: Dict[str, Optional[Dict]], method: str) -> str:
  before = records.get("zero_shot")
  after = records.get("finetuned")
  first = "controller" if method == "controller" else (
      "zero-shot" if method == "offline_to_online" else "before online")
  lines = [f"{'connector':<26}{'split':<10}{first + ' k/N [95% CI]':<30}"
           f"{'finetuned k/N [95% CI]' if after else ''}"]
  label = "held-out" if method == "offline_to_online" else "target"
  for row in table_rows(before, after, label):
    lines.append(f"{row['connector']:<26}{row['split']:<10}{_cell(row['before']):<30}"
                 f"{_cell(row['after']) if after else ''}")
  paired = paired_test(before, after)
  if paired:
    lines.append(f"paired (same starts and goal offsets), held-out: {paired['gained']} trials "
                 f"failed before and succeeded after, {paired['lost']} the reverse; exact "
                 f"McNemar p = {paired['p_value']:.3g}")
  online = records.get("online")
  if online:
    lines.append(f"online trials used: {online['episodes']} episodes "
                 f"({online['env_steps']} environment steps, {online['successes']} successful)")
  timings = [f"{stage} {records[stage]['seconds']:.0f} s" for stage in STAGES if records.get(stage)]
  lines.append("wall-clock per stage: " + ", ".join(timings))
  return "\n".join(lines)


def paired_test(before: Optional[Dict], after: Optional[Dict]) -> Optional[Dict[str, Any]]:
  """McNemar's exact test on the held-out trials, which start identically before and after."""
  outcomes = [((r or {}).get("held_out") or {}).get("pooled", {}).get("outcomes")
              for r in (before, after)]
  if not all(outcomes):
    return None
  return evaluation.mcnemar_exact(*outcomes)


def plot_success_vs_trials(workdir: str, records: Dict[str, Optional[Dict]],
                           output_path: str) -> Optional[str]:
  """Held-out success (pooled, 95% Wilson band, and per connector) against online episodes."""
  metrics_path = os.path.join(workdir, "online", "metrics.jsonl")
  if not os.path.exists(metrics_path) or not records.get("zero_shot"):
    return None
  plt = logging.pyplot()

  evals = [r for r in logging.read_metrics(metrics_path) if "eval/success_rate" in r]
  before = records["zero_shot"]["held_out"]
  after = (records.get("finetuned") or {}).get("held_out")
  points = [(0, before["pooled"]["success_rate"], before["pooled"]["success_n"])]
  for record in evals:
    points.append((record["eval/online_episodes"], record["eval/success_rate"], None))
  figure, axis = plt.subplots(figsize=(6.5, 4))
  trials = _online_trials(workdir)
  # Online evaluations pool `online_eval_trials` episodes of every held-out connector.
  online_n = trials * len(before["per_task"]) if trials else None
  xs = np.array([p[0] for p in points], float)
  ys = np.array([p[1] for p in points], float)
  ns = [p[2] or online_n for p in points]
  if all(ns):
    bands = [evaluation.wilson_interval(int(round(y * n)), n) for y, n in zip(ys, ns)]
    axis.fill_between(xs, [b[0] for b in bands], [b[1] for b in bands], alpha=0.2,
                      label="95% Wilson interval")
  axis.plot(xs, ys, "o-", lw=2, label="held-out connectors (pooled)")
  for name in before["per_task"]:
    key = f"eval/success_rate/{name}"
    series = [(0, before["per_task"][name]["success_rate"])] + [
        (r["eval/online_episodes"], r[key]) for r in evals if key in r]
    axis.plot(*zip(*series), lw=1, alpha=0.6, label=name)
  if after:
    final_x = (records.get("online") or {}).get("episodes", xs[-1])
    rate = after["pooled"]["success_rate"]
    low, high = after["pooled"]["success_ci95"]
    axis.errorbar([final_x], [rate], yerr=[[max(rate - low, 0.0)], [max(high - rate, 0.0)]],
                  fmt="s", color="black", capsize=4, label="final evaluation")
  axis.set_xlabel("online trials (episodes)")
  axis.set_ylabel("success rate")
  axis.set_ylim(-0.02, 1.02)
  axis.grid(alpha=0.3)
  axis.legend(fontsize=7)
  return logging.save_figure(figure, output_path, dpi=110)


def _online_trials(workdir: str) -> Optional[int]:
  path = os.path.join(workdir, "provenance.json")
  try:
    with open(path) as handle:
      return int(json.load(handle)["config"]["pipeline"]["online_eval_trials"])
  except (OSError, KeyError, ValueError):
    return None


def write_video(pipeline, output_path: str, size: int = 128) -> Optional[str]:
  """One episode of the final policy on the first held-out connector (None without EGL)."""
  from jaxinsert.training import videos

  method = pipeline.config.pipeline.method
  finetuned = method != "controller" and pipeline.record("finetuned") is not None
  return videos.record_policy(pipeline.held_out[:1], pipeline.policy("after" if finetuned else "before"),
                              output_path, pipeline.config.seed + 7, size,
                              pipeline.config.pipeline.residual_base)


def write_summary(pipeline) -> Dict[str, Any]:
  """Prints the table and writes summary.json, the plot and (once) the video."""
  workdir = pipeline.workdir
  records = {stage: pipeline.record(stage) for stage in STAGES}
  method = pipeline.config.pipeline.method
  table = format_table(records, method)
  plot = plot_success_vs_trials(workdir, records,
                                os.path.join(workdir, "success_vs_online_trials.png"))
  video = os.path.join(workdir, "rollout.mp4")
  if pipeline.config.pipeline.video and not os.path.exists(video):
    video = write_video(pipeline, video)
  elif not os.path.exists(video):
    video = None
  summary = {"method": method, "agent": pipeline.config.agent_name,
             "residual_base": pipeline.config.pipeline.residual_base,
             "held_out": [t.name for t in pipeline.held_out],
             "train": [t.name for t in pipeline.train_tasks],
             "rows": table_rows(records.get("zero_shot"), records.get("finetuned"),
                                "held-out" if method == "offline_to_online" else "target"),
             "online": records.get("online"),
             "paired_held_out": paired_test(records.get("zero_shot"), records.get("finetuned")),
             "seconds": {s: records[s]["seconds"] for s in STAGES if records.get(s)},
             "table": table, "plot": plot, "video": video}
  with open(os.path.join(workdir, "summary.json"), "w") as handle:
    json.dump(summary, handle, indent=2, default=float)
  print(table, flush=True)
  return summary
