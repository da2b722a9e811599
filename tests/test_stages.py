"""The stage runner: finished stages are reused only while their fingerprint matches."""

import ml_collections
import pytest

from jaxinsert.training import stages


def config(**values):
  base = ml_collections.ConfigDict({"collect": {"episodes": 10}, "agent": {"beta": 3.0}, "seed": 0})
  for dotted, value in values.items():
    section, name = dotted.split(".")
    base[section][name] = value
  return base


def declared(calls):
  def body(name):
    def run():
      calls.append(name)
      return {"made": name}
    return run
  return [stages.Stage("collect", body("collect"), ("seed", "collect")),
          stages.Stage("train", body("train"), ("agent",), inputs=("collect",), outputs=("model",))]


def test_a_finished_stage_is_reused_with_the_same_settings(tmp_path):
  calls = []
  stages.StageRunner(config(), str(tmp_path), progress=False).run(declared(calls))
  records = stages.StageRunner(config(), str(tmp_path), progress=False).run(declared(calls))
  assert calls == ["collect", "train"] and records["train"]["made"] == "train"


def test_a_changed_field_is_refused_naming_it_and_redo_reruns_only_what_depends_on_it(tmp_path):
  calls = []
  stages.StageRunner(config(), str(tmp_path), progress=False).run(declared(calls))
  with pytest.raises(stages.StageMismatchError, match=r"config.agent: .*'beta': 3.0.*'beta': 10.0"):
    stages.StageRunner(config(**{"agent.beta": 10.0}), str(tmp_path), progress=False).run(declared(calls))
  (tmp_path / "model").mkdir()
  (tmp_path / "model" / "checkpoint").write_text("made at beta 3")
  stages.StageRunner(config(**{"agent.beta": 10.0}), str(tmp_path), progress=False,
                     redo=True).run(declared(calls))
  assert calls == ["collect", "train", "train"]
  assert not (tmp_path / "model").exists(), "a redo resumed from the old settings' outputs"



def test_a_redone_input_stage_invalidates_the_stages_reading_it(tmp_path):
  calls = []
  stages.StageRunner(config(), str(tmp_path), progress=False).run(declared(calls))
  with pytest.raises(stages.StageMismatchError, match="collect"):
    stages.StageRunner(config(**{"collect.episodes": 20}), str(tmp_path), progress=False,
                       redo=False).run(declared(calls))
  stages.StageRunner(config(**{"collect.episodes": 20}), str(tmp_path), progress=False,
                     redo=True).run(declared(calls))
  assert calls == ["collect", "train", "collect", "train"]
