"""D4RL's data protocol reproduced here: the HDF5 layout it writes, and that regeneration is exact.

Fast (CI): short rollouts in gymnasium MuJoCo with untrained SAC actors, so nothing here needs
the committed policies or minutes of compute.
"""

import json

import jax
import numpy as np
import pytest

from jaxinsert.benchmarks.d4rl import policy_io, protocol
from jaxinsert.data import d4rl_layout
from jaxinsert.data.converters import ConvertOptions, d4rl_hdf5
from jaxinsert.networks.policies import TanhGaussianPolicy


def _untrained_policy_dir(tmp_path, env_id="Hopper-v5", obs_dim=11, action_dim=3):
  """A policies/<env>/ tree like the committed one, with small untrained SAC actors."""
  module = TanhGaussianPolicy((32, 32), action_dim)
  init = jax.jit(module.init)
  directory = tmp_path / "policies"
  names = ("random", "medium", "expert", "replay_step_00000100")
  for seed, name in enumerate(names):
    params = init(jax.random.PRNGKey(seed), np.zeros((1, obs_dim), np.float32))["params"]
    policy_io.save_policy(directory / env_id.lower() / f"{name}.npz", params,
                          {"env_id": env_id, "env_steps": 100 * seed, "action_dim": action_dim,
                           "obs_dim": obs_dim, "hidden_dims": [32, 32],
                           "log_std_min": module.log_std_min, "log_std_max": module.log_std_max})
  manifest = {name: {"file": name, "env_steps": 0} for name in ("random", "medium", "expert")}
  manifest["replay_segments"] = [{"file": "uniform", "env_steps": 100},
                                 {"file": "replay_step_00000100", "env_steps": 100}]
  protocol.manifest_path(env_id, directory).write_text(json.dumps(manifest))
  return directory


def test_halfcheetah_rollout_times_out_every_1000_steps_and_at_the_budget(tmp_path):
  data = protocol.rollout("HalfCheetah-v5", None, 2500, seed=0, num_envs=1)
  path = protocol.write_hdf5(tmp_path / "halfcheetah-random-v2.hdf5", data, {"kind": "random"})
  stored = d4rl_hdf5.read_layout(path, ConvertOptions())
  for key in protocol.KEYS:
    assert key in stored, f"D4RL key {key} missing from the written file"
    np.testing.assert_array_equal(np.asarray(stored[key]).reshape(data[key].shape), data[key],
                                  err_msg=f"{key} changed in the HDF5 round trip")
  assert stored["observations"].dtype == np.float32 and stored["actions"].shape == (2500, 6)
  # HalfCheetah never terminates: episodes end by the 1000-step limit, the last by the budget.
  assert np.flatnonzero(stored["timeouts"]).tolist() == [999, 1999, 2499]
  assert not stored["terminals"].any()
  # Within an episode the next observation is the following row's observation.
  inside = ~stored["timeouts"][:-1]
  np.testing.assert_array_equal(stored["next_observations"][:-1][inside], stored["observations"][1:][inside])
  assert d4rl_layout.discontinuities(stored).sum() == 2, "only the two resets jump"
  assert json.loads(stored["metadata/kind"]) == "random"


def test_hopper_rollout_marks_falls_as_terminals_not_timeouts():
  data = protocol.rollout("Hopper-v5", None, 300, seed=1, num_envs=3)
  terminals, timeouts = data["terminals"], data["timeouts"]
  assert terminals.any(), "a random hopper falls within a few dozen steps"
  assert not (terminals & timeouts).any(), "a row is a terminal or a timeout, never both"
  # Three environments fill 100 rows each; each share ends cut by the budget (or by a fall).
  for last in (99, 199, 299):
    assert terminals[last] or timeouts[last]
  starts = np.concatenate([[0], np.flatnonzero(terminals | timeouts)[:-1] + 1])
  assert np.all(np.diff(np.concatenate([starts, [300]])) <= protocol.MAX_EPISODE_STEPS)
  returns = protocol.episode_returns(data)
  assert returns.size == int((terminals | timeouts).sum())
  np.testing.assert_allclose(returns.sum(), data["rewards"].sum(dtype=np.float64), rtol=1e-9)


def test_converted_episodes_match_the_file(tmp_path):
  data = protocol.rollout("Hopper-v5", None, 200, seed=2, num_envs=1)
  path = protocol.write_hdf5(tmp_path / "hopper-random-v2.hdf5", data, {})
  episodes = list(d4rl_hdf5.read_episodes(path, "d4rl-locomotion:hopper"))
  assert len(episodes) == int((data["terminals"] | data["timeouts"]).sum())
  # next_observations are stored, so every episode gets its final observation as an extra step.
  assert sum(len(e["steps"]["reward"]) for e in episodes) == 200 + len(episodes)
  last = episodes[0]["steps"]
  assert bool(last["is_terminal"][-1]) == bool(data["terminals"][len(last["reward"]) - 2])


