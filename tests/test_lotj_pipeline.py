"""The LOTJ CLI end to end at a tiny budget (`lotj_default.py:tiny`): data, the reward study, and
one held-out connector's row with every baseline (SAC from vision offline and after practice
included), the offline and finetuned policy, Barnard's test, the k/20 table, the practice curve
and the rollout videos; a rerun reuses every stage; a bad baseline name is
refused naming the field (issue 18)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "experiments", "configs", "lotj_default.py") + ":tiny"


def _run(workdir, *flags):
  command = [sys.executable, os.path.join(ROOT, "experiments", "lotj.py"), f"--config={CONFIG}",
             f"--workdir={workdir}", "--config.rl.connectors=dt12",
             "--config.rl.scenarios=scenario1", *flags]
  return subprocess.run(command, capture_output=True, text=True, timeout=840, cwd=ROOT,
                        env=dict(os.environ, JAX_PLATFORMS="cpu",
                                 JAX_DISABLE_MOST_OPTIMIZATIONS="1"))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("lotj") / "run")
  done = _run(workdir)
  assert done.returncode == 0, done.stderr[-3000:]
  return workdir, done.stdout


@pytest.mark.timeout(900)
def test_every_stage_writes_its_results(finished_run):
  workdir, stdout = finished_run
  with open(os.path.join(workdir, "summary.json")) as handle:
    summary = json.load(handle)
  assert set(summary["reward_study"]) == {"erm", "daib"}
  assert summary["collect"]["episodes"] == 100         # 25 connectors x 2 robots x 2 episodes
  (name, row), = summary["policy"].items()
  assert name == "dt12@robot0/scenario1"
  methods = ("localize", "state_iql", "straight_down", "random_search", "spiral_search",
             "sac_offline", "sac_online", "lotj_offline", "lotj_online")
  assert all(0 <= row[m] <= 4 for m in methods), row
  for practice in ("practice_successes", "practice_successes_sac"):
    assert len(row[practice]) == 4 and set(row[practice]) <= {0, 1}, (practice, row)
  assert row["barnard"]["best"] in methods and 0.0 <= row["reward_balanced_accuracy"] <= 1.0
  assert "| dt12@robot0/scenario1 |" in summary["policy_table"] and "/4" in summary["policy_table"]
  assert os.path.exists(os.path.join(workdir, "practice_curve.png"))
  for phase in ("offline", "online"):
    video = os.path.join(workdir, "videos", f"dt12@robot0_scenario1_{phase}.gif")
    assert os.path.getsize(video) > 1000, video
  assert "[policy] dt12@robot0 scenario1:" in stdout


@pytest.mark.timeout(900)
def test_a_rerun_reuses_and_a_bad_baseline_is_named(finished_run):
  workdir, _ = finished_run
  again = _run(workdir)
  assert again.returncode == 0, again.stderr[-3000:]
  assert again.stdout.count("reused") == 3, again.stdout
  refused = _run(workdir + "_bad", "--config.rl.baselines=localize,teleport")
  assert refused.returncode != 0
  assert "config.rl.baselines" in refused.stderr + refused.stdout and "teleport" in refused.stderr + refused.stdout
