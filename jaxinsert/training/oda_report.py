"""The ODA pipeline's report: per-task success of ODA and no-context AWAC (every seed, pooled
with a Wilson interval), the acceptance counts of digest A11, the latent probe and finetuning.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List

import numpy as np

from jaxinsert.training import evaluation, logging


def _cell(per_seed: List[Dict[str, Any]], split: str, task: str) -> Dict[str, Any]:
  counts = [seed[split]["per_task"][task]["success_k"] for seed in per_seed]
  trials = per_seed[0][split]["per_task"][task]["success_n"]
  low, high = evaluation.wilson_interval(sum(counts), trials * len(counts))
  return {"k": counts, "n": trials, "rate": sum(counts) / (trials * len(counts)),
          "ci95": [low, high]}


def _format(cell: Dict[str, Any]) -> str:
  ks = "/".join(str(k) for k in cell["k"])
  return f"{ks} of {cell['n']} ({cell['rate']:.2f} [{cell['ci95'][0]:.2f}, {cell['ci95'][1]:.2f}])"


def write_summary(pipeline, records: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
  zero_shot = records["zero_shot"]
  rows, lines = [], []
  seeds = len(zero_shot["oda"])
  lines.append(f"ODA vs multi-task AWAC without context, zero-shot from "
               f"{pipeline.config.collect.demos_per_task} demos; k per seed ({seeds} seeds), "
               "pooled rate [Wilson 95%]")
  oracle = "oracle" in zero_shot
  lines.append(f"{'split':6} {'task':18} {'ODA':36} {'AWAC (no context)':36}"
               + (f" {'oracle (true task parameters)':36}" if oracle else ""))
  for split, tasks in (("test", pipeline.test_tasks), ("train", pipeline.train_tasks),
                       ("ood", pipeline.ood_tasks)):
    for task in tasks:
      row = {"split": split, "task": task.name,
             "oda": _cell(zero_shot["oda"], split, task.name),
             "awac": _cell(zero_shot["awac"], split, task.name)}
      if oracle:
        row["oracle"] = _cell(zero_shot["oracle"], split, task.name)
      rows.append(row)
      lines.append(f"{split:6} {task.name:18} {_format(row['oda']):36} {_format(row['awac']):36}"
                   + (f" {_format(row['oracle']):36}" if oracle else ""))
  test_rows = [r for r in rows if r["split"] == "test"]
  at_least = sum(r["oda"]["rate"] >= r["awac"]["rate"] for r in test_rows)
  high = sum(r["oda"]["rate"] >= 0.95 for r in test_rows)
  checks = {"oda_at_least_awac": f"{at_least}/{len(test_rows)}",
            "oda_at_least_95": f"{high}/{len(test_rows)}",
            "oda_test_rate": float(np.mean([r["oda"]["rate"] for r in test_rows])),
            "awac_test_rate": float(np.mean([r["awac"]["rate"] for r in test_rows]))}
  if oracle:
    checks["oracle_test_rate"] = float(np.mean([r["oracle"]["rate"] for r in test_rows]))
    checks["awac_below_95"] = f"{sum(r['awac']['rate'] < 0.95 for r in test_rows)}/{len(test_rows)}"
    checks["oracle_at_least_95"] = (f"{sum(r['oracle']['rate'] >= 0.95 for r in test_rows)}/"
                                    f"{len(test_rows)}")
  lines.append(f"test tasks: ODA >= AWAC on {checks['oda_at_least_awac']} (paper 8/9), ODA >= "
               f"95/100 on {checks['oda_at_least_95']} (paper 6/9 at 100/100); mean success ODA "
               f"{checks['oda_test_rate']:.2f}, AWAC {checks['awac_test_rate']:.2f}")
  if oracle:
    lines.append(f"is context necessary? test tasks: oracle mean {checks['oracle_test_rate']:.2f}, "
                 f">= 95/100 on {checks['oracle_at_least_95']}; no context below 95/100 on "
                 f"{checks['awac_below_95']}")
  for row in rows:
    if row["task"] == "e-model-10p":
      lines.append(f"e-model-10p (training): ODA {row['oda']['rate']:.2f}, AWAC "
                   f"{row['awac']['rate']:.2f} (paper 1.00 vs 0.49)")
  probe = records.get("latent_probe")
  if probe:
    lines.append(f"latent probe: task identified from z with accuracy {probe['probe_accuracy']:.2f} "
                 f"(chance {probe['chance']:.2f}); plot {os.path.basename(probe['plot'])}")
  finetune = records.get("finetune", {}).get("tasks", {})
  for name, result in finetune.items():
    if not result.get("skipped"):
      for label, run in (("ODA", result), ("AWAC", result.get("awac"))):
        if run:
          final = run["final"]
          lines.append(f"finetuned {name} ({label}): zero-shot {run['zero_shot']:.2f} -> "
                       f"{final['success_k']}/{final['success_n']} after {run['env_steps']} env "
                       f"steps (first evaluation >= threshold at {run['steps_to_threshold']})")
  video = os.path.join(pipeline.workdir, "rollout_zero_shot.mp4")
  report = pipeline.config.get("report")
  if report is not None and report.video and not os.path.exists(video):
    from jaxinsert.training import videos

    state = pipeline.agent_states("oda")[0]
    video = videos.record_policy(pipeline.test_tasks[:1],
                                 pipeline.oda_policy(state, pipeline.test_tasks[:1]), video,
                                 pipeline.config.seed + 7)
  if video and os.path.exists(video):
    lines.append(f"rollout video (ODA zero-shot, {pipeline.test_tasks[0].name}): "
                 f"{os.path.basename(video)}")
  seconds = {name: round(record.get("seconds", 0.0)) for name, record in records.items()}
  lines.append("wall-clock per stage (s): " + ", ".join(f"{k} {v}" for k, v in seconds.items()))
  table = "\n".join(lines)
  print(table, flush=True)
  summary = {"rows": rows, "checks": checks, "probe": probe, "finetune": finetune,
             "seconds": seconds, "table": table}
  logging.write_json_atomically(os.path.join(pipeline.workdir, "summary.json"), summary,
                                default=float)
  return summary
