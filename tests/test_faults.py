"""Fault battery (issue 14): what a hostile but fair user does, and what jaxinsert must do then.

Run `pytest -v tests/test_faults.py` to read the whole list; each test's name is the case and
its docstring one line: what is done -> what must happen. Every case failed before issue 14.
Sections: checkpoints, divergence, overwrite, checks before the first update, dataset index,
converters and run records.
"""

import json
import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.data import rlds
from jaxinsert.data.converters import convert
from jaxinsert.data.converters.common import ConvertOptions
from jaxinsert.data.errors import DataError
from jaxinsert.training import checkpoints, logging as run_logging, offline, runs
from jaxinsert.training import config as run_config
from jaxinsert.training.offline import DivergenceError, OfflineTrainer
from test_data_fixtures import d4rl_arrays, minari_episode, robomimic_demo, write_hdf5, write_minari, write_robomimic
from test_data_rosbag import write_sawyer_bag
from test_training_offline import SPEC, random_dataset, small_config, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENDS = [(6, "timeout"), (4, "terminal"), (5, "timeout")]
HOPPER = "d4rl-locomotion:hopper"


def fast_config(**overrides):
  """BC with tiny networks: every training case below shares its one compiled program."""
  return small_config("bc", **overrides)


def restore(config, workdir, dataset=None):
  trainer = OfflineTrainer(config, str(workdir), dataset or random_dataset(), SPEC, progress=False)
  try:
    return trainer.initial_state()
  finally:
    trainer.close()


def largest_file(directory):
  files = [os.path.join(root, name) for root, _, names in os.walk(directory) for name in names]
  return max(files, key=os.path.getsize)


def hopper_dataset(tmp_path, name="ds", **options):
  source = write_hdf5(tmp_path / f"{name}.hdf5", d4rl_arrays(ENDS))
  return convert("d4rl_hdf5", source, tmp_path / name, spec=HOPPER, options=ConvertOptions(**options))


# ---------------------------------------------------------------------------------- checkpoints
def test_checkpoint_with_flipped_bytes_falls_back_to_the_newest_intact_one(tmp_path, capsys):
  """16 bytes flipped in the newest checkpoint's arrays -> resume from the older intact one, say so, go on saving."""
  config = fast_config()
  train(config, tmp_path / "b")
  target = largest_file(tmp_path / "b" / "checkpoints" / "40" / "state")
  with open(target, "r+b") as handle:
    handle.seek(os.path.getsize(target) // 2)
    chunk = handle.read(16)
    handle.seek(-16, os.SEEK_CUR)
    handle.write(bytes(b ^ 0xFF for b in chunk))
  state = restore(config, tmp_path / "b")
  assert int(state.step) == 20, "a corrupted checkpoint was restored"
  message = capsys.readouterr().err
  assert "damaged" in message and "step 20" in message and "40" in message, message
  resumed = train(config, tmp_path / "b")
  assert int(resumed.step) == 40
  saver = checkpoints.Checkpointer(str(tmp_path / "b" / "checkpoints"), {})
  assert saver.latest_step() == 40, "the step set aside as damaged was not saved again"


def test_emptied_latest_checkpoint_falls_back_instead_of_refusing(tmp_path, capsys):
  """Latest checkpoint directory emptied -> restore the previous step, with a warning."""
  config = fast_config()
  train(config, tmp_path)
  latest = tmp_path / "checkpoints" / "40"
  for entry in latest.iterdir():
    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
  assert int(restore(config, tmp_path).step) == 20
  assert "newest intact" in capsys.readouterr().err
  assert not latest.exists() and (tmp_path / "checkpoints" / ".damaged").is_dir(), "damaged step not set aside"


def test_refused_resume_with_a_changed_config_names_the_changed_fields_briefly(tmp_path):
  """Resume with agent.actor_lr changed -> CheckpointError listing 'agent.actor_lr: 0.0003 -> 0.001', short."""
  train(fast_config(), tmp_path)
  other = fast_config()
  other.agent.actor_lr = 1e-3
  with pytest.raises(checkpoints.CheckpointError) as error:
    restore(other, tmp_path)
  message = str(error.value)
  assert "agent.actor_lr: 0.0003 -> 0.001" in message, message
  assert len(message) < 400, f"{len(message)} characters: {message}"


# ----------------------------------------------------------------------------------- divergence
def test_huge_actor_learning_rate_stops_the_run(tmp_path):
  """IQL with actor_lr=1e4 (log-prob of data actions in the -10,000s) -> DivergenceError, not exit 0."""
  config = small_config(max_steps=200, checkpoint_interval=100)
  config.agent.actor_lr = 1e4
  with pytest.raises(DivergenceError, match="log_prob"):
    train(config, tmp_path)


def test_finite_but_exploded_critic_loss_counts_as_divergence():
  """critic_loss = 5e27 (what critic_lr=1e4 gives, still finite) -> a divergence reason naming it."""
  reasons = offline.divergence_reasons({"critic_loss": np.float32(5e27), "q": np.float32(2e13)}, action_dim=2)
  assert len(reasons) == 1 and "critic_loss" in reasons[0], reasons
  assert offline.divergence_reasons({"critic_loss": 3.0, "actor_loss": -40.0, "log_prob": -6.0}, 2) == []


def test_diverged_state_is_never_saved_between_logs(tmp_path):
  """NaN training with checkpoints more often than logs -> no checkpoint after the last finite step."""
  config = fast_config(max_steps=60, log_interval=40, checkpoint_interval=10)
  train(config, tmp_path, max_steps=20)
  poisoned = random_dataset()
  poisoned = poisoned.replace(obs=poisoned.obs.at[:].set(jnp.nan))
  trainer = OfflineTrainer(config, str(tmp_path), poisoned, SPEC, progress=False)
  with pytest.raises(DivergenceError, match="last good checkpoint is step 20"):
    trainer.train()
  trainer.close()
  assert checkpoints.Checkpointer(str(tmp_path / "checkpoints"), {}).latest_step() == 20


def test_non_finite_optimiser_moment_is_never_saved(tmp_path):
  """A state whose only NaN is an optimiser moment -> refused before saving, path named."""
  config = fast_config()
  state = restore(config, tmp_path)
  paths = [(path, leaf) for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]
           if "opt_state" in jax.tree_util.keystr(path) and jnp.issubdtype(leaf.dtype, jnp.floating)]
  assert paths, "found no optimiser leaf"
  target = paths[0][0]
  poisoned = jax.tree_util.tree_map_with_path(
      lambda path, leaf: leaf.at[...].set(jnp.nan) if path == target else leaf, state)
  saver = checkpoints.Checkpointer(str(tmp_path / "checkpoints"), {})
  with pytest.raises(DivergenceError, match="opt_state"):
    offline.check_state_finite(poisoned, 10, saver)
  assert saver.latest_step() is None


