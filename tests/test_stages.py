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


def test_a_field_added_later_at_its_declared_default_keeps_old_records_valid(tmp_path):
  calls = []
  stages.StageRunner(config(), str(tmp_path), progress=False).run(declared(calls))
  old = {name: stages.StageRunner.fingerprint(record["settings"]) for name, record in
         stages.StageRunner(config(), str(tmp_path), progress=False).run(declared(calls)).items()}

  def with_defaults(calls):   # a new top-level field, and a new field inside a section
    collect, train = declared(calls)
    return [collect, stages.Stage(train.name, train.body, train.depends_on, train.inputs,
                                  train.outputs, defaults={"agent.clip": None, "latent": "state"})]

  for new_fields in ({"agent.clip": None, "latent": "state"}, {}):   # at default, or absent
    later = config()
    for dotted, value in new_fields.items():
      if "." in dotted:
        later.agent[dotted.split(".")[1]] = value
      else:
        later[dotted] = value
    records = stages.StageRunner(later, str(tmp_path), progress=False).run(with_defaults(calls))
    assert records["train"]["fingerprint"] == old["train"]
  assert calls == ["collect", "train"], "a field at its default re-ran a finished stage"
  for dotted, value, shown in (("agent.clip", 1.0, r"config.agent: .*'clip': 1.0"),
                               ("latent", "image", "config.latent: None -> 'image'")):
    later = config()
    later.agent.clip, later.latent = None, "state"
    section, _, name = dotted.rpartition(".")
    (later[section] if section else later)[name] = value
    with pytest.raises(stages.StageMismatchError, match=shown):
      stages.StageRunner(later, str(tmp_path), progress=False).run(with_defaults(calls))
