"""Spec files load, variants apply, and episode validation names the step and field at fault."""

import json

import numpy as np
import pytest

from jaxinsert.data.errors import DataError
from jaxinsert.data.specs import data_specs_root, load_spec

FAMILIES = ("d4rl-locomotion", "d4rl-antmaze", "adroit", "sawyer-log", "iiwa-log")


def episode(length=4, obs_dim=11, action_dim=3):
  rng = np.random.default_rng(0)
  flags = np.arange(length)
  return {"steps": {"observation": {"state": rng.normal(size=(length, obs_dim))},
                    "action": rng.uniform(-1, 1, (length, action_dim)), "reward": rng.normal(size=length),
                    "discount": np.ones(length), "is_first": flags == 0, "is_last": flags == length - 1,
                    "is_terminal": np.zeros(length, bool)}, "task_id": 2}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_spec_loads_with_units_and_version(family):
  spec = load_spec(family)
  assert spec.version == "1.0.0" and spec.name == family
  for feature in list(spec.observation.values()) + [spec.action]:
    assert feature.units and feature.description, f"{family}/{feature.name} lacks units or a description"
  assert spec.episode_metadata["task_id"] == "int32"


def test_all_spec_files_in_the_tree_parse():
  for path in sorted(data_specs_root().glob("*/v*.json")):
    spec = load_spec(path)
    for variant in spec.raw.get("variants", {}):
      assert spec.with_variant(variant).observation


def test_variant_fixes_open_shapes_and_paths_load():
  spec = load_spec("d4rl-locomotion:hopper")
  assert spec.observation["state"].shape == (11,) and spec.action.shape == (3,)
  assert spec.control_rate_hz == 125
  assert not load_spec("d4rl-locomotion").is_concrete
  assert load_spec(data_specs_root() / "adroit" / "v1.json").name == "adroit"
  assert load_spec("adroit@1:door").action.shape == (28,)


def test_validate_casts_float64_and_returns_ids():
  checked = load_spec("d4rl-locomotion:hopper").validate_episode(episode())
  assert checked["steps"]["observation"]["state"].dtype == np.float32
  assert checked["task_id"] == 2 and checked["domain_id"] == 0


@pytest.mark.parametrize("case,step,field,words", [
    ("nan", 2, "steps/observation/state", "non-finite"),
    ("inf_action", 1, "steps/action", "non-finite"),
    ("shape", 0, "steps/observation/state", "shape"),
    ("missing", None, "steps/action", "missing"),
    ("extra_feature", None, "steps/observation/camera", "not in spec"),
    ("late_first", 2, "steps/is_first", "is_first"),
    ("early_terminal", 1, "steps/is_terminal", "before the last step"),
    ("length", None, "steps/reward", "steps"),
    ("discount", 3, "steps/discount", "outside"),
    ("dtype", None, "steps/action", "cannot be stored"),
    ("text", None, "steps/reward", "not numeric"),
])
def test_validation_errors_name_step_and_field(case, step, field, words):
  bad = episode()
  steps = bad["steps"]
  if case == "nan":
    steps["observation"]["state"][2, 5] = np.nan
  elif case == "inf_action":
    steps["action"][1, 0] = -np.inf
  elif case == "shape":
    steps["observation"]["state"] = steps["observation"]["state"][:, :10]
  elif case == "missing":
    del steps["action"]
  elif case == "extra_feature":
    steps["observation"]["camera"] = np.zeros((4, 2))
  elif case == "late_first":
    steps["is_first"] = np.array([True, False, True, False])
  elif case == "early_terminal":
    steps["is_terminal"] = np.array([False, True, False, False])
  elif case == "length":
    steps["reward"] = steps["reward"][:3]
  elif case == "discount":
    steps["discount"] = np.array([1, 1, 1, 2.0])
  elif case == "dtype":
    steps["action"] = steps["action"] * 1j
  elif case == "text":
    steps["reward"] = np.array(["a", "b", "c", "d"])
  with pytest.raises(DataError) as error:
    load_spec("d4rl-locomotion:hopper").validate_episode(bad, where={"file": "x.hdf5", "episode": 7})
  got = error.value
  assert (got.file, got.episode, got.step, got.field) == ("x.hdf5", 7, step, field), str(got)
  assert words in str(got) and str(got).startswith("file x.hdf5, episode 7"), str(got)


def test_bad_spec_files_are_reported(tmp_path):
  broken = tmp_path / "broken.json"
  broken.write_text("{not json")
  with pytest.raises(DataError, match="not valid JSON"):
    load_spec(broken)
  incomplete = tmp_path / "incomplete.json"
  incomplete.write_text(json.dumps({"name": "x", "version": "1.0.0"}))
  with pytest.raises(DataError) as error:
    load_spec(incomplete)
  assert error.value.field == "observation" and error.value.file == str(incomplete)
  bad_dtype = json.loads((data_specs_root() / "d4rl-antmaze" / "v1.json").read_text())
  bad_dtype["action"]["dtype"] = "float16"
  (tmp_path / "dtype.json").write_text(json.dumps(bad_dtype))
  with pytest.raises(DataError, match="float16"):
    load_spec(tmp_path / "dtype.json")
  with pytest.raises(DataError, match="unknown spec"):
    load_spec("no-such-family")
  with pytest.raises(DataError, match="no variant"):
    load_spec("adroit:spaceship")
