"""The ODA pipeline's report: per-task success of ODA, no-context AWAC and the other baselines
(every seed, pooled with a Wilson interval), the acceptance counts of digest A11, the latent
probe and finetuning.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Tuple

import numpy as np

from jaxinsert.training import evaluation, logging


def _pooled(counts: List[int], trials: int) -> Dict[str, Any]:
  """Successes per seed of `trials` each, pooled with a Wilson interval."""
  low, high = evaluation.wilson_interval(sum(counts), trials * len(counts))
  return {"k": counts, "n": trials, "rate": sum(counts) / (trials * len(counts)),
          "ci95": [low, high]}


def _cell(per_seed: List[Dict[str, Any]], split: str, task: str) -> Dict[str, Any]:
  return _pooled([seed[split]["per_task"][task]["success_k"] for seed in per_seed],
                 per_seed[0][split]["per_task"][task]["success_n"])


def _format(cell: Dict[str, Any]) -> str:
  ks = "/".join(str(k) for k in cell["k"])
  return f"{ks} of {cell['n']} ({cell['rate']:.2f} [{cell['ci95'][0]:.2f}, {cell['ci95'][1]:.2f}])"


def write_summary(pipeline, records: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
  zero_shot = records["zero_shot"]
  rows, lines = [], []
  seeds = len(zero_shot["oda"])
  lines.append(f"ODA{' vs multi-task AWAC without context' if 'awac' in zero_shot else ''}, "
               f"zero-shot from "
               f"{pipeline.config.collect.demos_per_task} demos; k per seed ({seeds} seeds), "
               "pooled rate [Wilson 95%]")
  oracle, baseline = "oracle" in zero_shot, "awac" in zero_shot
  columns = [("oda", "ODA")] + ([("awac", "AWAC (no context)")] if baseline else []) + (
      [("oracle", "oracle (true task parameters)")] if oracle else [])
  # Digest A10's other baselines (test and out-of-distribution tasks only): the same layout.
  others = records.get("other_baselines", {}).get("methods", {})
  columns += [(method, OTHER_TITLES[method]) for method in others]
  sources = {**zero_shot, **others}
  lines.append(f"{'split':6} {'task':18} " + " ".join(f"{title:36}" for _, title in columns))
  for split, tasks in (("test", pipeline.test_tasks), ("train", pipeline.train_tasks),
                       ("ood", pipeline.ood_tasks)):
    for task in tasks:
      row = {"split": split, "task": task.name}
      row.update({method: _cell(sources[method], split, task.name) for method, _ in columns
                  if split in sources[method][0]})
      rows.append(row)
      lines.append(f"{split:6} {task.name:18} " + " ".join(
          f"{_format(row[method]) if method in row else '-':36}" for method, _ in columns))
  test_rows = [r for r in rows if r["split"] == "test"]
  high = sum(r["oda"]["rate"] >= 0.95 for r in test_rows)
  checks = {"oda_at_least_95": f"{high}/{len(test_rows)}",
            "oda_test_rate": float(np.mean([r["oda"]["rate"] for r in test_rows]))}
  if baseline:
    at_least = sum(r["oda"]["rate"] >= r["awac"]["rate"] for r in test_rows)
    checks["oda_at_least_awac"] = f"{at_least}/{len(test_rows)}"
    checks["awac_test_rate"] = float(np.mean([r["awac"]["rate"] for r in test_rows]))
    lines.append(f"test tasks: ODA >= AWAC on {checks['oda_at_least_awac']} (paper 8/9), ODA >= "
                 f"95/100 on {checks['oda_at_least_95']} (paper 6/9 at 100/100); mean success "
                 f"ODA {checks['oda_test_rate']:.2f}, AWAC {checks['awac_test_rate']:.2f}")
  else:
    lines.append(f"test tasks: ODA >= 95/100 on {checks['oda_at_least_95']} (paper 6/9 at "
                 f"100/100); mean success ODA {checks['oda_test_rate']:.2f} (no baseline trained)")
  if others:
    lines.append(other_baselines_line(test_rows, others, checks))
  if oracle:
    checks["oracle_test_rate"] = float(np.mean([r["oracle"]["rate"] for r in test_rows]))
    checks["oracle_at_least_95"] = (f"{sum(r['oracle']['rate'] >= 0.95 for r in test_rows)}/"
                                    f"{len(test_rows)}")
    line = (f"is context necessary? test tasks: oracle mean {checks['oracle_test_rate']:.2f}, "
            f">= 95/100 on {checks['oracle_at_least_95']}")
    if baseline:
      checks["awac_below_95"] = (f"{sum(r['awac']['rate'] < 0.95 for r in test_rows)}/"
                                 f"{len(test_rows)}")
      line += f"; no context below 95/100 on {checks['awac_below_95']}"
    lines.append(line)
  for row in rows:
    if row["task"] == "e-model-10p" and baseline:
      lines.append(f"e-model-10p (training): ODA {row['oda']['rate']:.2f}, AWAC "
                   f"{row['awac']['rate']:.2f} (paper 1.00 vs 0.49)")
  probe = records.get("latent_probe")
  if probe:
    lines.append(f"latent probe: task identified from z with accuracy {probe['probe_accuracy']:.2f} "
                 f"(chance {probe['chance']:.2f}); plot {os.path.basename(probe['plot'])}")
  finetune = records.get("finetune", {}).get("tasks", {})
  before_after = before_after_rows(rows, finetune)
  lines.extend(before_after_lines(before_after, pipeline.config.finetune.threshold))
  lines.extend(finetune_lines(finetune, pipeline.config.finetune.threshold,
                              pipeline.config.finetune.get("stop_after_successes", 0)))
  checks.update(finetune_checks(finetune))
  curves = plot_finetune_curves(finetune, pipeline.workdir)
  if curves:
    lines.append("finetuning curves: " + ", ".join(os.path.basename(p) for p in curves))
  scaling = records.get("data_scaling")
  if scaling:
    lines.extend(scaling_lines(scaling))
    checks["scaling_test_rate"] = [point["test_rate"] for point in _scaling_points(scaling)]
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
             "before_after": before_after,
             "scaling": _scaling_points(scaling) if scaling else None,
             "seconds": seconds, "table": table}
  logging.write_json_atomically(os.path.join(pipeline.workdir, "summary.json"), summary,
                                default=float)
  return summary


OTHER_TITLES = {"bc_demos": "BC on the task's demos", "offline_ddpg": "offline DDPG (no context)"}


def other_baselines_line(test_rows: List[Dict[str, Any]], others: Dict[str, Any],
                         checks: Dict[str, Any]) -> str:
  """Digest A10's other baselines against the paper's reading of them (ODA-8), into `checks`."""
  parts = []
  if "bc_demos" in others:
    checks["bc_demos_test_rate"] = float(np.mean([r["bc_demos"]["rate"] for r in test_rows]))
    checks["bc_demos_below_100"] = (f"{sum(r['bc_demos']['rate'] < 1.0 for r in test_rows)}/"
                                    f"{len(test_rows)}")
    parts.append(f"BC on the task's demos mean {checks['bc_demos_test_rate']:.2f}, below "
                 f"100/100 on {checks['bc_demos_below_100']} (paper: below 100% under start noise)")
  if "offline_ddpg" in others:
    checks["offline_ddpg_test_rate"] = float(np.mean([r["offline_ddpg"]["rate"]
                                                      for r in test_rows]))
    parts.append(f"offline DDPG mean {checks['offline_ddpg_test_rate']:.2f} (paper: about 0)")
  return "test tasks: " + "; ".join(parts)


FINETUNED = (("oda", "ODA, Algorithm 2"), ("oda_demos", "ODA, demos in the buffer"),
             ("awac", "AWAC, no context"), ("ddpgfd", "DDPGfD from scratch"))


def before_after_rows(rows: List[Dict[str, Any]], finetune: Dict[str, Any]
                      ) -> List[Dict[str, Any]]:
  """Per finetuned task, successes per seed before and after finetuning by the first ODA method
  finetuned ("oda_demos", else Algorithm 2): a finetuned seed's starting policy and its final
  policy on the same starts (paired), a seed at the threshold already (not finetuned) its
  zero-shot count twice."""
  table = []
  for row in rows:
    result = finetune.get(row["task"])
    if result is None or row["split"] == "train":
      continue
    method = next((m for m in ("oda_demos", "oda")
                   if any(m in seed["runs"] for seed in result["seeds"])), None)
    zero_shot = row["oda"]["k"][:len(result["seeds"])]
    runs = [seed["runs"].get(method) for seed in result["seeds"]]
    # Records made before 2026-12-03 hold no paired start: their zero-shot count stands in.
    before = [run["start"]["success_k"] if run and "start" in run else k
              for run, k in zip(runs, zero_shot)]
    after = [run["final"]["success_k"] if run else k for run, k in zip(runs, zero_shot)]
    table.append({"split": row["split"], "task": row["task"], "method": method,
                  "env_steps": [run["env_steps"] for run in runs if run],
                  "before": _pooled(before, row["oda"]["n"]),
                  "after": _pooled(after, row["oda"]["n"])})
  return table


def before_after_lines(table: List[Dict[str, Any]], threshold: float) -> List[str]:
  if not table:
    return []
  lines = [f"before -> after online finetuning (ODA; k per seed, pooled [Wilson 95%]; a finetuned "
           f"seed before and after on the same starts, a seed at >= {threshold:.2f} zero-shot "
           "not finetuned and keeps its count):",
           f"{'split':6} {'task':18} {'before':36} {'finetuned':36} env steps per seed"]
  for row in table:
    steps = "/".join(str(s) for s in row["env_steps"]) or "-"
    lines.append(f"{row['split']:6} {row['task']:18} {_format(row['before']):36} "
                 f"{_format(row['after']):36} {steps}")
  pooled = {when: (sum(sum(r[when]["k"]) for r in table),
                   sum(r[when]["n"] * len(r[when]["k"]) for r in table))
            for when in ("before", "after")}
  lines.append("all finetuned tasks: " + " -> ".join(
      f"{k}/{n} = {k / n:.2f}" for k, n in pooled.values()))
  return lines


def _finetuned_seeds(result: Dict[str, Any]) -> List[Tuple[int, Dict[str, Any]]]:
  """(seed index, its runs by method) of one task's record, for the seeds finetuned."""
  return [(index, seed["runs"]) for index, seed in enumerate(result["seeds"]) if seed["runs"]]


