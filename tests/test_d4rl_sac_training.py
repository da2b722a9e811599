"""The SAC loop that trains D4RL's behaviour policies: resume from its checkpoint, stop early.

Tiny networks and a few hundred Hopper steps, so the whole file runs in well under a minute.
"""

import json

import jax
import numpy as np
import pytest

from jaxinsert.agents import sac
from jaxinsert.benchmarks.d4rl import policy_io, sac_training
from jaxinsert.data import replay
from jaxinsert.training import checkpoints
from jaxinsert.types import Spec

HOPPER = Spec(obs_shape=(11,), action_dim=3)


def _tiny_config(env_steps):
  config = sac_training.default_config()
  config.agent.hidden_dims = (16, 16)
  config.env_steps = env_steps
  config.start_steps = 100
  config.train_every = 50
  config.batch_size = 32
  config.replay_capacity = 1_000
  config.snapshot_every = 100
  config.eval_episodes = 2
  return config


def _log(workdir):
  return [json.loads(line) for line in (workdir / "log.jsonl").read_text().splitlines()]


def _restore(workdir, config):
  """What a resumed run of `config` would start from."""
  template = sac.create(config.agent, jax.random.PRNGKey(123), HOPPER)
  return sac_training.restore_checkpoint(
      sac_training.make_checkpointer(workdir, "Hopper-v5", config), template,
      replay.init(HOPPER, config.replay_capacity), jax.random.PRNGKey(0))


def test_a_stopped_run_resumes_from_its_checkpoint(tmp_path):
  sac_training.train_sac("Hopper-v5", tmp_path, _tiny_config(200), progress=False)
  _, buffer, _, step, _, _ = _restore(tmp_path, _tiny_config(200))
  assert step == 200 and int(buffer.size) == 200, "every env step is in the buffer"
  params_at_200 = policy_io.load_policy(tmp_path / "snapshots" / "step_00000200.npz").params

  sac_training.train_sac("Hopper-v5", tmp_path, _tiny_config(300), progress=False)
  assert [line["env_steps"] for line in _log(tmp_path)] == [0, 100, 200, 300], \
      "the resumed run must continue the log without repeating the checkpoint's snapshot"
  _, buffer, _, step, _, _ = _restore(tmp_path, _tiny_config(300))
  assert step == 300 and int(buffer.size) == 300
  # The snapshot at 200 is left as it was; the resumed run trained from those parameters on.
  again = policy_io.load_policy(tmp_path / "snapshots" / "step_00000200.npz").params
  assert all(jax.tree_util.tree_leaves(jax.tree_util.tree_map(np.array_equal, params_at_200, again)))
  assert _log(tmp_path)[-1]["wall_clock_seconds"] > _log(tmp_path)[2]["wall_clock_seconds"]


def test_checkpoint_round_trip_restores_agent_and_buffer(tmp_path):
  config = _tiny_config(150)
  sac_training.train_sac("Hopper-v5", tmp_path, config, progress=False)
  agent, buffer, key, step, elapsed, returns = _restore(tmp_path, config)
  assert step == 100 and int(buffer.size) == 100 and int(buffer.position) == 100
  assert elapsed > 0 and all(np.isfinite(returns))
  assert np.all(np.asarray(buffer.data.obs[100:]) == 0), "rows past the stored size stay empty"
  assert np.any(np.asarray(buffer.data.obs[:100]) != 0)
  saved = policy_io.load_policy(tmp_path / "snapshots" / "step_00000100.npz").params
  np.testing.assert_allclose(
      np.asarray(jax.tree_util.tree_leaves(agent.actor.params)[0]),
      np.asarray(jax.tree_util.tree_leaves(saved)[0]), atol=1e-2,
      err_msg="restored actor differs from the snapshot taken at the same step")
  assert key.shape == (2,)


def test_stop_return_ends_the_run_at_the_first_snapshot_reaching_it(tmp_path):
  config = _tiny_config(1_000)
  config.stop_return = -1e9  # any return reaches it: the run stops at its first snapshot
  line = sac_training.train_sac("Hopper-v5", tmp_path, config, progress=False)
  assert line["env_steps"] == 0 and [entry["env_steps"] for entry in _log(tmp_path)] == [0]


def test_a_changed_setting_is_refused_and_a_legacy_checkpoint_is_named(tmp_path):
  sac_training.train_sac("Hopper-v5", tmp_path, _tiny_config(100), progress=False)
  changed = _tiny_config(200)
  changed.batch_size = 64
  with pytest.raises(checkpoints.CheckpointError, match="batch_size: 32 -> 64"):
    sac_training.train_sac("Hopper-v5", tmp_path, changed, progress=False)
  legacy = tmp_path / "legacy"
  legacy.mkdir()
  (legacy / sac_training.LEGACY_CHECKPOINT).write_bytes(b"old")
  with pytest.raises(ValueError, match="single-file format"):
    sac_training.train_sac("Hopper-v5", legacy, _tiny_config(100), progress=False)
  assert (legacy / sac_training.LEGACY_CHECKPOINT).read_bytes() == b"old"
