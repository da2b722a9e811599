"""The PTP CLI end to end at its `tiny` size (issue 19): every stage runs and writes its record,
the success table holds finite rates for PTP and the model-free baseline, offline and after
finetuning, each seed has its own latent models, a rerun reuses every stage, and a changed
setting is refused naming the field.

XLA's optimisations are off in the subprocess (JAX_DISABLE_MOST_OPTIMIZATIONS): at this size
compilation is nearly all of the time (about 4 min of CPU with them, 1.5 min without).
"""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = ("collect", "models", "offline", "offline_eval", "finetune")


def run_ptp(workdir, *args, config="experiments/configs/ptp_default.py:tiny"):
  command = [sys.executable, os.path.join(ROOT, "experiments", "ptp.py"),
             f"--config={config}", f"--workdir={workdir}", *args]
  return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=400,
                        env=dict(os.environ, JAX_PLATFORMS="cpu",
                                 JAX_DISABLE_MOST_OPTIMIZATIONS="1"))


@pytest.mark.timeout(600)   # about 1.7 min of CPU; 2.4 min wall alone on one core, 5.5 loaded
def test_ptp_cli_runs_every_stage_reports_and_resumes(tmp_path):
  import flax.serialization

  workdir = str(tmp_path / "ptp")
  first = run_ptp(workdir)
  assert first.returncode == 0, first.stderr[-3000:]
  for name in STAGES:
    assert f"[{name}] running" in first.stdout, name
    record = json.load(open(os.path.join(workdir, "stages", f"{name}.json")))
    assert record["fingerprint"] and record["seconds"] > 0, name

  summary = json.load(open(os.path.join(workdir, "summary.json")))
  assert summary["task"] == "tray_socket" and summary["model_sets"] == 2
  assert set(summary["rows"]) == {"ptp", "final_goal"}
  for mode, row in summary["rows"].items():
    for when in ("offline", "finetuned"):
      result = row[when]
      assert result["success_n"] == 2 * 4, (mode, when)           # 2 seeds x 4 episodes
      rates = result["success_per_seed"]
      assert len(rates) == 2 and all(math.isfinite(r) and 0.0 <= r <= 1.0 for r in rates)
      assert result["success_k"] == round(sum(rates) * 4)
  assert set(summary["checks"]) >= {"ptp_finetuned_at_least_50", "ptp_rises",
                                    "baseline_at_most_30"}
  finetune = json.load(open(os.path.join(workdir, "stages", "finetune.json")))
  assert [p["env_steps"] for p in finetune["ptp"]] == [0, 2 * 60]
  assert summary["video"].endswith("ptp_episode.gif")   # the report's video of a PTP episode
  for name in ("finetune_curve.png", "plan_ptp_iteration0.png", "plan_ptp_iteration1.png",
               "agents/offline.msgpack", "agents/finetuned/ptp.msgpack",
               "agents/finetuned/final_goal.msgpack", "episodes/ptp_iteration1.npz",
               "ptp_episode.gif"):
    assert os.path.getsize(os.path.join(workdir, name)) > 0, name

  # Each seed trained its own VAE: the stored parameters have a seed axis of 2, and differ.
  with open(os.path.join(workdir, "models", "vae.msgpack"), "rb") as handle:
    leaves = [np.asarray(x) for x in
              __import__("jax").tree_util.tree_leaves(flax.serialization.msgpack_restore(handle.read()))]
  weights = [x for x in leaves if x.ndim == 3]
  assert weights and all(x.shape[0] == 2 for x in weights)
  assert not np.allclose(weights[0][0], weights[0][1])
  models = json.load(open(os.path.join(workdir, "stages", "models.json")))
  assert models["model_sets"] == 2 and len(models["vae"]["reconstruction"]) == 2

  stamps = {name: os.path.getmtime(os.path.join(workdir, "stages", f"{name}.json"))
            for name in STAGES}
  again = run_ptp(workdir)
  assert again.returncode == 0, again.stderr[-3000:]
  for name in STAGES:
    assert f"[{name}] done earlier" in again.stdout and f"[{name}] running" not in again.stdout
    assert os.path.getmtime(os.path.join(workdir, "stages", f"{name}.json")) == stamps[name]
  assert json.load(open(os.path.join(workdir, "summary.json")))["rows"] == summary["rows"]

  changed = run_ptp(workdir, "--config.finetune.updates_per_iteration=6")
  assert changed.returncode != 0
  message = changed.stdout + changed.stderr
  assert "stage 'finetune'" in message and "'updates_per_iteration': 6" in message
  assert "[offline_eval] done earlier" in changed.stdout


