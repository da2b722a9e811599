"""The SAC loop that trains D4RL's behaviour policies: resume from its checkpoint, stop early.

Tiny networks and a few hundred Hopper steps, so the whole file runs in well under a minute.
"""

import json

import jax
import numpy as np

from jaxinsert.benchmarks.d4rl import policy_io, sac_training


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


def test_a_stopped_run_resumes_from_its_checkpoint(tmp_path):
  sac_training.train_sac("Hopper-v5", tmp_path, _tiny_config(200), progress=False)
  stored = np.load(tmp_path / sac_training.CHECKPOINT)
  assert json.loads(str(stored["meta"]))["step"] == 200
  assert json.loads(str(stored["meta"]))["buffer_size"] == 200, "every env step is in the buffer"
  params_at_200 = policy_io.load_policy(tmp_path / "snapshots" / "step_00000200.npz").params

  sac_training.train_sac("Hopper-v5", tmp_path, _tiny_config(300), progress=False)
  assert [line["env_steps"] for line in _log(tmp_path)] == [0, 100, 200, 300], \
      "the resumed run must continue the log without repeating the checkpoint's snapshot"
  meta = json.loads(str(np.load(tmp_path / sac_training.CHECKPOINT)["meta"]))
  assert meta["step"] == 300 and meta["buffer_size"] == 300
  # The snapshot at 200 is left as it was; the resumed run trained from those parameters on.
  again = policy_io.load_policy(tmp_path / "snapshots" / "step_00000200.npz").params
  assert all(jax.tree_util.tree_leaves(jax.tree_util.tree_map(np.array_equal, params_at_200, again)))
  assert _log(tmp_path)[-1]["wall_clock_seconds"] > _log(tmp_path)[2]["wall_clock_seconds"]


def test_checkpoint_round_trip_restores_agent_and_buffer(tmp_path):
  config = _tiny_config(150)
  sac_training.train_sac("Hopper-v5", tmp_path, config, progress=False)
  from jaxinsert.agents import sac
  from jaxinsert.data import replay
  from jaxinsert.types import Spec

  spec = Spec(obs_shape=(11,), action_dim=3)
  template = sac.create(config.agent, jax.random.PRNGKey(123), spec)
  agent, buffer, key, step, _, _ = sac_training.load_checkpoint(
      tmp_path / sac_training.CHECKPOINT, template, replay.init(spec, config.replay_capacity))
  assert step == 100 and int(buffer.size) == 100 and int(buffer.position) == 100
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
