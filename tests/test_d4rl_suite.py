"""experiments/d4rl_suite.py (`jaxinsert.benchmarks.d4rl.run.run_suite`): cells run once, tabulated beside the published numbers, resumed."""

import json
import os
import re

import pytest

from jaxinsert.benchmarks.d4rl import run as d4rl_run
from jaxinsert.data.converters import file_provenance
from jaxinsert.training.checkpoints import CheckpointError


def test_suite_runs_tabulates_and_resumes(tmp_path):
  args = dict(workdir=str(tmp_path), envs=["hopper"], kinds=["medium"], agents=["bc", "iql"], seeds=2,
              updates=20, dataset_steps=300, eval_episodes=1, progress=False)
  cells, datasets, table = d4rl_run.run_suite(**args)
  assert set(cells) == {("hopper-medium-v2", "bc"), ("hopper-medium-v2", "iql")}
  assert datasets["hopper-medium-v2"]["rows"] == 300
  assert "| hopper-medium-v2 | " in table and "20 x 2" in table
  checks = table.split("\n\n")[1]
  assert re.search(r"- hopper-medium-v2: IQL -?\d+\.\d (>=|<) BC -?\d+\.\d", checks), checks
  assert "vs D4RL's BC 52.9" in checks, "BC on medium is checked against IQL Table 1's BC column"
  for name in ("suite_table.md", "suite.json", "suite.png", "data/hopper-medium-v2.hdf5"):
    assert (tmp_path / name).exists(), name
  results = tmp_path / "hopper-medium-v2-iql-20" / "d4rl_results.json"
  before = os.stat(results).st_mtime_ns
  again, _, table_again = d4rl_run.run_suite(**args)
  assert os.stat(results).st_mtime_ns == before, "a finished cell is not trained again"
  assert table_again == table and again.keys() == cells.keys()
  hdf5 = tmp_path / "data" / "hopper-medium-v2.hdf5"
  marker = tmp_path / "hopper-medium-v2-iql-20" / "train" / "marker"
  marker.write_text("trained on the first dataset")
  os.utime(hdf5)  # written again with the same content: evaluated again, its training kept
  d4rl_run.run_suite(**args)
  assert os.stat(results).st_mtime_ns > before and marker.exists()
  d4rl_run.run_suite(**dict(args, dataset_steps=320))  # regenerated: other data at the same path
  assert not marker.exists(), "a cell whose dataset changed trains again from scratch"
  trained = json.loads((marker.parent / "provenance.json").read_text())["config"]
  assert trained["dataset"]["identity"] == file_provenance(hdf5)["input_sha256"]
  bc_results = tmp_path / "hopper-medium-v2-bc-20" / "d4rl_results.json"
  bc_before = os.stat(bc_results).st_mtime_ns
  args["dataset_steps"] = 320
  cells, _, table = d4rl_run.run_suite(**dict(args, agents=["iql"]))
  assert ("hopper-medium-v2", "bc") in cells and "| bc |" in table, (
      "cells of earlier calls stay in the table")
  assert os.stat(bc_results).st_mtime_ns == bc_before, "and are not trained again"
  # The benchmark CLI on its own refuses, loudly, to continue a run on other data.
  from jaxinsert.benchmarks.d4rl import protocol

  other = protocol.write_hdf5(tmp_path / "other.hdf5", protocol.rollout("Hopper-v5", None, 200, seed=5),
                              {"kind": "test"})
  with pytest.raises(CheckpointError, match="different run"):
    d4rl_run.run_benchmark("hopper-medium-v2", str(other), "iql", seeds=2,
                           workdir=str(marker.parent.parent), steps=20, eval_episodes=1,
                           progress=False)


def test_finished_cells_drop_those_whose_dataset_policies_changed(tmp_path, monkeypatch):
  from jaxinsert.benchmarks.d4rl import protocol

  manifest = protocol.load_manifest("Hopper-v5")
  (tmp_path / "data").mkdir()
  hdf5 = tmp_path / "data" / "hopper-medium-v2.hdf5"
  hdf5.write_bytes(b"")
  summary = {"hdf5": str(hdf5), "policies": protocol.dataset_sources(manifest, "medium")}
  (tmp_path / "data" / "hopper-medium-v2.json").write_text(json.dumps(summary))
  (tmp_path / "hopper-medium-v2-bc-20").mkdir()
  (tmp_path / "hopper-medium-v2-bc-20" / "d4rl_results.json").write_text(json.dumps({"seeds": 2}))
  cells, datasets = d4rl_run.finished_cells(str(tmp_path), updates=20)
  assert set(cells) == {("hopper-medium-v2", "bc")} and set(datasets) == {"hopper-medium-v2"}
  assert d4rl_run.finished_cells(str(tmp_path), updates=50)[0] == {}, "another budget"
  expert_only = dict(manifest, expert=dict(manifest["expert"], env_steps=999_000))
  monkeypatch.setattr(protocol, "load_manifest", lambda env_id, policy_dir=None: expert_only)
  assert set(d4rl_run.finished_cells(str(tmp_path), updates=20)[0]) == {("hopper-medium-v2", "bc")}, (
      "a new expert leaves medium cells current")
  new_medium = dict(manifest, medium=dict(manifest["medium"], env_steps=1))
  monkeypatch.setattr(protocol, "load_manifest", lambda env_id, policy_dir=None: new_medium)
  assert d4rl_run.finished_cells(str(tmp_path), updates=20) == ({}, {}), "a new medium makes them stale"


def test_a_cell_without_a_published_number_is_not_called_out_of_band(tmp_path):
  train = tmp_path / "halfcheetah-expert-v2-bc-20" / "train"
  train.mkdir(parents=True)
  (train / "metrics.jsonl").write_text(json.dumps({"train/updates_per_second": 100.0}) + "\n")
  cell = {"published_mean": None, "published_std": None, "in_band": None, "band": 10.0,
          "score_mean": 88.7, "score_std": 0.4, "updates_per_seed": 20, "seeds": 3,
          "wall_clock_seconds": 60.0, "results_path": str(train.parent / "d4rl_results.json")}
  table = d4rl_run.cell_table({("halfcheetah-expert-v2", "bc"): cell},
                              {"halfcheetah-expert-v2": {"score_mean": 88.0}})
  assert "| 88.7 ± 0.4 | n/a | ±10.0 | n/a | 300 | 1.0 min |" in table, table
