"""The ODA report on records made by hand: the before/after table of the main job (a seed at the
threshold keeps its zero-shot count, a finetuned seed's start and final evaluations on the same
starts) and a run without the no-context baseline (`config.baseline = False`)."""

import json
import types

import pytest

from experiments.configs import oda_default
from jaxinsert.training import oda_report


def _per_task(counts, n=100):
  return {"per_task": {name: {"success_k": k, "success_n": n, "success_rate": k / n}
                       for name, k in counts.items()}}


def _run(start_k, final_k, steps):
  return {"start": {"success_k": start_k, "success_n": 100, "success_rate": start_k / 100},
          "final": {"success_k": final_k, "success_n": 100, "success_rate": final_k / 100},
          "env_steps": steps, "steps_to_threshold": steps, "zero_shot": 0.1,
          "curve": [(0, 0.1), (steps, final_k / 100)], "stopped_early": True}


@pytest.mark.timeout(60)
def test_main_report_has_no_baseline_column_and_pools_before_and_after(tmp_path, capsys):
  config = oda_default.get_config("main")
  config.report.video = False
  task = lambda name: types.SimpleNamespace(name=name)
  pipeline = types.SimpleNamespace(config=config, workdir=str(tmp_path),
                                   test_tasks=[task("a"), task("b")], train_tasks=[task("t")],
                                   ood_tasks=[task("o")])
  zero_shot = [{"test": _per_task({"a": 10, "b": 100}), "train": _per_task({"t": 90}),
                "ood": _per_task({"o": 0})},
               {"test": _per_task({"a": 97, "b": 99}), "train": _per_task({"t": 95}),
                "ood": _per_task({"o": 96})}]
  finetune = {"a": {"split": "test", "seeds": [
                  {"zero_shot": 0.10, "skipped": False, "runs": {"oda_demos": _run(8, 98, 3000)}},
                  {"zero_shot": 0.97, "skipped": True, "runs": {}}]},
              "b": {"split": "test", "seeds": [
                  {"zero_shot": 1.00, "skipped": True, "runs": {}},
                  {"zero_shot": 0.99, "skipped": True, "runs": {}}]},
              "o": {"split": "ood", "seeds": [
                  {"zero_shot": 0.00, "skipped": False, "runs": {"oda_demos": _run(0, 100, 5000)}},
                  {"zero_shot": 0.96, "skipped": True, "runs": {}}]}}
  summary = oda_report.write_summary(pipeline, {"zero_shot": {"oda": zero_shot},
                                                "finetune": {"tasks": finetune}})
  out = capsys.readouterr().out
  assert "AWAC" not in out and "no baseline trained" in out
  a, b, o = summary["before_after"]
  assert (a["task"], a["before"]["k"], a["after"]["k"], a["env_steps"]) == ("a", [8, 97], [98, 97], [3000])
  assert (b["before"]["k"], b["after"]["k"], b["env_steps"]) == ([100, 99], [100, 99], [])
  assert a["after"]["rate"] == pytest.approx(195 / 200)
  assert a["after"]["ci95"][0] < a["after"]["rate"] < a["after"]["ci95"][1]
  assert (o["split"], o["before"]["k"], o["after"]["k"]) == ("ood", [0, 96], [100, 96])
  assert "seed 0 8/100 -> 98/100 in 3000 steps" in out
  assert "all finetuned tasks: 400/600 = 0.67 -> 590/600 = 0.98" in out
  assert "oda_at_least_awac" not in summary["checks"]
  with open(tmp_path / "summary.json") as handle:
    assert json.load(handle)["before_after"][0]["after"]["k"] == [98, 97]
  assert (tmp_path / "finetune_a.png").stat().st_size > 0


@pytest.mark.timeout(60)
def test_the_other_baselines_are_columns_of_the_test_and_ood_rows_only(tmp_path, capsys):
  config = oda_default.get_config()
  config.report.video = False
  task = lambda name: types.SimpleNamespace(name=name)
  pipeline = types.SimpleNamespace(config=config, workdir=str(tmp_path),
                                   test_tasks=[task("a"), task("b")], train_tasks=[task("t")],
                                   ood_tasks=[task("o")])
  seed = lambda a, b, t, o: {"test": _per_task({"a": a, "b": b}), "train": _per_task({"t": t}),
                             "ood": _per_task({"o": o})}
  records = {"zero_shot": {"oda": [seed(100, 90, 100, 50)], "awac": [seed(20, 95, 80, 0)]},
             "other_baselines": {"seconds": 5.0, "methods": {
                 "bc_demos": [{"test": _per_task({"a": 100, "b": 70}), "ood": _per_task({"o": 3})}],
                 "offline_ddpg": [{"test": _per_task({"a": 0, "b": 2}), "ood": _per_task({"o": 0})}]}}}
  summary = oda_report.write_summary(pipeline, records)
  out = capsys.readouterr().out
  by_task = {row["task"]: row for row in summary["rows"]}
  assert by_task["b"]["bc_demos"]["k"] == [70] and by_task["o"]["offline_ddpg"]["k"] == [0]
  assert "bc_demos" not in by_task["t"] and "offline_ddpg" not in by_task["t"]
  assert summary["checks"]["bc_demos_below_100"] == "1/2"
  assert summary["checks"]["offline_ddpg_test_rate"] == pytest.approx(0.01)
  assert "BC on the task's demos mean 0.85, below 100/100 on 1/2" in out
  assert "offline DDPG mean 0.01" in out
