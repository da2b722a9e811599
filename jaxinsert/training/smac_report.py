"""The SMAC study's summary and plots: the curve of post-adaptation test return against
self-supervised environment steps (SMAC, the oracle and whichever ablations ran, with the
meta-BC and PEARL levels), a row per method and phase, and the Fig. 2 z-shift histograms
(KL(q(z|h) || p(z)) with offline against online context, after the offline phase and after the
online phase), summarised per seed and then as mean +- std over seeds."""

from __future__ import annotations

import os
from typing import Any, Dict

import numpy as np

from jaxinsert.training import logging


LABELS = {"smac": "SMAC (decoder rewards)", "oracle": "oracle (true rewards)",
          "actor_ablation": "actor ablation (PEARL actor loss)",
          "encoder_q_only": "encoder ablation (Q loss only)",
          "no_new_data": "control (the same updates, no new data)", "meta_bc": "meta-BC (offline)"}
COLOURS = {"smac": "tab:blue", "oracle": "tab:green", "actor_ablation": "tab:orange",
           "encoder_q_only": "tab:purple", "no_new_data": "tab:grey", "meta_bc": "tab:red"}


def _mean_std(values) -> Dict[str, float]:
  values = np.asarray(values, float)
  return {"mean": float(values.mean()), "std": float(values.std()), "per_seed": values.tolist()}


def _per_seed(values) -> np.ndarray:
  """[seeds, tasks, draws] (or one seed's [tasks, draws]) -> [seeds, tasks * draws]."""
  values = np.asarray(values, float)
  values = values[None] if values.ndim == 2 else values
  return values.reshape(values.shape[0], -1)


def z_shift_summary(shift: Dict[str, Any]) -> Dict[str, Any]:
  """Means over tasks and draws, then mean +- std over seeds; and the share of online contexts
  whose KL lies above the median KL of the offline contexts (0.5: no shift), per seed."""
  summary = {}
  for name in ("kl", "return", "context_reward"):
    for source in ("offline", "online"):
      key = f"{name}_{source}"
      if key in shift:
        summary[f"{key}_context"] = _mean_std(_per_seed(shift[key]).mean(1))
  offline, online = _per_seed(shift["kl_offline"]), _per_seed(shift["kl_online"])
  above = [float(np.mean(on > np.median(off))) for off, on in zip(offline, online)]
  summary["online_above_offline_median"] = _mean_std(above)
  return summary


