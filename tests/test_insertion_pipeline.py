"""The insertion pipeline end to end at a tiny budget, its resume, and its refusals.

The end-to-end test is the CI run of experiments/insertion.py's default config, shrunk to a few
episodes and updates: every stage runs and leaves its outputs, and a second run skips them all.
"""

import json
import os

import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import insertion_ch9, insertion_default
from jaxinsert.training import insertion_pipeline
from jaxinsert.training.offline import DivergenceError

TRAIN = "lotj/type-a-black@robot0,lotj/rca-red@robot0"
HELD_OUT = "lotj/dt12@robot0"


# The tiny budget, as "field: value"; the CLI test passes the same as --config.FIELD=VALUE flags.
TINY = {"tasks.train": TRAIN, "tasks.held_out": HELD_OUT, "agent.hidden_dims": (16, 16),
        "collect.episodes_per_task": 4, "collect.num_envs": 4, "offline_steps": 200, "steps_per_call": 100,
        "batch_size": 32, "pipeline.offline_checkpoint_interval": 100, "pipeline.offline_log_interval": 100,
        "online_steps": 20, "env.num_envs": 2, "eval_interval": 20, "checkpoint_interval": 40,
        "log_interval": 20, "replay_capacity": 1000, "pipeline.eval_trials": 2,
        "pipeline.online_eval_trials": 2,  # same as eval_trials: one compiled evaluator
        "pipeline.video": False, "pipeline.evaluate_training_tasks": False}


def tiny_config(**changes):
  config = insertion_default.get_config()
  for name, value in {**TINY, **changes}.items():
    target = config
    *path, last = name.split(".")
    for part in path:
      target = target[part]
    target[last] = value
  return config


def cli_flags(**changes):
  return [f"--config.{name}={str(value).replace(' ', '')}" for name, value in {**TINY, **changes}.items()]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  """One tiny run of the whole pipeline, shared by the tests that read it."""
  workdir = str(tmp_path_factory.mktemp("insertion") / "run")
  summary = insertion_pipeline.run(tiny_config(), workdir, progress=False)
  return workdir, summary


def test_pipeline_runs_every_stage_and_leaves_its_outputs(finished_run):
  workdir, summary = finished_run
  for stage in ("collect", "offline", "zero_shot", "online", "finetuned"):
    assert os.path.exists(os.path.join(workdir, "stages", f"{stage}.json")), f"{stage} not recorded"
  for path in ("dataset", "offline/checkpoints", "online/checkpoints_online",
               "online/metrics.jsonl", "success_vs_online_trials.png", "summary.json"):
    assert os.path.exists(os.path.join(workdir, path)), f"{path} missing from the workdir"
  table = summary["table"]
  assert "dt12@robot0" in table and "held-out" in table and "wall-clock per stage" in table
  held_out = [row for row in summary["rows"] if row["split"] == "held-out"]
  assert held_out[0]["before"]["success_n"] == 2 and held_out[0]["after"]["success_n"] == 2
  assert summary["online"]["env_steps"] == 40
  # The paired test counts the stored per-trial outcomes of the same starts before and after.
  outcomes = []
  for stage in ("zero_shot", "finetuned"):
    with open(os.path.join(workdir, "stages", f"{stage}.json")) as handle:
      outcomes.append(np.asarray(json.load(handle)["held_out"]["pooled"]["outcomes"], bool))
  before, after = outcomes
  paired = summary["paired_held_out"]
  assert (paired["gained"], paired["lost"]) == (int(np.sum(~before & after)),
                                                int(np.sum(before & ~after)))
  assert "McNemar p" in table
  with open(os.path.join(workdir, "summary.json")) as handle:
    assert json.load(handle)["rows"] == json.loads(json.dumps(summary["rows"]))


def test_a_rerun_skips_every_finished_stage(finished_run, capsys):
  workdir, summary = finished_run
  online_metrics = open(os.path.join(workdir, "online", "metrics.jsonl")).read()
  again = insertion_pipeline.run(tiny_config(), workdir, progress=True)
  out = capsys.readouterr().out
  for stage in ("collect", "offline", "zero_shot", "online", "finetuned"):
    assert f"[{stage}] done earlier" in out, f"{stage} ran again"
  assert again["rows"] == summary["rows"], "a finished run changed when re-run"
  assert open(os.path.join(workdir, "online", "metrics.jsonl")).read() == online_metrics


@pytest.mark.timeout(300)
def test_the_cli_with_the_same_flags_reuses_every_stage_and_refuses_a_changed_one(finished_run):
  """experiments/insertion.py turns its flags into the very config the run used (else a stage
  would be refused), prints the table, and names a changed field in one line."""
  import subprocess
  import sys

  workdir, _ = finished_run
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  command = [sys.executable, os.path.join(root, "experiments", "insertion.py"),
             "--config=experiments/configs/insertion_default.py", f"--workdir={workdir}"]
  same = subprocess.run(command + cli_flags(), cwd=root, capture_output=True, text=True, timeout=280)
  assert same.returncode == 0, same.stderr[-3000:]
  for stage in ("collect", "offline", "zero_shot", "online", "finetuned"):
    assert f"[{stage}] done earlier" in same.stdout, f"{stage} ran again from the CLI"
  assert "dt12@robot0" in same.stdout and "McNemar p" in same.stdout
  changed = subprocess.run(command + cli_flags(offline_steps=300), cwd=root, capture_output=True, text=True,
                           timeout=280)
  assert changed.returncode != 0 and "offline_steps" in changed.stderr
  assert "Traceback" not in changed.stderr, changed.stderr[-3000:]


