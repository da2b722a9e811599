"""The SMAC study's summary and plots: the curve of post-adaptation test return against
self-supervised environment steps (SMAC, the oracle, offline-only and meta-BC levels), and the
Fig. 2 z-shift histograms (KL(q(z|h) || p(z)) with offline against online context, after the
offline phase and after the online phase)."""

from __future__ import annotations

import os
from typing import Any, Dict

import numpy as np

from jaxinsert.training import logging


def _mean_std(values) -> Dict[str, float]:
  values = np.asarray(values, float)
  return {"mean": float(values.mean()), "std": float(values.std()), "per_seed": values.tolist()}


def write_summary(pipeline, records: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
  offline, online = records["offline"], records["online"]
  pearl_curve = records["pearl_data"]["curve"]
  summary: Dict[str, Any] = {
      "family": pipeline.family.name, "reward_type": pipeline.config.family.get("reward_type", "dense"),
      "num_seeds": pipeline.config.num_seeds,
      "pearl_data_source_test_post_adaptation": pearl_curve[-1]["test_post_adaptation"],
      "offline_only_smac": _mean_std(offline["smac"]["test_post_adaptation"]),
      "meta_bc": _mean_std(offline["meta_bc"]["test_post_adaptation"]),
      "smac_after_online": _mean_std(online["smac"]["test_post_adaptation"]),
      "oracle_after_online": _mean_std(online["oracle"]["test_post_adaptation"]),
      "online_env_steps": online["smac"]["curve"][-1]["env_steps"],
  }
  gap = summary["oracle_after_online"]["mean"] - summary["offline_only_smac"]["mean"]
  closed = summary["smac_after_online"]["mean"] - summary["offline_only_smac"]["mean"]
  summary["gap_closed_fraction"] = float(closed / gap) if abs(gap) > 1e-9 else None
  for phase, record in (("after_offline", offline), ("after_online", online)):
    shift = record["z_shift"]
    summary[f"z_shift_{phase}"] = {
        "kl_offline_context": float(np.mean(shift["kl_offline"])),
        "kl_online_context": float(np.mean(shift["kl_online"])),
        "return_offline_context": float(np.mean(shift["return_offline"])),
        "return_online_context": float(np.mean(shift["return_online"]))}
  summary["plots"] = {"curve": _plot_curve(pipeline, records),
                      "z_shift": _plot_z_shift(pipeline, records)}
  logging.write_json_atomically(os.path.join(pipeline.workdir, "summary.json"), summary,
                                default=float)
  _print(summary)
  return summary


def _print(summary) -> None:
  row = lambda name: (f"{name:<22} {summary[name]['mean']:8.2f} +- {summary[name]['std']:.2f}  "
                      f"{np.round(summary[name]['per_seed'], 2).tolist()}")
  print(f"post-adaptation test return ({summary['family']}, {summary['num_seeds']} seeds)")
  for name in ("offline_only_smac", "meta_bc", "smac_after_online", "oracle_after_online"):
    print(row(name))
  print(f"gap closed by SMAC: {summary['gap_closed_fraction']}")
  for phase in ("after_offline", "after_online"):
    print(f"z-shift {phase}: {summary[f'z_shift_{phase}']}")


def _plot_curve(pipeline, records) -> str:
  plt = logging.pyplot()

  figure, axis = plt.subplots(figsize=(6.5, 4.5))
  for method, colour in (("smac", "tab:blue"), ("oracle", "tab:green")):
    curve = records["online"][method]["curve"]
    steps = np.asarray([point["env_steps"] for point in curve])
    values = np.asarray([point["test_post_adaptation"] for point in curve])
    mean, std = values.mean(1), values.std(1)
    axis.plot(steps, mean, color=colour, label="SMAC (decoder rewards)" if method == "smac"
              else "oracle (true rewards)")
    axis.fill_between(steps, mean - std, mean + std, color=colour, alpha=0.2)
  meta_bc = np.mean(records["offline"]["meta_bc"]["test_post_adaptation"])
  axis.axhline(meta_bc, color="tab:red", linestyle="--", label="meta-BC (offline)")
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
    shift = record["z_shift"]
    offline, online = np.ravel(shift["kl_offline"]), np.ravel(shift["kl_online"])
    bins = np.linspace(0.0, max(offline.max(), online.max()) + 1e-6, 40)
    axis.hist(offline, bins=bins, alpha=0.6, label="offline context h_offline")
    axis.hist(online, bins=bins, alpha=0.6, label="online context h_online")
    axis.set_xlabel("KL(q(z|h) || p(z))")
    axis.set_title(phase)
    axis.legend(fontsize=8)
  axes[0].set_ylabel("contexts (training tasks x draws)")
  path = os.path.join(pipeline.workdir, "z_shift_kl.png")
  return logging.save_figure(figure, path, dpi=120)