def test_regeneration_is_deterministic(tmp_path):
  policy_dir = _untrained_policy_dir(tmp_path)
  runs = [protocol.generate("Hopper-v5", "medium-expert", 150, seed=seed, policy_dir=policy_dir,
                            num_envs=2) for seed in (3, 3, 4)]
  (first, meta), (second, _), (other, _) = runs
  for key in protocol.KEYS:
    np.testing.assert_array_equal(first[key], second[key], err_msg=f"{key} differs on regeneration")
  a = protocol.write_hdf5(tmp_path / "a.hdf5", first, meta)
  b = protocol.write_hdf5(tmp_path / "b.hdf5", second, meta)
  assert a.read_bytes() == b.read_bytes(), "same arrays, different HDF5 bytes"
  assert not np.array_equal(other["observations"], first["observations"]), "the seed must matter"
  # D4RL's medium-expert is the medium dataset followed by the expert one.
  assert len(first["rewards"]) == 300
  assert [source["file"] for source in meta["policies"]] == ["medium", "expert"]


def test_medium_replay_follows_the_snapshot_sequence(tmp_path):
  policy_dir = _untrained_policy_dir(tmp_path)
  data, meta = protocol.generate("Hopper-v5", "medium-replay", 10_000, seed=0, policy_dir=policy_dir,
                                 num_envs=2)
  # Capped at the SAC steps up to the medium policy (two segments of 100), uniform actions first.
  assert len(data["rewards"]) == 200
  assert [segment["file"] for segment in meta["policies"]] == ["uniform", "replay_step_00000100"]
  np.testing.assert_allclose(data["infos/action_log_probs"][:100], -3 * np.log(2.0), rtol=1e-6)


def test_committed_policies_are_small_and_loadable():
  files = sorted(policy_io.POLICY_DIR.glob("*/*.npz"))
  if not files:
    pytest.skip("no committed policies yet")
  for path in files:
    assert path.stat().st_size < 400_000, f"{path} is {path.stat().st_size} bytes"
    policy = policy_io.load_policy(path)
    obs = np.zeros((2, policy.meta["obs_dim"]), np.float32)
    action = policy_io.make_act(policy)(obs, jax.random.PRNGKey(0), True)
    assert action.shape == (2, policy.meta["action_dim"]) and np.all(np.abs(action) <= 1)


def test_select_policies_replays_uniform_warmup_then_every_replay_every_snapshot(tmp_path):
  """Snapshots every 5k, warm-up 10k: medium-replay is uniform for 10k, then one policy per 10k."""
  module = TanhGaussianPolicy((16, 16), 3)
  params = jax.jit(module.init)(jax.random.PRNGKey(0), np.zeros((1, 11), np.float32))["params"]
  run = tmp_path / "run"
  returns = {0: 10.0, 5000: 12.0, 10000: 300.0, 15000: 700.0, 20000: 1000.0, 25000: 1300.0,
             30000: 1500.0, 35000: 2500.0}
  run.mkdir()
  with open(run / "log.jsonl", "w") as log:
    for step, value in returns.items():
      policy_io.save_policy(run / "snapshots" / f"step_{step:08d}.npz", params,
                            {"env_id": "Hopper-v5", "env_steps": step, "action_dim": 3, "obs_dim": 11,
                             "hidden_dims": [16, 16], "log_std_min": -5.0, "log_std_max": 2.0})
      log.write(json.dumps({"env_steps": step, "eval_return_mean": value}) + "\n")
  (run / "config.json").write_text(json.dumps({"start_steps": 10000, "snapshot_every": 5000}))
  manifest = protocol.select_policies("Hopper-v5", run, eval_episodes=1, policy_dir=tmp_path / "policies")
  assert manifest["medium"]["env_steps"] == 30000, "1500 is the closest return to hopper's ~1421"
  assert manifest["expert"]["env_steps"] == 35000 and manifest["random"]["env_steps"] == 0
  segments = [(segment["file"], segment["sac_steps"]) for segment in manifest["replay_segments"]]
  assert segments == [("uniform", [0, 10000]), ("replay_step_00010000", [10000, 20000]),
                      ("replay_step_00020000", [20000, 30000])]
  assert sum(segment["env_steps"] for segment in manifest["replay_segments"]) == 30000


