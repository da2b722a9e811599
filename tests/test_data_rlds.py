"""RLDS on disk: round trip, TFDS's own reader agrees, atomic writes, damaged datasets reported."""

import json
import sys

import numpy as np
import pytest

from jaxinsert.data import rlds
from jaxinsert.data.errors import DataError
from jaxinsert.data.specs import DatasetSpec

VISION_SPEC = {
    "name": "test-vision", "version": "1.2.0", "description": "tiny insertion-vision-like spec",
    "control_rate_hz": 10,
    "observation": {
        "tcp_pose_in_socket": {"shape": [7], "dtype": "float32", "units": "m, quaternion", "frame": "socket",
                               "description": "pose"},
        "wrench_at_tcp": {"shape": [6], "dtype": "float32", "units": "N, N m", "frame": "tcp", "description": "w"},
        "wrist_image": {"shape": [8, 8, 3], "dtype": "uint8", "units": "RGB", "frame": "camera", "description": "i"},
        "contact": {"shape": [], "dtype": "bool", "units": "", "frame": None, "description": "in contact"}},
    "action": {"shape": [6], "dtype": "float32", "units": "normalised twist", "frame": "tcp", "description": "a",
               "low": -1.0, "high": 1.0},
    "reward": {"dtype": "float32", "description": "binary success"},
    "episode_metadata": {"task_id": "int32", "domain_id": "int32", "connector": "string", "clearance_m": "float32"},
    "infos": {"plug_pose": {"shape": [3], "dtype": "float32", "units": "m", "frame": "world", "description": "p"}},
}


def vision_episode(length, seed, terminal=False, infos=True):
  rng = np.random.default_rng(seed)
  flags = np.arange(length)
  steps = {"observation": {"tcp_pose_in_socket": rng.normal(size=(length, 7)),
                           "wrench_at_tcp": rng.normal(size=(length, 6)).astype(np.float32),
                           "wrist_image": rng.integers(0, 256, (length, 8, 8, 3), dtype=np.uint8),
                           "contact": rng.random(length) > 0.5},
           "action": rng.uniform(-1, 1, (length, 6)), "reward": (flags == length - 2).astype(np.float32),
           "discount": np.ones(length), "is_first": flags == 0, "is_last": flags == length - 1,
           "is_terminal": (flags == length - 1) & terminal}
  if infos:
    steps["infos"] = {"plug_pose": rng.normal(size=(length, 3))}
  return {"steps": steps, "task_id": seed, "domain_id": 3,
          "metadata": {"connector": f"usb-{seed}", "clearance_m": 1e-4, "operator": "sim"}}


def test_round_trip_preserves_every_field_and_tfds_reads_it_without_tensorflow(tmp_path):
  spec = DatasetSpec.from_dict(VISION_SPEC)
  episodes = [vision_episode(5, 1), vision_episode(3, 2, terminal=True)]
  out = rlds.write_dataset(tmp_path / "ds", iter(episodes), spec, provenance={"source": "unit test"})
  read = list(rlds.read_episodes(out))
  for original, got in zip(episodes, read):
    for name, value in original["steps"]["observation"].items():
      np.testing.assert_allclose(got["steps"]["observation"][name], value, rtol=1e-6, err_msg=name)
    for key in ("action", "reward", "discount", "is_first", "is_last", "is_terminal"):
      np.testing.assert_allclose(got["steps"][key], original["steps"][key], rtol=1e-6, err_msg=key)
    np.testing.assert_allclose(got["steps"]["infos"]["plug_pose"], original["steps"]["infos"]["plug_pose"], rtol=1e-6)
    assert got["task_id"] == original["task_id"] and got["domain_id"] == 3
    assert got["metadata"]["connector"] == original["metadata"]["connector"]
    assert got["metadata"]["operator"] == "sim", "undeclared metadata survives as JSON"
  source = rlds.data_source(out)
  assert len(source) == 2
  second = source[1]
  assert len(second["steps"]) == 3 and second["task_id"] == 2
  last_step = second["steps"][2]
  np.testing.assert_array_equal(last_step["observation"]["wrist_image"],
                                episodes[1]["steps"]["observation"]["wrist_image"][2])
  np.testing.assert_allclose(last_step["observation"]["tcp_pose_in_socket"],
                             episodes[1]["steps"]["observation"]["tcp_pose_in_socket"][2], rtol=1e-6)
  assert bool(last_step["is_terminal"]) and second["episode_metadata"]["connector"] == b"usb-2"
  assert "tensorflow" not in sys.modules, "TFDS must not pull in TensorFlow"
  assert rlds.load_spec_of(out).version == "1.2.0"
  provenance = rlds.load_provenance(out)
  assert provenance["source"] == "unit test" and provenance["num_steps"] == 8
  assert rlds.load_index(out)["num_terminal_episodes"] == 1


