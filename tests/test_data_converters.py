"""Converters for file formats (D4RL HDF5, Minari, robomimic, npz) on files built here, and the
bad-input cases: every error names the file, episode, step and field, and nothing is written."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from jaxinsert.data import rlds
from jaxinsert.data.converters import convert
from jaxinsert.data.converters.common import ConvertOptions
from jaxinsert.data.errors import DataError
from test_data_fixtures import (d4rl_arrays, minari_episode, robomimic_demo, write_hdf5, write_minari,
                                write_robomimic)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENDS = [(5, "timeout"), (3, "terminal"), (4, "timeout")]


def test_d4rl_hdf5_round_trip_keeps_rows_infos_and_episode_ends(tmp_path):
  data = d4rl_arrays(ENDS)
  out = convert("d4rl_hdf5", write_hdf5(tmp_path / "hopper.hdf5", data), tmp_path / "out",
                spec="d4rl-locomotion:hopper")
  episodes = list(rlds.read_episodes(out))
  assert [len(e["steps"]["is_first"]) for e in episodes] == [6, 4, 5], "one extra final step per episode"
  rows = np.concatenate([e["steps"]["observation"]["state"][:-1] for e in episodes])
  np.testing.assert_array_equal(rows, data["observations"])
  np.testing.assert_array_equal(episodes[0]["steps"]["observation"]["state"][-1], data["next_observations"][4])
  np.testing.assert_array_equal(np.concatenate([e["steps"]["infos"]["qpos"][:-1] for e in episodes]),
                                data["infos/qpos"])
  assert [bool(e["steps"]["is_terminal"][-1]) for e in episodes] == [False, True, False]
  assert episodes[1]["metadata"]["first_row"] == 5 and episodes[1]["metadata"]["source_file"].endswith("hopper.hdf5")
  report = rlds.load_provenance(out)["input_report"]
  assert report["timeout_rows"] == 2 and report["terminal_rows"] == 1 and report["unmarked_boundaries"] == 0
  assert "metadata/algorithm" in report["metadata"]


def test_d4rl_without_timeouts_needs_the_time_limit(tmp_path):
  data = d4rl_arrays([(4, "timeout"), (4, "timeout")], infos=False)
  del data["timeouts"]
  path = write_hdf5(tmp_path / "old.hdf5", data)
  with pytest.raises(DataError) as error:
    convert("d4rl_hdf5", path, tmp_path / "out")
  assert error.value.field == "timeouts" and error.value.file == str(path)
  out = convert("d4rl_hdf5", path, tmp_path / "out", options=ConvertOptions(max_episode_steps=4))
  assert rlds.load_index(out)["num_episodes"] == 2


def test_split_on_discontinuity_cuts_unmarked_boundaries(tmp_path):
  data = d4rl_arrays([(4, "open"), (4, "timeout")], infos=False)
  path = write_hdf5(tmp_path / "antmaze.hdf5", data)
  plain = convert("d4rl_hdf5", path, tmp_path / "plain")
  assert rlds.load_index(plain)["num_episodes"] == 1
  assert rlds.load_provenance(plain)["input_report"]["unmarked_boundaries"] == 1
  split = convert("d4rl_hdf5", path, tmp_path / "split", options=ConvertOptions(split_on_discontinuity=True))
  assert rlds.load_index(split)["num_steps"] == [5, 5]


def test_d4rl_layout_without_spec_reads_a_generic_spec_and_keeps_extra_keys(tmp_path, capsys):
  """A third-party manipulation file (39-D observations, 4-D actions, 0/1 rewards, a `success`
  key) is not labelled a D4RL family: its spec is read off the file and `success` is kept."""
  data = d4rl_arrays(ENDS, obs_dim=39, action_dim=4, infos=False)
  data["rewards"] = (np.arange(len(data["rewards"])) % 3 == 0).astype(np.float32)
  data["success"] = data["rewards"] > 0
  out = convert("d4rl_hdf5", write_hdf5(tmp_path / "drawer.hdf5", data), tmp_path / "out")
  said = capsys.readouterr().err
  assert "match no D4RL family" in said and "success" in said
  spec = rlds.load_spec_of(out)
  assert spec.name == "d4rl-layout-generic"
  assert spec.observation["state"].shape == (39,) and spec.action.shape == (4,)
  assert "0/1 sparse" in spec.reward.description
  episodes = list(rlds.read_episodes(out))
  np.testing.assert_array_equal(np.concatenate([e["steps"]["infos"]["success"][:-1] for e in episodes]),
                                data["success"])


def test_d4rl_layout_without_spec_reads_the_file_once_and_rereads_a_changed_one(tmp_path,
                                                                               monkeypatch):
  from jaxinsert.data.converters import d4rl_hdf5

  opened = []
  real_open = d4rl_hdf5.open_hdf5
  monkeypatch.setattr(d4rl_hdf5, "open_hdf5", lambda path: opened.append(path) or real_open(path))
  data = d4rl_arrays(ENDS, obs_dim=11, action_dim=3, infos=False)
  path = write_hdf5(tmp_path / "hopper.hdf5", data)
  convert("d4rl_hdf5", path, tmp_path / "out")
  assert len(opened) == 1  # choose_spec's read is the one the episodes come from
  # A file rewritten between the choice and the episodes is read again, never served stale.
  d4rl_hdf5.choose_spec(path, ConvertOptions())
  data["rewards"] = data["rewards"] + 1.0
  os.utime(write_hdf5(path, data), ns=(1, 1))
  episodes = list(d4rl_hdf5.episodes(path, rlds.load_spec_of(tmp_path / "out"), ConvertOptions(), {}))
  assert len(opened) == 3
  np.testing.assert_allclose(np.concatenate([e["steps"]["reward"][:-1] for e in episodes]),
                             data["rewards"])


@pytest.mark.parametrize("obs_dim,action_dim,reward,expected", [
    (11, 3, "dense", "d4rl-locomotion:hopper"),
    (17, 6, "dense", "d4rl-locomotion (variant left open"),  # halfcheetah and walker2d
    (29, 8, "binary", "d4rl-antmaze"),
    (11, 3, "binary", "generic"),  # hopper's sizes but a sparse reward: not locomotion
])
def test_d4rl_layout_without_spec_picks_the_family_its_sizes_and_reward_name(tmp_path, obs_dim, action_dim,
                                                                            reward, expected):
  from jaxinsert.data.converters import d4rl_hdf5

  data = d4rl_arrays(ENDS, obs_dim=obs_dim, action_dim=action_dim, infos=False)
  if reward == "binary":
    data["rewards"] = (np.arange(len(data["rewards"])) % 2).astype(np.float32)
  spec, why = d4rl_hdf5.choose_spec(write_hdf5(tmp_path / "file.hdf5", data), ConvertOptions())
  assert expected in why
  assert (spec.name == "d4rl-layout-generic") == (expected == "generic")


def test_keys_a_family_spec_does_not_hold_are_named_on_the_console(tmp_path, capsys):
  data = d4rl_arrays(ENDS)
  data["infos/contact_forces"] = np.zeros((len(data["rewards"]), 4), np.float32)
  data["success"] = np.zeros(len(data["rewards"]), bool)
  out = convert("d4rl_hdf5", write_hdf5(tmp_path / "hopper.hdf5", data), tmp_path / "out",
                spec="d4rl-locomotion:hopper")
  said = capsys.readouterr().err
  assert "not converted" in said and "infos/contact_forces" in said and "success" in said
  assert rlds.load_provenance(out)["input_report"]["not_converted"] == ["infos/contact_forces", "success"]


def test_minari_round_trip_box_and_dict_observations(tmp_path):
  rng = np.random.default_rng(1)
  episodes = [minari_episode(5, rng, terminated=True), minari_episode(3, rng, terminated=False)]
  out = convert("minari", write_minari(tmp_path / "minari", episodes), tmp_path / "out")
  read = list(rlds.read_episodes(out))
  np.testing.assert_allclose(read[0]["steps"]["observation"]["state"], episodes[0]["observations"])
  np.testing.assert_allclose(read[1]["steps"]["action"][:-1], episodes[1]["actions"])
  assert read[0]["steps"]["is_terminal"][-1] and not read[1]["steps"]["is_terminal"][-1]
  assert read[1]["metadata"]["seed"] == 101
  assert rlds.load_provenance(out)["input_report"]["dataset_id"] == "test/pointmass/simple-v0"
  dict_eps = [minari_episode(4, rng, terminated=True, dict_obs=True)]
  out = convert("minari", write_minari(tmp_path / "minari_dict", dict_eps), tmp_path / "out_dict")
  observation = next(rlds.read_episodes(out))["steps"]["observation"]
  assert set(observation) == {"observation", "desired_goal"}


def test_minari_episode_running_past_termination_is_rejected(tmp_path):
  episode = minari_episode(5, np.random.default_rng(2), terminated=True)
  episode["terminations"] = np.array([False, True, False, False, True])
  with pytest.raises(DataError) as error:
    convert("minari", write_minari(tmp_path / "m", [episode]), tmp_path / "out")
  assert (error.value.episode, error.value.step, error.value.field) == (0, 1, "terminations")


def test_robomimic_round_trip_with_images_and_filter_key(tmp_path):
  rng = np.random.default_rng(3)
  demos = [robomimic_demo(4, rng), robomimic_demo(6, rng)]
  path = write_robomimic(tmp_path / "lift.hdf5", demos, filter_key="train")
  out = convert("robomimic", path, tmp_path / "out")
  read = list(rlds.read_episodes(out))
  assert len(read) == 2 and len(read[1]["steps"]["is_first"]) == 7
  np.testing.assert_array_equal(read[1]["steps"]["observation"]["agentview_image"][-1],
                                demos[1]["next_obs"]["agentview_image"][-1])
  assert read[0]["steps"]["is_terminal"][-1], "dones[-1] = 1 ends the demo in a terminal"
  assert rlds.load_provenance(out)["input_report"]["env_args"]["env_name"] == "Lift"
  filtered = convert("robomimic", path, tmp_path / "filtered", options=ConvertOptions(filter_key="train"))
  assert rlds.load_index(filtered)["num_episodes"] == 1


def test_npz_flat_layout_and_rlkit_paths(tmp_path):
  data = d4rl_arrays(ENDS, infos=False)
  np.savez(tmp_path / "flat.npz", **data)
  out = convert("npz", tmp_path / "flat.npz", tmp_path / "flat")
  assert rlds.load_index(out)["num_steps"] == [6, 4, 5]
  rng = np.random.default_rng(4)
  paths = []
  for length in (3, 5):
    states = rng.normal(size=(length + 1, 2))
    paths.append({"observations": [{"observation": s, "desired_goal": s * 0} for s in states[:-1]],
                  "next_observations": [{"observation": s, "desired_goal": s * 0} for s in states[1:]],
                  "actions": rng.normal(size=(length, 2)), "rewards": rng.normal(size=(length, 1)),
                  "terminals": np.zeros((length, 1))})
  np.save(tmp_path / "paths.npy", np.array(paths, dtype=object), allow_pickle=True)
  with pytest.raises(DataError, match="allow_pickle"):
    convert("npz", tmp_path / "paths.npy", tmp_path / "paths")
  out = convert("npz", tmp_path / "paths.npy", tmp_path / "paths", options=ConvertOptions(allow_pickle=True))
  episode = list(rlds.read_episodes(out))[1]
  np.testing.assert_allclose(episode["steps"]["observation"]["observation"][-1], paths[1]["next_observations"][-1]
                             ["observation"], rtol=1e-6)
  with open(tmp_path / "paths.pkl", "wb") as handle:
    pickle.dump(paths, handle)
  assert rlds.load_index(convert("npz", tmp_path / "paths.pkl", tmp_path / "pkl",
                                 options=ConvertOptions(allow_pickle=True)))["num_episodes"] == 2


@pytest.mark.parametrize("case", ["nan_observation", "inf_reward", "shape", "dtype", "missing_key", "lengths"])
def test_bad_d4rl_values_name_file_episode_step_and_field(tmp_path, case):
  data = d4rl_arrays(ENDS, infos=False)
  expected = {"nan_observation": (1, 2, "steps/observation/state"), "inf_reward": (2, 0, "steps/reward"),
              "shape": (0, 0, "steps/observation/state"), "dtype": (None, None, "observations"),
              "missing_key": (None, None, "actions"), "lengths": (None, None, "timeouts")}[case]
  if case == "nan_observation":
    data["observations"][7, 3] = np.nan  # episode 1 starts at row 5
  elif case == "inf_reward":
    data["rewards"][8] = np.inf
  elif case == "shape":
    data["observations"] = np.concatenate([data["observations"], data["observations"][:, :1]], axis=1)
    data["next_observations"] = data["observations"]
  elif case == "dtype":
    data["observations"] = data["observations"].astype("S8")
  elif case == "missing_key":
    del data["actions"]
  elif case == "lengths":
    data["timeouts"] = data["timeouts"][:-1]
  path = write_hdf5(tmp_path / "bad.hdf5", data)
  with pytest.raises(DataError) as error:
    convert("d4rl_hdf5", path, tmp_path / "out", spec="d4rl-locomotion:hopper")
  got = error.value
  assert got.file == str(path), str(got)
  if case == "dtype":
    assert "not numeric" in str(got) and got.field == "steps/observation/state", str(got)
  else:
    assert (got.episode, got.step, got.field) == expected, str(got)
  if case == "nan_observation":
    assert "source row 7" in str(got) and "nan" in str(got)
  assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*")), "nothing half-written"


def test_truncated_and_non_hdf5_files_are_reported(tmp_path):
  path = write_hdf5(tmp_path / "ok.hdf5", d4rl_arrays(ENDS))
  truncated = tmp_path / "truncated.hdf5"
  truncated.write_bytes(path.read_bytes()[:2000])
  garbage = tmp_path / "garbage.hdf5"
  garbage.write_bytes(b"not an hdf5 file" * 10)
  for bad in (truncated, garbage):
    with pytest.raises(DataError) as error:
      convert("d4rl_hdf5", bad, tmp_path / "out")
    assert error.value.file == str(bad) and "HDF5" in str(error.value)
  np.savez(tmp_path / "ok.npz", **d4rl_arrays(ENDS, infos=False))
  (tmp_path / "cut.npz").write_bytes((tmp_path / "ok.npz").read_bytes()[:300])
  with pytest.raises(DataError, match="truncated or corrupt"):
    convert("npz", tmp_path / "cut.npz", tmp_path / "out")


def test_cli_exit_codes_and_overwrite(tmp_path):
  path = write_hdf5(tmp_path / "hopper.hdf5", d4rl_arrays(ENDS))
  out = tmp_path / "out"
  command = [sys.executable, os.path.join(ROOT, "experiments", "convert.py"), "--format=d4rl_hdf5",
             f"--input={path}", f"--output_dir={out}", "--spec=d4rl-locomotion:hopper"]
  first = subprocess.run(command, capture_output=True, text=True, timeout=120)
  assert first.returncode == 0, first.stderr
  assert '"episodes": 3' in first.stdout.strip().splitlines()[-1]
  again = subprocess.run(command, capture_output=True, text=True, timeout=120)
  assert again.returncode != 0 and "--overwrite" in again.stderr
  replaced = subprocess.run(command + ["--overwrite", "--task_id=4"], capture_output=True, text=True, timeout=120)
  assert replaced.returncode == 0, replaced.stderr
  assert rlds.load_index(out)["task_id"] == [4, 4, 4]
  bad = tmp_path / "bad.hdf5"
  data = d4rl_arrays(ENDS)
  data["actions"][3, 1] = np.nan
  write_hdf5(bad, data)
  failed = subprocess.run(command[:3] + [f"--input={bad}", f"--output_dir={tmp_path / 'new'}"],
                          capture_output=True, text=True, timeout=120)
  assert failed.returncode == 1
  assert f"file {bad}, episode 0, step 3, field 'steps/action'" in failed.stderr, failed.stderr
  assert not (tmp_path / "new").exists()


def test_d4rl_episodes_load_without_writing_a_dataset(tmp_path):
  from jaxinsert.data.converters import d4rl_hdf5
  from jaxinsert.data.transitions import load_transitions

  path = write_hdf5(tmp_path / "hopper.hdf5", d4rl_arrays(ENDS))
  transitions, spec, info = load_transitions(d4rl_hdf5.read_episodes(path), action_clip=1 - 1e-5)
  assert transitions.size == sum(length for length, _ in ENDS) and spec.obs_shape == (11,)
  assert info["num_terminal_transitions"] == 1 and info["spec"]["observation"]["state"]["shape"] == [11]