def finetune_lines(finetune: Dict[str, Any], threshold: float, stop_after: int) -> List[str]:
  """Per task and method: each finetuned seed's start -> final and when it first reached the
  threshold, then the final success pooled over those seeds."""
  lines = []
  for name, result in finetune.items():
    skipped = [f"seed {i} ({seed['zero_shot']:.2f})" for i, seed in enumerate(result["seeds"])
               if seed["skipped"]]
    if skipped:
      lines.append(f"finetune {name}: not needed for {', '.join(skipped)}: ODA zero-shot >= "
                   f"{threshold:.2f}")
    finetuned = _finetuned_seeds(result)
    for method, label in FINETUNED:
      seeds = [(index, runs[method]) for index, runs in finetuned if method in runs]
      if not seeds:
        continue
      parts = []
      for index, run in seeds:
        final, reached = run["final"], run["steps_to_threshold"]
        if run.get("zero_shot") is None:
          start = "scratch"
        elif "start" in run:      # on the final evaluation's starts (paired with the final)
          start = f"{run['start']['success_k']}/{run['start']['success_n']}"
        else:
          start = f"{run['zero_shot']:.2f}"
        parts.append(f"seed {index} {start} -> {final['success_k']}/{final['success_n']} in "
                     f"{run['env_steps']} steps{' (stopped)' if run.get('stopped_early') else ''}"
                     f", {threshold:.2f} at {reached if reached is not None else 'never'}")
      k = sum(run["final"]["success_k"] for _, run in seeds)
      n = sum(run["final"]["success_n"] for _, run in seeds)
      low, high = evaluation.wilson_interval(k, n)
      lines.append(f"finetuned {result['split']} {name} ({label}): {'; '.join(parts)}; pooled "
                   f"{k}/{n} = {k / n:.2f} [{low:.2f}, {high:.2f}]")
  if finetune:
    rule = (f"stopped: {stop_after} consecutive successful episodes (the paper's rule: 50); "
            if stop_after else "no stop rule; ")
    lines.append(f"  ({rule}{threshold:.2f} at: env steps of the first evaluation at the "
                 "threshold)")
  return lines