def test_failure_midway_leaves_nothing_and_existing_data_is_kept(tmp_path):
  spec = DatasetSpec.from_dict(VISION_SPEC)

  def failing():
    yield vision_episode(4, 1)
    bad = vision_episode(4, 2)
    bad["steps"]["action"][2, 1] = np.nan
    yield bad

  with pytest.raises(DataError) as error:
    rlds.write_dataset(tmp_path / "ds", failing(), spec)
  assert (error.value.episode, error.value.step, error.value.field) == (1, 2, "steps/action")
  assert list(tmp_path.iterdir()) == [], "no dataset and no temporary directory may remain"

  out = rlds.write_dataset(tmp_path / "ds", [vision_episode(4, 1)], spec)
  with pytest.raises(DataError, match="overwrite"):
    rlds.write_dataset(tmp_path / "ds", [vision_episode(6, 2)], spec)
  with pytest.raises(DataError):
    rlds.write_dataset(tmp_path / "ds", failing(), spec, overwrite=True)
  assert rlds.load_index(out)["num_steps"] == [4], "a failed overwrite keeps the old dataset"

  def interrupted():
    yield vision_episode(4, 1)
    raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    rlds.write_dataset(tmp_path / "other", interrupted(), spec)
  rlds.write_dataset(tmp_path / "ds", [vision_episode(6, 2)], spec, overwrite=True)
  assert rlds.load_index(out)["num_steps"] == [6]
  assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_shapes_and_infos_cannot_drift_between_episodes(tmp_path):
  open_spec = dict(VISION_SPEC, observation=dict(VISION_SPEC["observation"],
                                                 tcp_pose_in_socket={"shape": [None], "dtype": "float32"}))
  spec = DatasetSpec.from_dict(open_spec)
  second = vision_episode(4, 2)
  second["steps"]["observation"]["tcp_pose_in_socket"] = np.zeros((4, 9))
  with pytest.raises(DataError) as error:
    rlds.write_dataset(tmp_path / "ds", [vision_episode(4, 1), second], spec)
  assert error.value.episode == 1 and error.value.field == "steps/observation/tcp_pose_in_socket"
  with pytest.raises(DataError) as error:
    rlds.write_dataset(tmp_path / "ds", [vision_episode(4, 1), vision_episode(4, 2, infos=False)], spec)
  assert error.value.episode == 1 and error.value.field == "steps/infos/plug_pose"
  out = rlds.write_dataset(tmp_path / "ds", [vision_episode(4, 1, infos=False)], spec)
  assert not rlds.load_spec_of(out).infos, "optional infos absent from the data are dropped from its spec"
  with pytest.raises(DataError, match="no episodes"):
    rlds.write_dataset(tmp_path / "empty", [], spec)


def test_damaged_datasets_are_reported_with_the_file(tmp_path):
  spec = DatasetSpec.from_dict(VISION_SPEC)
  out = rlds.write_dataset(tmp_path / "ds", [vision_episode(4, i) for i in range(3)], spec)
  (shard,) = rlds.shard_paths(out)
  content = shard.read_bytes()
  shard.write_bytes(content[: len(content) // 2])
  with pytest.raises(DataError) as error:
    list(rlds.read_episodes(out))
  assert error.value.file == str(shard)
  shard.unlink()
  with pytest.raises(DataError, match="missing"):
    list(rlds.read_episodes(out))
  (out / rlds.INDEX_FILE).write_text("{broken")
  with pytest.raises(DataError, match="corrupt"):
    rlds.load_index(out)
  with pytest.raises(DataError, match="not a jaxinsert RLDS dataset"):
    rlds.load_spec_of(tmp_path)


def test_index_matches_records(tmp_path):
  spec = DatasetSpec.from_dict(VISION_SPEC)
  out = rlds.write_dataset(tmp_path / "ds", [vision_episode(n, n) for n in (2, 5, 3)], spec)
  index = json.loads((out / rlds.INDEX_FILE).read_text())
  assert index["num_steps"] == [2, 5, 3] and index["task_id"] == [2, 5, 3]
  assert [len(e["steps"]["is_first"]) for e in rlds.read_episodes(out)] == [2, 5, 3]
