"""The ODA CLI end to end at a tiny budget: every stage runs, the report covers every task, a
rerun reuses the stages, and a changed setting is refused naming the field (issue 15)."""

import json
import os
import subprocess
import sys

import pytest

from experiments.configs import oda_default
from jaxinsert.training import oda_pipeline, stages

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = {
    "tasks.train": "oda/rect-10x10,oda/e-model-10p", "tasks.test": "oda/rect-14x6",
    # No out-of-distribution task: its finetuning is the test task's code path, and each
    # finetuned task costs four online runs (the test's largest share; tests/test_oda_report.py
    # covers an out-of-distribution row).
    "tasks.ood": "", "scaling.task_counts": (1,),
    "collect.episodes_per_task": 4, "collect.demos_per_task": 2, "collect.envs_per_task": 2,
    "oda.policy_hidden_dims": (16, 16), "oda.critic_hidden_dims": (16, 16),
    "oda.encoder_hidden_dims": (16,), "oda.context_size": 8, "ddpgfd.hidden_dims": (16, 16),
    "num_seeds": 1, "oracle": True, "offline_steps": 100, "steps_per_call": 50,
    "checkpoint_interval": 100,
    "batch_per_task": 16, "eval.trials": 2, "eval.probe_contexts": 2,
    "finetune.online_steps": 8, "finetune.num_envs": 2, "finetune.eval_interval": 8,
    "finetune.eval_trials": 2, "finetune.threshold": 1.01, "report.video": False,
}


def tiny_config(**changes):
  config = oda_default.get_config()
  for dotted, value in {**TINY, **changes}.items():
    *path, last = dotted.split(".")
    target = config
    for part in path:
      target = target[part]
    target[last] = value
  return config


def flag(value):
  return ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("oda") / "run")
  command = [sys.executable, os.path.join(ROOT, "experiments", "oda.py"),
             "--config=" + os.path.join(ROOT, "experiments", "configs", "oda_default.py"),
             f"--workdir={workdir}"] + [f"--config.{k}={flag(v)}" for k, v in TINY.items()]
  # XLA's optimisations are off in the subprocess: at this size compilation is nearly all of
  # the time (as in tests/test_ptp_pipeline.py).
  done = subprocess.run(command, capture_output=True, text=True, timeout=840, cwd=ROOT,
                        env=dict(os.environ, JAX_PLATFORMS="cpu",
                                 JAX_DISABLE_MOST_OPTIMIZATIONS="1"))
  assert done.returncode == 0, done.stderr[-3000:]
  return workdir, done.stdout


@pytest.mark.timeout(900)
def test_the_cli_runs_every_stage_and_reports_every_task(finished_run):
  workdir, stdout = finished_run
  for stage in ("collect", "meta_train", "baseline_train", "oracle_train", "zero_shot",
                "latent_probe", "other_baselines", "finetune", "data_scaling"):
    assert os.path.exists(os.path.join(workdir, "stages", f"{stage}.json")), f"{stage} not recorded"
  with open(os.path.join(workdir, "summary.json")) as handle:
    summary = json.load(handle)
  assert {(r["split"], r["task"]) for r in summary["rows"]} == {
      ("test", "rect-14x6"), ("train", "rect-10x10"), ("train", "e-model-10p")}
  assert all(r["oda"]["n"] == 2 and r["awac"]["n"] == 2 and r["oracle"]["n"] == 2
             for r in summary["rows"])
  # Digest A10's other baselines, on the test task only (BC from its own demos).
  assert [(r["task"], r["bc_demos"]["n"], r["offline_ddpg"]["n"]) for r in summary["rows"]
          if "bc_demos" in r] == [("rect-14x6", 2, 2)]
  assert os.path.isdir(os.path.join(workdir, "bc_demos", "rect-14x6", "checkpoints"))
  assert "offline DDPG mean" in stdout and "BC on the task's demos mean" in stdout
  for task in ("rect-14x6",):
    (seed,) = summary["finetune"][task]["seeds"]
    runs = seed["runs"]
    assert sorted(runs) == ["awac", "ddpgfd", "oda", "oda_demos"], task
    assert all(run["env_steps"] == 16 for run in runs.values()), task
    # The starting policy on the final evaluation's starts, and the curve from step 0.
    assert all(run["start"]["success_n"] == 2 and run["curve"][0][0] == 0
               for run in runs.values()), task
    assert runs["ddpgfd"]["zero_shot"] is None and runs["oda_demos"]["zero_shot"] == runs["oda"]["zero_shot"]
    # Algorithm 2 starts from an empty buffer; "oda_demos" and AWAC from the task's 2 demos.
    assert runs["oda"]["initial_buffer"] == 0 and runs["ddpgfd"]["initial_buffer"] == 0
    assert runs["oda_demos"]["initial_buffer"] == runs["awac"]["initial_buffer"] > 0
    assert os.path.getsize(os.path.join(workdir, f"finetune_{task}.png")) > 0
  assert "(DDPGfD from scratch)" in stdout and "finetuned test rect-14x6" in stdout
  assert [row["task"] for row in summary["before_after"]] == ["rect-14x6"]
  assert "(ODA, demos in the buffer)" in stdout
  scaling = summary["scaling"]
  assert [p["train_tasks"] for p in scaling] == [1, 2] and scaling[-1]["main_run"], scaling
  assert list(scaling[0]["per_task"]) == ["rect-14x6"]
  assert "ODA >= AWAC on" in stdout and "latent probe" in stdout
  assert "is context necessary?" in stdout
  for path in ("data/offline", "data/demos", "oda/normalisation.json", "latent_pca.png"):
    assert os.path.exists(os.path.join(workdir, path)), f"{path} missing"


@pytest.mark.timeout(300)
def test_a_rerun_reuses_the_stages_and_a_changed_setting_is_refused(finished_run, capsys):
  workdir, _ = finished_run
  oda_pipeline.run(tiny_config(), workdir, progress=True)
  out = capsys.readouterr().out
  for stage in ("collect", "meta_train", "baseline_train", "oracle_train", "zero_shot",
                "other_baselines", "finetune", "data_scaling"):
    assert f"[{stage}] done earlier" in out, f"{stage} ran again"
  with pytest.raises(stages.StageMismatchError, match="config.oda"):
    oda_pipeline.run(tiny_config(**{"oda.kl_weight": 0.1}), workdir, progress=False)


@pytest.mark.timeout(120)
def test_bad_finetune_and_baseline_settings_are_refused_before_any_stage_runs(tmp_path):
  for index, (changes, field) in enumerate((
      ({"finetune.methods": ("oda", "oda_demo")}, "finetune.methods"),
      ({"finetune.num_seeds": 2}, "finetune.num_seeds"),
      ({"finetune.demo_ratio": 1.0}, "finetune.demo_ratio"),
      ({"finetune.adapted_latent": "mode"}, "finetune.adapted_latent"),
      ({"baseline": False}, "config.baseline = False"),
      ({"other_baselines": ("bc",)}, "config.other_baselines"))):   # 'awac' finetuned, none trained
    workdir = tmp_path / str(index)
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
      oda_pipeline.run(tiny_config(**changes), str(workdir), progress=False)
    assert not (workdir / "stages").exists() and not (workdir / "data").exists(), field