# ---------------------------------------------------------------------------- checks before update
@pytest.mark.parametrize("field,value", [("batch_size", 0), ("batch_size", -4), ("steps_per_call", 0),
                                         ("num_seeds", 0), ("log_interval", 0), ("keep_checkpoints", 0)])
def test_bad_run_config_field_is_refused_with_one_line_naming_it(tmp_path, field, value):
  """batch_size <= 0, steps_per_call = 0, num_seeds = 0 ... -> ConfigError naming the field and allowed values."""
  config = small_config()
  config[field] = value
  with pytest.raises(run_config.ConfigError) as error:
    OfflineTrainer(config, str(tmp_path), random_dataset(), SPEC, progress=False)
  assert f"config.{field}={value}" in str(error.value) and "allowed" in str(error.value)
  assert "\n" not in str(error.value)
  assert not (tmp_path / "checkpoints").exists(), "something was written before the check"


def test_unknown_config_field_on_the_command_line_is_one_line(tmp_path):
  """--config.batch_sizee=3 -> exit 1, one line naming the field and the closest real one, no traceback."""
  command = [sys.executable, os.path.join(ROOT, "experiments", "train_offline.py"),
             f"--config={os.path.join(ROOT, 'experiments', 'configs', 'quickstart.py')}",
             f"--workdir={tmp_path / 'run'}", "--config.batch_sizee=3"]
  result = subprocess.run(command, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1, result.stderr[-2000:]
  assert "Traceback" not in result.stderr, result.stderr[-2000:]
  assert "batch_sizee" in result.stderr and "did you mean batch_size" in result.stderr, result.stderr[-2000:]
  assert not (tmp_path / "run").exists()


def test_dataset_that_does_not_fit_the_evaluation_env_is_refused_before_training(tmp_path):
  """Hopper-shaped dataset, env.name=pointmass -> ValueError naming both shapes, no checkpoint written."""
  dataset = hopper_dataset(tmp_path)
  config = small_config()
  config.dataset.kind = "rlds"
  config.dataset.path = str(dataset)
  config.env.name = "pointmass"
  with pytest.raises(ValueError, match="does not fit config.env.name='pointmass'"):
    runs.run_offline(config, str(tmp_path / "run"), progress=False)
  assert not (tmp_path / "run" / "checkpoints").exists()


def test_refused_resume_leaves_provenance_untouched(tmp_path, monkeypatch):
  """Rerun a workdir with a changed config -> refused, and provenance.json still holds the original config."""
  monkeypatch.setattr(runs, "load_offline_dataset", lambda *a, **k: (random_dataset(), SPEC, {"source": "random"}))
  config = fast_config()
  runs.run_offline(config, str(tmp_path), progress=False)
  before = (tmp_path / "provenance.json").read_text()
  config.agent.actor_lr = 1e-3
  with pytest.raises(checkpoints.CheckpointError, match="agent.actor_lr"):
    runs.run_offline(config, str(tmp_path), progress=False)
  assert (tmp_path / "provenance.json").read_text() == before, "the rejected config overwrote provenance.json"


# -------------------------------------------------------------------------------------- overwrite
def test_overwrite_refuses_a_directory_that_is_not_a_dataset(tmp_path):
  """--overwrite onto a directory of someone's files -> refused, every file still there."""
  target = tmp_path / "notes"
  target.mkdir()
  (target / "thesis.tex").write_text("years of work")
  source = write_hdf5(tmp_path / "hopper.hdf5", d4rl_arrays(ENDS))
  with pytest.raises(DataError, match="not a jaxinsert dataset"):
    convert("d4rl_hdf5", source, target, spec=HOPPER, overwrite=True)
  assert (target / "thesis.tex").read_text() == "years of work"


def test_overwrite_refuses_the_input_itself(tmp_path):
  """Convert a Minari directory onto itself (or into a folder inside it) with --overwrite -> refused, source intact."""
  source = write_minari(tmp_path / "minari", [minari_episode(5, np.random.default_rng(0), terminated=True)])
  files = sorted(p.relative_to(source) for p in source.rglob("*"))
  with pytest.raises(DataError, match="is the input"):
    convert("minari", source, source, overwrite=True)
  with pytest.raises(DataError, match="inside the input"):
    convert("minari", source, source / "converted", overwrite=True)
  assert sorted(p.relative_to(source) for p in source.rglob("*")) == files


def test_overwrite_replaces_a_dataset_and_says_what_it_replaced(tmp_path, capsys):
  """--overwrite onto a dataset of ours -> replaced, and stderr names what was there."""
  out = hopper_dataset(tmp_path)
  source = write_hdf5(tmp_path / "other.hdf5", d4rl_arrays(ENDS[:2]))
  convert("d4rl_hdf5", source, out, spec=HOPPER, overwrite=True)
  message = capsys.readouterr().err
  assert f"replaced {out}" in message and "3 episodes" in message, message
  assert rlds.load_index(out)["num_episodes"] == 2


# ---------------------------------------------------------------------------------- dataset index
@pytest.mark.parametrize("change", [-1, +1])
def test_edited_episode_length_in_the_index_is_refused(tmp_path, change):
  """num_steps of one episode lowered or raised in the index -> DataError on opening, not fewer transitions."""
  from jaxinsert.data import transitions

  out = hopper_dataset(tmp_path)
  index_path = out / rlds.INDEX_FILE
  index = json.loads(index_path.read_text())
  index["num_steps"][1] += change
  index_path.write_text(json.dumps(index))
  with pytest.raises(DataError, match="digest"):
    transitions.load_transitions(str(out))
  del index["index_sha256"]  # an edit that also drops the digest is caught by the records
  index_path.write_text(json.dumps(index))
  with pytest.raises(DataError, match="index says"):
    transitions.load_transitions(str(out))


def test_damaged_shard_content_is_caught_by_its_digest(tmp_path):
  """Index and shard both consistent but a record's bytes changed -> DataError naming the shard."""
  out = hopper_dataset(tmp_path)
  (shard,) = rlds.shard_paths(out)
  episodes = list(rlds.read_episodes(out))
  episodes[0]["steps"]["reward"][0] += 1.0  # same shape, other bytes: rewrite the shard with it
  from array_record.python import array_record_module
  from jaxinsert.data.rlds_codec import EpisodeCodec

  codec = EpisodeCodec(rlds.load_spec_of(out))
  writer = array_record_module.ArrayRecordWriter(str(shard), "group_size:1")
  for episode in episodes:
    writer.write(codec.serialize(episode, None))
  writer.close()
  with pytest.raises(DataError, match="digest") as error:
    list(rlds.read_episodes(out))
  assert error.value.file == str(shard)


# (a missing dataset_info.json was already refused before issue 14; its three siblings were not)
@pytest.mark.parametrize("name,damage", [("features.json", "missing"), ("features.json", "garbage"),
                                         ("dataset_info.json", "garbage")])
def test_missing_or_damaged_tfds_metadata_is_an_error(tmp_path, name, damage):
  """features.json deleted, or it or dataset_info.json not JSON -> DataError naming the file."""
  out = hopper_dataset(tmp_path)
  if damage == "missing":
    (out / name).unlink()
  else:
    (out / name).write_text("{not json")
  with pytest.raises(DataError) as error:
    rlds.load_index(out)
  assert error.value.file == str(out / name)


def test_garbage_provenance_names_the_file(tmp_path):
  """A dataset's provenance.json overwritten with garbage -> DataError naming provenance.json."""
  out = hopper_dataset(tmp_path)
  (out / rlds.PROVENANCE_FILE).write_text("\x00garbage")
  with pytest.raises(DataError) as error:
    rlds.load_provenance(out)
  assert error.value.file == str(out / rlds.PROVENANCE_FILE)


# ------------------------------------------------------------------------------------- converters
@pytest.mark.parametrize("format_name", ["d4rl_hdf5", "npz", "minari", "robomimic"])
def test_zero_length_input_is_one_line_error(tmp_path, format_name):
  """An input holding zero steps -> DataError naming the file, nothing written."""
  rng = np.random.default_rng(0)
  empty = {key: value[:0] for key, value in d4rl_arrays(ENDS).items()}
  if format_name == "d4rl_hdf5":
    source = write_hdf5(tmp_path / "empty.hdf5", empty)
  elif format_name == "npz":
    source = tmp_path / "empty.npz"
    np.savez(source, **empty)
  elif format_name == "minari":
    source = write_minari(tmp_path / "minari", [minari_episode(0, rng, terminated=False)])
  else:
    source = write_robomimic(tmp_path / "empty_demo.hdf5", [robomimic_demo(0, rng, image=False)])
  with pytest.raises(DataError, match="zero rows") as error:
    convert(format_name, source, tmp_path / "out", spec=HOPPER if format_name == "d4rl_hdf5" else None)
  assert error.value.file is not None and str(source.name) in error.value.file
  assert not (tmp_path / "out").exists()


def test_staging_directory_of_a_killed_conversion_is_removed_by_the_next(tmp_path, capsys):
  """Hidden staging and half-deleted backup dirs of a dead writer -> removed by the next conversion."""
  dead = 2 ** 22 + 12345  # above the default pid_max: no such process
  import socket
  stale_tmp = tmp_path / f".ds.tmp-{dead}@{socket.gethostname()}-abc"
  stale_old = tmp_path / f".ds.old-{dead}@{socket.gethostname()}-def"
  legacy = tmp_path / ".ds.tmp-xyz123"
  for directory in (stale_tmp, stale_old / "dataset", legacy):
    directory.mkdir(parents=True)
    (directory / "shard.partial").write_bytes(b"x" * 1000)
  os.utime(legacy, (0, 0))  # an old writer's staging directory, untouched for decades
  hopper_dataset(tmp_path)
  assert not stale_tmp.exists() and not stale_old.exists() and not legacy.exists()
  assert "interrupted" in capsys.readouterr().err
  assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_backup_orphaned_mid_swap_is_moved_back(tmp_path):
  """Killed between the two renames of an overwrite (output gone, backup whole) -> backup restored."""
  import socket
  out = hopper_dataset(tmp_path)
  orphan = tmp_path / f".ds.old-{2 ** 22 + 1}@{socket.gethostname()}-x"
  orphan.mkdir()
  os.rename(out, orphan / "dataset")
  source = write_hdf5(tmp_path / "other.hdf5", d4rl_arrays(ENDS[:2]))
  with pytest.raises(DataError, match="already exists"):
    convert("d4rl_hdf5", source, out, spec=HOPPER)  # the old dataset is back, so no silent replace
  assert rlds.load_index(out)["num_episodes"] == 3 and not orphan.exists()


def test_output_under_a_regular_file_is_one_line_error(tmp_path):
  """--output_dir=a_file/ds -> DataError naming the parent, no traceback."""
  (tmp_path / "a_file").write_text("")
  source = write_hdf5(tmp_path / "hopper.hdf5", d4rl_arrays(ENDS))
  with pytest.raises(DataError, match="parent directory"):
    convert("d4rl_hdf5", source, tmp_path / "a_file" / "ds", spec=HOPPER)


@pytest.mark.parametrize("code,where", [("EROFS", "mkdtemp"), ("ENOSPC", "write")])
def test_read_only_parent_and_full_disk_are_one_line_errors_and_keep_the_old_dataset(
    tmp_path, monkeypatch, code, where):
  """Read-only parent or disk full during an overwrite -> DataError, old dataset intact, no staging left."""
  import errno
  import tempfile

  out = hopper_dataset(tmp_path)
  error = OSError(getattr(errno, code), os.strerror(getattr(errno, code)))
  if where == "mkdtemp":
    monkeypatch.setattr(tempfile, "mkdtemp", lambda *a, **k: (_ for _ in ()).throw(error))
  else:
    monkeypatch.setattr(rlds, "_write_metadata", lambda *a, **k: (_ for _ in ()).throw(error))
  source = write_hdf5(tmp_path / "other.hdf5", d4rl_arrays(ENDS[:2]))
  with pytest.raises(DataError, match=os.strerror(getattr(errno, code))):
    convert("d4rl_hdf5", source, out, spec=HOPPER, overwrite=True)
  monkeypatch.undo()
  assert rlds.load_index(out)["num_episodes"] == 3
  assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("option,value", [("rate_hz", 0.0), ("rate_hz", -10.0), ("episode_gap_s", -1.0),
                                          ("episode_gap_s", 0.0)])
def test_rosbag_clock_options_out_of_range_are_refused(tmp_path, option, value):
  """--rate_hz=0 / --episode_gap_s=-1 ... -> DataError naming the option and allowed values."""
  bag = write_sawyer_bag(tmp_path / "run.bag", episodes=1)
  with pytest.raises(DataError, match=f"{option}={value}: allowed values are numbers > 0"):
    convert("rosbag", bag, tmp_path / "out", spec="sawyer-log", options=ConvertOptions(**{option: value}))


def test_rosbag_duplicate_stamps_are_refused_unless_allowed(tmp_path):
  """Two joint-state messages with one stamp -> DataError naming topic and message; with the flag, kept and counted."""
  bag = write_sawyer_bag(tmp_path / "run.bag", episodes=1, duplicate_stamp_at=30)
  with pytest.raises(DataError, match="same stamp") as error:
    convert("rosbag", bag, tmp_path / "out", spec="sawyer-log")
  assert error.value.field == "/robot/joint_states"
  out = convert("rosbag", bag, tmp_path / "out", spec="sawyer-log",
                options=ConvertOptions(allow_duplicate_stamps=True))
  report = rlds.load_provenance(out)["input_report"]
  assert list(report["duplicate_stamps_replaced"].values()) == [{"/robot/joint_states": 1}]


def test_rosbag_negative_timestamps_are_refused(tmp_path):
  """Header stamps before 1970 -> DataError naming the topic."""
  bag = write_sawyer_bag(tmp_path / "run", episodes=1, kind="mcap", joint_stamp_offset_ns=-2 * 1_700_000_000 * 10 ** 9)
  with pytest.raises(DataError, match="negative timestamp") as error:
    convert("rosbag", bag, tmp_path / "out", spec="sawyer-log")
  assert error.value.field == "/robot/joint_states"


def test_actions_outside_the_spec_bounds_warn_or_are_refused_with_strict(tmp_path, capsys):
  """An action of 3.0 where the spec says [-1, 1] -> one warning line and a provenance entry; --strict refuses."""
  data = d4rl_arrays(ENDS)
  data["actions"][7, 2] = 3.0
  source = write_hdf5(tmp_path / "hopper.hdf5", data)
  out = convert("d4rl_hdf5", source, tmp_path / "out", spec=HOPPER)
  message = capsys.readouterr().err
  assert "outside the spec's bounds" in message and "episode 1, step 1" in message, message
  assert rlds.load_provenance(out)["input_report"]["warnings"]
  with pytest.raises(DataError, match="strict"):
    convert("d4rl_hdf5", source, tmp_path / "strict", spec=HOPPER, options=ConvertOptions(strict=True))
  assert not (tmp_path / "strict").exists()


def test_nan_in_an_unused_next_observation_row_warns_or_is_refused_with_strict(tmp_path, capsys):
  """NaN in next_observations[2] (not an episode's last row) -> warning naming row 2; --strict refuses."""
  data = d4rl_arrays(ENDS)
  data["next_observations"][2, 0] = np.nan
  source = write_hdf5(tmp_path / "hopper.hdf5", data)
  convert("d4rl_hdf5", source, tmp_path / "out", spec=HOPPER)
  message = capsys.readouterr().err
  assert "next_observations" in message and "row 2" in message, message
  with pytest.raises(DataError, match="strict"):
    convert("d4rl_hdf5", source, tmp_path / "strict", spec=HOPPER, options=ConvertOptions(strict=True))


# ------------------------------------------------------------------------------------ run records
def test_metrics_have_no_duplicate_steps_after_a_resume(tmp_path):
  """Killed after logging steps past its last checkpoint, then resumed -> each step once in metrics.jsonl."""
  config = fast_config()
  train(config, tmp_path)
  shutil.rmtree(tmp_path / "checkpoints" / "40")  # as if killed after logging 30 and 40, before saving 40
  train(config, tmp_path)
  steps = [record["step"] for record in run_logging.read_metrics(str(tmp_path / "metrics.jsonl"))]
  assert steps == [10, 20, 30, 40], steps


def test_torn_last_metrics_line_is_dropped_not_joined(tmp_path):
  """metrics.jsonl ending in half a line (kill mid-write) -> next logger drops it, every line parses."""
  (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 10, "train/loss": 1.0}) + "\n{\"step\": 20, \"tr")
  logger = run_logging.MetricsLogger(str(tmp_path), tensorboard=False)
  logger.write(20, {"loss": 0.5}, prefix="train/")
  logger.close()
  assert [r["step"] for r in run_logging.read_metrics(str(tmp_path / "metrics.jsonl"))] == [10, 20]