def plot_finetune_curves(finetune: Dict[str, Any], workdir: str) -> List[str]:
  """finetune_<task>.png per finetuned task: success against env steps, one line per method
  (mean and range over the finetuned seeds; a run stopped early holds its last value)."""
  labels = dict(FINETUNED)
  paths = []
  for name, result in finetune.items():
    finetuned = _finetuned_seeds(result)
    curves = {}
    for method, label in labels.items():
      runs = [runs[method]["curve"] for _, runs in finetuned if runs.get(method, {}).get("curve")]
      if not runs:
        continue
      steps = max(runs, key=len)
      rates = [[run[min(i, len(run) - 1)][1] for run in runs] for i in range(len(steps))]
      curves[label] = ([point[0] for point in steps], rates)
    if curves:
      paths.append(logging.plot_success_curves(
          curves, os.path.join(workdir, f"finetune_{name}.png"),
          title=f"{name} ({result['split']}), {len(finetuned)} seed(s)"))
  return paths


def finetune_checks(finetune: Dict[str, Any]) -> Dict[str, Any]:
  """Per finetuned task and method, per finetuned seed: final success, env steps to the first
  evaluation at the threshold (None: never), env steps run and whether the consecutive-successes
  rule stopped it."""
  checks: Dict[str, Any] = {}
  for name, result in finetune.items():
    finetuned = _finetuned_seeds(result)
    if not finetuned:
      continue
    methods = {m for _, runs in finetuned for m in runs}
    checks[f"finetune/{name}"] = {
        method: [{"seed": index, "final": runs[method]["final"]["success_rate"],
                  "steps_to_threshold": runs[method]["steps_to_threshold"],
                  "env_steps": runs[method]["env_steps"],
                  "stopped_early": runs[method].get("stopped_early", False)}
                 for index, runs in finetuned if method in runs] for method in sorted(methods)}
  return checks