def write_summary(pipeline, records: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
  offline, online = records["offline"], records["online"]
  pearl_curve = records["pearl_data"]["curve"]
  offline_methods = [m for m in LABELS if m in offline]
  online_methods = [m for m in LABELS if m in online]
  summary: Dict[str, Any] = {
      "family": pipeline.family.name, "reward_type": getattr(pipeline.env, "reward_type", "dense"),
      "num_seeds": pipeline.config.num_seeds,
      "pearl_data_source_test_post_adaptation": pearl_curve[-1]["test_post_adaptation"],
      "offline": {m: _mean_std(offline[m]["test_post_adaptation"]) for m in offline_methods},
      "after_online": {m: _mean_std(online[m]["test_post_adaptation"]) for m in online_methods},
      "online_env_steps": (online[online_methods[0]]["curve"][-1]["env_steps"]
                           if online_methods else 0),
  }
  # The rows earlier summaries had, under their old names.
  for name, phase, method in (("offline_only_smac", "offline", "smac"),
                              ("meta_bc", "offline", "meta_bc"),
                              ("smac_after_online", "after_online", "smac"),
                              ("oracle_after_online", "after_online", "oracle")):
    if method in summary[phase]:
      summary[name] = summary[phase][method]
  # SMAC's gain over offline-only as a share of the oracle's; undefined (None) where the oracle
  # did not gain, since a share of a loss reads as progress.
  summary["gap_closed_fraction"] = None
  if "smac" in online and "oracle" in online:
    gap = summary["oracle_after_online"]["mean"] - summary["offline_only_smac"]["mean"]
    closed = summary["smac_after_online"]["mean"] - summary["offline_only_smac"]["mean"]
    summary["gap_closed_fraction"] = float(closed / gap) if gap > 1e-9 else None
  for phase, record in (("after_offline", offline), ("after_online", online)):
    if "z_shift" in record:
      summary[f"z_shift_{phase}"] = z_shift_summary(record["z_shift"])
  summary["plots"] = {"curve": _plot_curve(pipeline, records),
                      "z_shift": _plot_z_shift(pipeline, records)}
  logging.write_json_atomically(os.path.join(pipeline.workdir, "summary.json"), summary,
                                default=float)
  _print(summary)
  return summary


def _print(summary) -> None:
  row = lambda name, value: (f"{name:<34} {value['mean']:8.2f} +- {value['std']:.2f}  "
                             f"{np.round(value['per_seed'], 2).tolist()}")
  print(f"post-adaptation test return ({summary['family']}, {summary['num_seeds']} seeds)")
  for phase in ("offline", "after_online"):
    for method, value in summary[phase].items():
      print(row(f"{method} ({phase})", value))
  print(f"gap closed by SMAC: {summary['gap_closed_fraction']}")
  for phase in ("after_offline", "after_online"):
    if f"z_shift_{phase}" in summary:
      for name, value in summary[f"z_shift_{phase}"].items():
        print(row(f"z-shift {phase}: {name}", value))


def _plot_curve(pipeline, records) -> str:
  plt = logging.pyplot()

  figure, axis = plt.subplots(figsize=(6.5, 4.5))
  for method in (m for m in LABELS if m in records["online"]):
    curve = records["online"][method]["curve"]
    steps = np.asarray([point["env_steps"] for point in curve])
    values = np.asarray([point["test_post_adaptation"] for point in curve])
    mean, std = values.mean(1), values.std(1)
    axis.plot(steps, mean, color=COLOURS[method], label=LABELS[method])
    axis.fill_between(steps, mean - std, mean + std, color=COLOURS[method], alpha=0.2)
  if "meta_bc" in records["offline"]:
    axis.axhline(np.mean(records["offline"]["meta_bc"]["test_post_adaptation"]),
                 color=COLOURS["meta_bc"], linestyle="--", label=LABELS["meta_bc"])
  axis.axhline(records["pearl_data"]["curve"][-1]["test_post_adaptation"], color="grey",
               linestyle=":", label="PEARL data source")
  axis.set_xlabel("self-supervised environment steps")
  axis.set_ylabel("post-adaptation test return")
  axis.set_title(f"{pipeline.family.name}: mean +- std over {pipeline.config.num_seeds} seeds")
  axis.legend(fontsize=8)
  path = os.path.join(pipeline.workdir, "curve_post_adaptation.png")
  return logging.save_figure(figure, path, dpi=120)


def _plot_z_shift(pipeline, records) -> str:
  plt = logging.pyplot()

  figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
  for axis, (phase, record) in zip(axes, (("after offline phase", records["offline"]),
                                          ("after online phase", records["online"]))):
    axis.set_title(phase)
    if "z_shift" not in record:
      continue
    shift = record["z_shift"]
    offline, online = np.ravel(shift["kl_offline"]), np.ravel(shift["kl_online"])
    bins = np.linspace(0.0, max(offline.max(), online.max()) + 1e-6, 40)
    axis.hist(offline, bins=bins, alpha=0.6, label="offline context h_offline")
    axis.hist(online, bins=bins, alpha=0.6, label="online context h_online")
    axis.set_xlabel("KL(q(z|h) || p(z))")
    axis.legend(fontsize=8)
  axes[0].set_ylabel("contexts (seeds x training tasks x draws)")
  path = os.path.join(pipeline.workdir, "z_shift_kl.png")
  return logging.save_figure(figure, path, dpi=120)