def test_rescore_picks_medium_and_expert_again_and_cuts_the_replay(tmp_path, monkeypatch):
  """Logged returns said medium = 30k, expert = 35k; measured again, 20k is closest to hopper's
  medium return and also the best, so both become the 20k snapshot and medium-replay ends there."""
  from jaxinsert.benchmarks.d4rl import sac_training

  test_select_policies_replays_uniform_warmup_then_every_replay_every_snapshot(tmp_path)
  policy_dir = tmp_path / "policies"
  measured = {10000: 400.0, 20000: 1400.0, 30000: 900.0, 35000: 1200.0}
  monkeypatch.setattr(sac_training, "evaluate_stored", lambda env_id, policy, episodes, seed: np.full(
      episodes, measured[policy.meta["env_steps"]]))
  manifest = protocol.rescore_committed("Hopper-v5", episodes=4, policy_dir=policy_dir)
  directory = protocol.manifest_path("Hopper-v5", policy_dir).parent
  for kind in ("medium", "expert"):
    assert manifest[kind]["env_steps"] == 20000 and manifest[kind]["return_mean"] == 1400.0
    assert policy_io.load_policy(directory / f"{kind}.npz").meta["env_steps"] == 20000
  assert [s["env_steps"] for s in manifest["rescored"]["snapshots"]] == [10000, 20000, 30000, 35000]
  segments = [(segment["file"], segment["sac_steps"]) for segment in manifest["replay_segments"]]
  assert segments == [("uniform", [0, 10000]), ("replay_step_00010000", [10000, 20000])]
  assert not (directory / "replay_step_00020000.npz").exists()
  assert protocol.load_manifest("Hopper-v5", policy_dir) == manifest


def test_select_expert_replaces_only_the_expert_and_refuses_a_worse_one(tmp_path, monkeypatch):
  """A longer run's best snapshot becomes the expert; medium, medium-replay and the datasets made
  from them keep their sources; a snapshot that does not beat medium is refused, nothing changed."""
  from jaxinsert.benchmarks.d4rl import sac_training

  test_select_policies_replays_uniform_warmup_then_every_replay_every_snapshot(tmp_path)
  policy_dir = tmp_path / "policies"
  before = protocol.load_manifest("Hopper-v5", policy_dir)
  longer = tmp_path / "longer"
  module = TanhGaussianPolicy((16, 16), 3)
  params = jax.jit(module.init)(jax.random.PRNGKey(1), np.zeros((1, 11), np.float32))["params"]
  longer.mkdir()
  with open(longer / "log.jsonl", "w") as log:
    for step, value in {0: 5.0, 50000: 2000.0, 60000: 3100.0, 70000: 2900.0}.items():
      policy_io.save_policy(longer / "snapshots" / f"step_{step:08d}.npz", params,
                            {"env_id": "Hopper-v5", "env_steps": step, "action_dim": 3, "obs_dim": 11,
                             "hidden_dims": [16, 16], "log_std_min": -5.0, "log_std_max": 2.0})
      log.write(json.dumps({"env_steps": step, "eval_return_mean": value}) + "\n")
  measured = {"value": before["medium"]["return_mean"] - 1.0}
  monkeypatch.setattr(sac_training, "evaluate_stored",
                      lambda env_id, policy, episodes, seed: np.full(episodes, measured["value"]))
  with pytest.raises(ValueError, match="does not beat the committed medium"):
    protocol.select_expert("Hopper-v5", longer, eval_episodes=3, policy_dir=policy_dir)
  assert protocol.load_manifest("Hopper-v5", policy_dir) == before
  measured["value"] = 3000.0
  manifest = protocol.select_expert("Hopper-v5", longer, eval_episodes=3, policy_dir=policy_dir)
  directory = protocol.manifest_path("Hopper-v5", policy_dir).parent
  assert manifest["expert"]["env_steps"] == 60000 and manifest["expert"]["return_mean"] == 3000.0
  assert policy_io.load_policy(directory / "expert.npz").meta["env_steps"] == 60000
  assert "provisional" in manifest["expert_rule"] and not list(directory.glob("*.tmp"))
  for kind in ("random", "medium", "medium-replay"):
    assert protocol.dataset_sources(manifest, kind) == protocol.dataset_sources(before, kind)
  assert protocol.dataset_sources(manifest, "medium-expert") != protocol.dataset_sources(before, "medium-expert")
  assert protocol.load_manifest("Hopper-v5", policy_dir) == manifest


def test_expert_data_is_refused_while_the_expert_policy_is_the_medium_one(tmp_path):
  import shutil

  policy_dir = _untrained_policy_dir(tmp_path)
  assert not protocol.expert_is_the_medium_policy("Hopper-v5", policy_dir)
  directory = protocol.manifest_path("Hopper-v5", policy_dir).parent
  shutil.copyfile(directory / "medium.npz", directory / "expert.npz")
  assert protocol.expert_is_the_medium_policy("Hopper-v5", policy_dir)
  for kind in ("expert", "medium-expert"):
    with pytest.raises(ValueError, match="mislabelled"):
      protocol.generate("Hopper-v5", kind, 50, policy_dir=policy_dir, num_envs=1)
  assert len(protocol.generate("Hopper-v5", "medium", 50, policy_dir=policy_dir, num_envs=1)[0]["rewards"]) == 50
