"""The absl CLIs end to end at a tiny budget, and their refusals of bad configs."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(script, *args, timeout=400):
  return subprocess.run([sys.executable, os.path.join(ROOT, "experiments", script), *args],
                        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                        env=dict(os.environ, JAX_PLATFORMS="cpu"))


TINY = ["--config.agent.hidden_dims=(16,16)", "--config.max_steps=200",
        "--config.steps_per_call=100", "--config.log_interval=100", "--config.eval_interval=100",
        "--config.checkpoint_interval=100", "--config.eval_episodes=4", "--config.num_seeds=2"]


@pytest.mark.timeout(400)
def test_train_offline_cli_writes_a_complete_run_and_resumes(tmp_path):
  workdir = tmp_path / "run"
  result = run_cli("train_offline.py", "--config=experiments/configs/quickstart.py",
                   f"--workdir={workdir}", *TINY)
  assert result.returncode == 0, result.stderr[-3000:]
  summary = json.loads(result.stdout.strip().splitlines()[-1])
  assert summary["steps"] == 200
  for name in ("metrics.jsonl", "provenance.json", "results.json", "learning_curves.png"):
    assert (workdir / name).exists(), f"{name} missing from the run directory"
  provenance = json.loads((workdir / "provenance.json").read_text())
  assert provenance["config"]["agent"]["expectile"] == 0.9
  assert provenance["packages"]["jax"] and provenance["devices"]
  results = json.loads((workdir / "results.json").read_text())
  assert results["evaluation"]["episodes"] == 8          # 4 per seed, 2 seeds
  # Running the same command again resumes from the final checkpoint: nothing left to do.
  same = run_cli("train_offline.py", "--config=experiments/configs/quickstart.py",
                 f"--workdir={workdir}", *TINY)
  assert same.returncode == 0, same.stderr[-3000:]
  train_records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()
                   if '"train/' in line]
  assert [r["step"] for r in train_records] == [100, 200], "a finished run trained again"
  # A larger budget changes the IQL actor's cosine-decay horizon: a different run, refused.
  again = run_cli("train_offline.py", "--config=experiments/configs/quickstart.py",
                  f"--workdir={workdir}", *TINY[:1], "--config.max_steps=300", *TINY[2:])
  assert again.returncode != 0 and "different run" in again.stderr, (
      "a changed cosine-decay horizon must not silently resume")


def test_missing_dataset_path_is_a_clear_error(tmp_path):
  result = run_cli("train_offline.py", "--config=experiments/configs/iql_locomotion.py",
                   f"--workdir={tmp_path}", "--config.dataset.kind=rlds",
                   "--config.dataset.path=/nonexistent/dataset")
  assert result.returncode != 0
  assert "config.dataset.path='/nonexistent/dataset' does not exist" in result.stderr
  assert "Traceback" not in result.stderr, "a user error should be one line, not a traceback"


def test_unknown_agent_field_is_refused(tmp_path):
  result = run_cli("train_offline.py", "--config=experiments/configs/quickstart.py",
                   f"--workdir={tmp_path}", "--config.agent.no_such_field=1")
  assert result.returncode != 0
  assert "no_such_field" in result.stderr


def test_dataset_path_with_the_builtin_kind_is_refused_not_ignored(tmp_path):
  not_a_dataset = tmp_path / "notes.txt"
  not_a_dataset.write_text("not a dataset")
  result = run_cli("train_offline.py", "--config=experiments/configs/quickstart.py",
                   f"--workdir={tmp_path / 'run'}", f"--config.dataset.path={not_a_dataset}")
  assert result.returncode != 0
  assert "kind='builtin'" in result.stderr and "Traceback" not in result.stderr
  assert not (tmp_path / "run" / "checkpoints").exists(), "it trained on the builtin data"


FINETUNE_TINY = ["--config.agent.critic_hidden_dims=(16,16)", "--config.agent.policy_hidden_dims=(16,16)",
                 "--config.batch_size=32", "--config.offline_steps=200", "--config.steps_per_call=100",
                 "--config.log_interval=100", "--config.offline_checkpoint_interval=100",
                 "--config.online_steps=60", "--config.env.num_envs=2", "--config.eval_interval=60",
                 "--config.checkpoint_interval=60", "--config.eval_episodes=4", "--config.replay_capacity=50000"]


@pytest.mark.timeout(500)
def test_finetune_online_cli_pretrains_finetunes_reports_and_resumes(tmp_path):
  workdir = tmp_path / "run"
  args = ["--config=experiments/configs/awac_default.py", f"--workdir={workdir}", *FINETUNE_TINY]
  result = run_cli("finetune_online.py", *args)
  assert result.returncode == 0, result.stderr[-3000:]
  summary = json.loads(result.stdout.strip().splitlines()[-1])
  assert summary["online_env_steps"] == 120                       # 60 per environment, 2 environments
  assert 0.0 <= summary["success_before"] <= 1.0 and 0.0 <= summary["success_after"] <= 1.0
  results = json.loads((workdir / "results.json").read_text())
  assert results["before_finetuning"]["episodes"] == 4 and results["after_finetuning"]["episodes"] == 4
  assert {"100", "200"} <= {p.name for p in (workdir / "offline" / "checkpoints").iterdir()}
  steps_of = lambda path, key: [json.loads(line)["step"] for line in path.read_text().splitlines() if key in line]
  online = steps_of(workdir / "metrics.jsonl", '"online/')
  assert online == [60, 120]                                    # eval_interval counts all env steps
  # The same command again finds both phases finished: no update, no new online record.
  again = run_cli("finetune_online.py", *args)
  assert again.returncode == 0, again.stderr[-3000:]
  assert steps_of(workdir / "metrics.jsonl", '"online/') == online
  assert steps_of(workdir / "offline" / "metrics.jsonl", '"train/') == [100, 200]


def test_finetune_online_cli_refuses_an_offline_only_config(tmp_path):
  result = run_cli("finetune_online.py", "--config=experiments/configs/quickstart.py", f"--workdir={tmp_path}")
  assert result.returncode != 0 and "online_run_config" in result.stderr
  assert "Traceback" not in result.stderr, result.stderr[-3000:]


def test_finetune_online_cli_refuses_a_replay_ring_too_small_before_pretraining(tmp_path):
  result = run_cli("finetune_online.py", "--config=experiments/configs/awac_default.py", f"--workdir={tmp_path}",
                   *FINETUNE_TINY, "--config.replay_capacity=2000")
  assert result.returncode != 0 and "config.replay_capacity=2000" in result.stderr
  assert not (tmp_path / "offline" / "checkpoints").exists(), "it pretrained before refusing"