@pytest.mark.timeout(600)   # about 1 min of CPU alone on one core
def test_ptp_cli_runs_on_the_lid_task_with_its_4d_states(tmp_path):
  import flax.serialization

  workdir = str(tmp_path / "lid")
  result = run_ptp(workdir, "--config.isotropic_state_latent=True",
                   config="experiments/configs/ptp_lid.py:tiny")
  assert result.returncode == 0, result.stderr[-3000:]
  summary = json.load(open(os.path.join(workdir, "summary.json")))
  assert summary["task"] == "lid_socket" and set(summary["rows"]) == {"ptp", "final_goal"}
  for row in summary["rows"].values():
    for when in ("offline", "finetuned"):
      assert row[when]["success_n"] == 8 and 0 <= row[when]["success_k"] <= 8
  # The play data and the models hold 4-D states (tip xyz + lid offset).
  play = np.load(os.path.join(workdir, "data", "play.npz"))
  assert play["positions"].shape == (50, 61, 4) and play["actions"].shape == (50, 60, 3)
  with open(os.path.join(workdir, "models", "vae.msgpack"), "rb") as handle:
    stored = flax.serialization.msgpack_restore(handle.read())
  mean, std = np.asarray(stored["state_mean"]), np.asarray(stored["state_std"])
  assert mean.shape == (2, 4) and std.shape == (2, 4)
  np.testing.assert_allclose(std, std[:, :1] * np.ones((1, 4)))   # isotropic: one scale
  collect = json.load(open(os.path.join(workdir, "stages", "collect.json")))
  assert collect["episodes_moving_the_lid"] >= 1 and collect["episodes_closed_then_inserted"] == 0
  offline = json.load(open(os.path.join(workdir, "stages", "offline_eval.json")))
  for mode in ("ptp", "final_goal"):
    assert 0 <= offline[mode]["final_lid_open_k"] <= 8, mode
  episode = np.load(os.path.join(workdir, "episodes", "ptp_iteration1.npz"))
  assert episode["positions"].shape == (60, 4) and episode["subgoals"].shape == (16, 4)
  assert os.path.getsize(os.path.join(workdir, "ptp_episode.gif")) > 0


def test_isotropic_state_latent_enters_the_models_fingerprint_only_when_on(tmp_path):
  import importlib.util

  from jaxinsert.training import ptp_pipeline, stages
  spec = importlib.util.spec_from_file_location(
      "ptp_config", os.path.join(ROOT, "experiments", "configs", "ptp_default.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)

  def models_stage(isotropic):
    config = module.get_config("tiny")
    config.isotropic_state_latent = isotropic
    pipeline = ptp_pipeline.PTPPipeline(config, str(tmp_path / str(isotropic)), progress=False)
    stage = next(s for s in pipeline.stages() if s.name == "models")
    runner = stages.StageRunner(config, str(tmp_path / str(isotropic)), progress=False)
    runner.fingerprints["collect"] = "collected"
    return runner.settings(stage)["fields"], pipeline._vae_config()

  fields, vae_config = models_stage(False)
  assert "isotropic_state_latent" not in fields, "the default must keep old workdirs' fingerprints"
  assert not vae_config.isotropic
  fields, vae_config = models_stage(True)
  assert fields["isotropic_state_latent"] is True and vae_config.isotropic


def test_the_acceptance_line_starts_from_the_offline_row_of_the_table(tmp_path):
  import types

  import ml_collections

  from jaxinsert.training import ptp_report

  def result(k):
    return {"success_k": k, "success_n": 96, "success_per_seed": [k / 96] * 3}

  def curve(first, last):
    return [dict(result(first), env_steps=0), dict(result(last), env_steps=100)]

  config = ml_collections.ConfigDict({"num_seeds": 3, "env": {"task": "tray_socket"},
                                      "eval": {"episodes": 32}})
  pipeline = types.SimpleNamespace(config=config, workdir=str(tmp_path), num_model_sets=3)
  records = {"offline_eval": {"ptp": result(40), "final_goal": result(0)},
             "finetune": {"ptp": curve(48, 80), "final_goal": curve(0, 0)}}
  checks = ptp_report.write_summary(pipeline, records)["checks"]
  assert checks["ptp_start"] == pytest.approx(40 / 96) and checks["ptp_rises"]
  records["offline_eval"] = {"final_goal": result(0)}   # PTP not evaluated offline
  assert ptp_report.write_summary(pipeline, records)["checks"]["ptp_start"] == pytest.approx(0.5)