def _scaling_points(scaling: Dict[str, Any]) -> List[Dict[str, Any]]:
  points = []
  for point in scaling["points"]:
    per_seed = point["per_seed"]
    ks = [sum(seed["test"]["per_task"][t]["success_k"] for t in seed["test"]["per_task"])
          for seed in per_seed]
    ns = [sum(seed["test"]["per_task"][t]["success_n"] for t in seed["test"]["per_task"])
          for seed in per_seed]
    per_task = {t: [seed["test"]["per_task"][t]["success_rate"] for seed in per_seed]
                for t in per_seed[0]["test"]["per_task"]}
    points.append({"train_tasks": len(point["train_tasks"]), "names": point["train_tasks"],
                   "seeds": len(per_seed), "test_rate": sum(ks) / sum(ns),
                   "per_task": per_task, "main_run": bool(point.get("main_run"))})
  return points


def scaling_lines(scaling: Dict[str, Any]) -> List[str]:
  lines = ["data scaling (ODA zero-shot on the test tasks, training on the first n tasks):"]
  for point in _scaling_points(scaling):
    tasks = ", ".join(f"{t} {'/'.join(f'{r:.2f}' for r in rates)}"
                      for t, rates in point["per_task"].items())
    lines.append(f"  n = {point['train_tasks']:2d} ({point['seeds']} seed"
                 f"{'s' if point['seeds'] > 1 else ''}"
                 f"{', main run' if point['main_run'] else ''}): mean {point['test_rate']:.2f}"
                 f" ({tasks})")
  return lines