@pytest.mark.timeout(30)
def test_an_atomic_json_write_creates_its_folder_and_leaves_no_temporary(tmp_path):
  # The ODA finetune stage writes its partial record before any run made the folder.
  path = tmp_path / "finetune" / "partial.json"
  run_logging.write_json_atomically(str(path), {"rect-14x6": {"skipped": True}})
  assert json.loads(path.read_text()) == {"rect-14x6": {"skipped": True}}
  assert sorted(p.name for p in path.parent.iterdir()) == ["partial.json"]


def test_probe_variants_parse_set_fields_and_refuse_unknown_ones():
  import ml_collections

  variants = run_config.parse_variants("a:;b:agent.beta=0.0, rl.name=erm ;")
  assert variants == [("a", {}), ("b", {"agent.beta": "0.0", "rl.name": "erm"})]
  base = ml_collections.ConfigDict({"agent": {"beta": 3.0}, "rl": {"name": "daib", "dims": (8,)}})
  with pytest.raises(ValueError, match="is not field=value"):
    run_config.parse_variants("c:agent.beta")
  with pytest.raises(ValueError, match="'32\\)' is not field=value"):    # commas split fields
    run_config.parse_variants("d:rl.dims=(32, 32)")
  with pytest.raises(ValueError, match="empty"):
    run_config.parse_variants(" ; ")
  config = run_config.with_fields(base, {"agent.beta": "0.5", "rl.name": "erm"})
  assert config.agent.beta == 0.5 and config.rl.name == "erm" and base.agent.beta == 3.0
  with pytest.raises(KeyError, match="has no field 'betta'"):
    run_config.with_fields(base, {"agent.betta": "1.0"})
  with pytest.raises(KeyError, match="has no field 'nope'"):
    run_config.with_fields(base, {"nope.beta": "1.0"})
  with pytest.raises(TypeError):
    run_config.with_fields(base, {"agent.beta": "'a string'"})


def test_processes_appending_to_one_record_file_keep_every_record(tmp_path):
  # Probes that run on both cores append to one JSON record file: read-modify-write without the
  # lock loses records (it did, 2026-12-07); with it, every record of every process is there.
  path = str(tmp_path / "records.json")
  script = ("import sys; from jaxinsert.training.logging import append_json_record\n"
            "for i in range(25): append_json_record(sys.argv[1], {'writer': int(sys.argv[2]), 'i': i})")
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
  writers = [subprocess.Popen([sys.executable, "-c", script, path, str(w)], env=env)
             for w in range(4)]
  assert all(w.wait(timeout=120) == 0 for w in writers)
  with open(path) as handle:
    records = json.load(handle)
  assert sorted((r["writer"], r["i"]) for r in records) == [(w, i) for w in range(4) for i in range(25)]
  assert not os.path.exists(path + ".tmp")