@pytest.mark.slow
def test_an_interrupted_finetuning_resumes_from_its_checkpoint(finished_run):
  workdir, _ = finished_run
  online_metrics = open(os.path.join(workdir, "online", "metrics.jsonl")).read()
  os.remove(os.path.join(workdir, "stages", "online.json"))      # as if killed before the end
  os.remove(os.path.join(workdir, "stages", "finetuned.json"))
  resumed = insertion_pipeline.run(tiny_config(), workdir, progress=False)
  assert resumed["online"]["env_steps"] == 40
  assert open(os.path.join(workdir, "online", "metrics.jsonl")).read() == online_metrics, \
      "the resumed finetuning took new steps instead of continuing from its checkpoint"


def test_missing_task_is_refused_at_once(tmp_path):
  with pytest.raises(ValueError, match="unknown insertion task 'lotj/no-such-plug'"):
    insertion_pipeline.Pipeline(tiny_config(**{"tasks.held_out": "lotj/no-such-plug"}),
                                str(tmp_path))
  assert not os.path.exists(tmp_path / "stages"), "a refused config must not start any stage"


def test_tasks_one_policy_cannot_share_are_refused(tmp_path):
  with pytest.raises(ValueError, match="action mode or episode length"):
    insertion_pipeline.Pipeline(tiny_config(**{"tasks.held_out": "oda/rect-9x9"}), str(tmp_path))


def _episode(action_dim, length=4):
  observation = {name: np.zeros((length, 6), np.float32)
                 for name in ("tcp_pose_in_socket", "tcp_velocity", "wrench")}
  flags = np.zeros(length, bool)
  return {"steps": {"observation": observation,
                    "action": np.zeros((length, action_dim), np.float32),
                    "reward": np.zeros(length, np.float32), "discount": np.ones(length, np.float32),
                    "is_first": np.arange(length) == 0, "is_last": np.arange(length) == length - 1,
                    "is_terminal": flags},
          "task_id": 0, "domain_id": 0}


def test_dataset_with_other_actions_is_refused(tmp_path):
  from jaxinsert.data import rlds

  dataset = tmp_path / "twist_data"
  rlds.write_dataset(dataset, [_episode(6), _episode(6)], "insertion-state", progress=False)
  config = tiny_config(**{"dataset.path": str(dataset)})
  with pytest.raises(ValueError, match="6-D actions; the tasks need .* 3-D actions"):
    insertion_pipeline.run(config, str(tmp_path / "run"), progress=False)


def test_dataset_collected_on_other_tasks_is_refused(tmp_path):
  from jaxinsert.data import rlds

  workdir = tmp_path / "run"
  rlds.write_dataset(workdir / "dataset", [_episode(3)], "insertion-state:move", progress=False,
                     provenance={"tasks": ["lotj/usb@robot0"]})
  with pytest.raises(ValueError, match="was collected on"):
    insertion_pipeline.run(tiny_config(), str(workdir), progress=False)


def test_diverging_offline_run_stops_and_keeps_its_last_good_checkpoint(tmp_path, monkeypatch):
  workdir = str(tmp_path / "run")
  first = insertion_pipeline.Pipeline(tiny_config(offline_steps=100), workdir, progress=False)
  first.collect()
  first.train_offline()                                  # a good checkpoint at update 100
  original = insertion_pipeline.Pipeline.load_dataset

  def poisoned(self):
    dataset, spec, info = original(self)
    return dataset.replace(reward=jnp.full_like(dataset.reward, jnp.nan)), spec, info

  monkeypatch.setattr(insertion_pipeline.Pipeline, "load_dataset", poisoned)
  with pytest.raises(DivergenceError, match="last good checkpoint is step 100"):
    insertion_pipeline.run(tiny_config(), workdir, progress=False)
  assert not os.path.exists(os.path.join(workdir, "stages", "offline.json"))


def test_ch9_configs_name_the_three_methods():
  assert insertion_ch9.get_config("p_controller").pipeline.method == "controller"
  assert insertion_ch9.get_config("pure_rl").pipeline.residual_base == ""
  residual = insertion_ch9.get_config("residual")
  assert (residual.pipeline.method, residual.pipeline.residual_base) == ("online", "p_controller")
  with pytest.raises(ValueError, match="methods"):
    insertion_ch9.get_config("dagger")


def test_residual_env_with_zero_residual_is_the_p_controller():
  import jax

  from jaxinsert.envs import controllers
  from jaxinsert.training import insertion_tasks

  tasks = insertion_tasks.resolve("ch9/usb-like-noisy")
  plain = insertion_tasks.make_env(tasks, 2)
  residual = insertion_tasks.make_env(tasks, 2, residual_base="p_controller")
  p_controller = controllers.batched(controllers.make_policy("p_controller", plain.config))
  obs_plain, obs_residual = plain.reset(3), residual.reset(3)
  for _ in range(4):
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    action = np.asarray(p_controller(keys, obs_plain, plain.policy_context()))
    obs_plain = plain.step(action)[0]
    obs_residual = residual.step(np.zeros_like(action))[0]
    np.testing.assert_allclose(obs_residual, obs_plain, atol=1e-6,
                               err_msg="u = 0 on the residual env is not the P controller")
