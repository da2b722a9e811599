"""The offline loop: resume equivalence, checkpoint refusals, vmapped seeds, divergence stop."""

import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxinsert.agents import AGENT_NAMES, get_agent
from jaxinsert.training import checkpoints, config as run_config
from jaxinsert.training.offline import (DivergenceError, OfflineTrainer, init_run_state, make_train_chunk,
                                        vmap_seeds)
from jaxinsert.types import Spec, Transition

SPEC = Spec((5,), 2)


def random_dataset(size=512, seed=0, obs_dim=5, action_dim=2):
  keys = jax.random.split(jax.random.PRNGKey(seed), 4)
  obs = jax.random.normal(keys[0], (size, obs_dim))
  return Transition(obs=obs, action=jnp.tanh(jax.random.normal(keys[1], (size, action_dim))),
                    reward=jax.random.normal(keys[2], (size,)),
                    mask=(jax.random.uniform(keys[3], (size,)) > 0.1).astype(jnp.float32),
                    next_obs=jnp.roll(obs, 1, axis=0),
                    task_id=jnp.zeros(size, jnp.int32), domain_id=jnp.zeros(size, jnp.int32))


def small_config(agent_name="iql", max_steps=40, **overrides):
  config = run_config.offline_run_config(agent_name)
  for field in ("hidden_dims", "actor_hidden_dims", "critic_hidden_dims", "value_hidden_dims"):
    if field in config.agent:
      config.agent[field] = (16, 16)
  config.max_steps = max_steps
  config.batch_size = 8
  config.steps_per_call = 10
  config.log_interval = 10
  config.eval_interval = 0
  config.checkpoint_interval = 20
  config.env.name = ""
  for name, value in overrides.items():
    config[name] = value
  return config


def leaves_equal(a, b):
  return all(np.array_equal(np.asarray(x), np.asarray(y))
             for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def train(config, workdir, max_steps=None):
  trainer = OfflineTrainer(config, str(workdir), random_dataset(), SPEC, progress=False)
  try:
    return trainer.train(max_steps=max_steps)
  finally:
    trainer.close()


def test_resumed_run_ends_bit_for_bit_where_uninterrupted_run_ends(tmp_path):
  config = small_config(max_steps=60)
  uninterrupted = train(config, tmp_path / "a")
  train(config, tmp_path / "b", max_steps=20)          # "killed" after the step-20 checkpoint
  resumed = train(config, tmp_path / "b")              # a new process picks it up
  assert int(resumed.step) == 60
  assert leaves_equal(uninterrupted, resumed), "resumed run diverged from the uninterrupted one"
  records = [json.loads(line) for line in open(tmp_path / "b" / "metrics.jsonl")]
  assert [r["step"] for r in records] == [10, 20, 30, 40, 50, 60]


def test_checkpoint_of_another_run_is_refused(tmp_path):
  train(small_config(), tmp_path)
  other = small_config()
  other.agent.expectile = 0.9
  with pytest.raises(checkpoints.CheckpointError, match="different run"):
    OfflineTrainer(other, str(tmp_path), random_dataset(), SPEC, progress=False).initial_state()


def test_damaged_checkpoints_are_refused_not_restarted(tmp_path):
  # A damaged newest checkpoint falls back to an older intact one (tests/test_faults.py); with
  # every checkpoint damaged the run is refused, never restarted from scratch.
  config = small_config()
  train(config, tmp_path)
  damaged = 0
  for root, _, files in os.walk(tmp_path / "checkpoints"):
    for name in files:
      path = os.path.join(root, name)
      if os.path.getsize(path) > 64:
        with open(path, "r+b") as handle:
          handle.truncate(16)
        damaged += 1
  assert damaged, "found no data file to damage"
  with pytest.raises(checkpoints.CheckpointError, match="every checkpoint .* is damaged"):
    OfflineTrainer(config, str(tmp_path), random_dataset(), SPEC, progress=False).initial_state()


def test_directory_with_files_but_no_checkpoint_is_refused(tmp_path):
  (tmp_path / "checkpoints").mkdir()
  (tmp_path / "checkpoints" / "notes.txt").write_text("not a checkpoint")
  with pytest.raises(checkpoints.CheckpointError, match="no complete checkpoint"):
    OfflineTrainer(small_config(), str(tmp_path), random_dataset(), SPEC,
                   progress=False).initial_state()


@pytest.mark.parametrize("agent_name", AGENT_NAMES)
def test_save_load_round_trip(agent_name, tmp_path):
  config = small_config(agent_name)
  agent = get_agent(agent_name)
  state = init_run_state(agent, config.agent, SPEC, seed=3, num_seeds=2)
  saver = checkpoints.Checkpointer(str(tmp_path), {"agent": agent_name})
  saver.save(7, state)
  template = init_run_state(agent, config.agent, SPEC, seed=99, num_seeds=2)
  step, restored = saver.restore_latest(template)
  assert step == 7
  assert leaves_equal(state, restored)
  assert jax.tree_util.tree_structure(state) == jax.tree_util.tree_structure(restored)
  obs = jnp.ones((2, 4, 5))
  actions = jax.vmap(lambda s, o: agent.act(s, o, jax.random.PRNGKey(0), True))(restored.agent, obs)
  expected = jax.vmap(lambda s, o: agent.act(s, o, jax.random.PRNGKey(0), True))(state.agent, obs)
  np.testing.assert_array_equal(actions, expected)


def test_config_rebuilt_from_json_restores_its_checkpoint(tmp_path):
  # A tuple shared by two config fields prints as a YAML anchor in the treedef; a config read
  # back from provenance JSON has two equal tuples instead. The same run must still restore.
  config = small_config("awac")
  shared = (16, 16)
  config.agent.policy_hidden_dims = config.agent.critic_hidden_dims = shared
  agent = get_agent("awac")
  saver = checkpoints.Checkpointer(str(tmp_path), {"agent": "awac"})
  saver.save(3, init_run_state(agent, config.agent, SPEC, seed=0, num_seeds=1))
  rebuilt = ml_collections.ConfigDict(json.loads(json.dumps(config.agent.to_dict(), default=list)))
  assert rebuilt.policy_hidden_dims is not rebuilt.critic_hidden_dims
  step, _ = saver.restore_latest(init_run_state(agent, rebuilt, SPEC, seed=1, num_seeds=1))
  assert step == 3
  wider = ml_collections.ConfigDict(rebuilt.to_dict())
  wider.critic_hidden_dims = (16, 32)
  with pytest.raises(checkpoints.CheckpointError, match="different state structure"):
    saver.restore_latest(init_run_state(agent, wider, SPEC, seed=1, num_seeds=1))


def test_vmapped_seeds_train_independently(tmp_path):
  config = small_config(num_seeds=3, max_steps=20)
  state = train(config, tmp_path)
  first_layer = jax.tree_util.tree_leaves(state.agent)[0]
  assert first_layer.shape[0] == 3
  assert not np.allclose(first_layer[0], first_layer[1]), "seeds share parameters"
  records = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  losses = [v for k, v in records[-1].items() if k.startswith("train/") and isinstance(v, list)]
  assert losses and all(len(v) == 3 for v in losses), "metrics are not reported per seed"


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  config = small_config(max_steps=60)
  train(config, tmp_path, max_steps=20)
  poisoned = random_dataset()
  poisoned = poisoned.replace(reward=poisoned.reward.at[:].set(jnp.nan))
  trainer = OfflineTrainer(config, str(tmp_path), poisoned, SPEC, progress=False)
  with pytest.raises(DivergenceError, match="last good checkpoint is step 20"):
    trainer.train()
  trainer.close()
  assert checkpoints.Checkpointer(str(tmp_path / "checkpoints"), {}).latest_step() == 20


def test_interval_not_multiple_of_chunk_is_rejected(tmp_path):
  with pytest.raises(ValueError, match="multiple of config.steps_per_call"):
    OfflineTrainer(small_config(log_interval=15), str(tmp_path), random_dataset(), SPEC,
                   progress=False)


def test_a_dataset_path_without_a_kind_is_read_as_the_kind_it_shows(tmp_path):
  from jaxinsert.training import runs

  config = run_config.offline_run_config("iql").dataset
  assert runs.dataset_kind(config) == "builtin"
  config.path = str(tmp_path / "hopper-medium.hdf5")
  assert runs.dataset_kind(config) == "d4rl_hdf5"
  config.path = str(tmp_path)                       # a directory: an RLDS dataset
  assert runs.dataset_kind(config) == "rlds"
  config.kind, config.path = "rlds", str(tmp_path / "x.hdf5")
  assert runs.dataset_kind(config) == "rlds", "an explicit kind is never overridden"


@pytest.mark.timeout(300)
def test_env_kwargs_reach_the_evaluation_environment_and_bad_json_is_refused(tmp_path):
  from jaxinsert.training import runs
  from jaxinsert.training.config import ConfigError

  config = small_config(max_steps=10)
  config.dataset.kind, config.dataset.name = "builtin", "pointmass-mixed"
  config.env.name, config.eval_episodes = "pointmass", 2
  config.env.kwargs = '{"max_episode_steps": 3}'
  *_, evaluator = runs._start_run(config, str(tmp_path), eval_envs=1)
  agent = get_agent("iql")
  states = jax.vmap(lambda k: agent.create(config.agent, k, Spec((6,), 2)))(jax.random.split(jax.random.PRNGKey(0), 1))
  summary = evaluator(states, 0)
  assert summary["episode_length_mean"] <= 3, "the time limit given in config.env.kwargs was not used"
  config.env.kwargs = "{max_episode_steps: 3}"
  with pytest.raises(ConfigError, match="config.env.kwargs"):
    run_config.validate(config)
  config.env.kwargs = "[3]"
  with pytest.raises(ConfigError, match="JSON object"):
    run_config.validate(config)


def test_a_one_seed_group_trains_unbatched_to_the_same_numbers_and_shapes():
  spec = Spec(obs_shape=(3,), action_dim=2)
  keys = jax.random.split(jax.random.PRNGKey(0), 4)
  dataset = Transition(obs=jax.random.normal(keys[0], (64, 3)),
                       action=jax.random.uniform(keys[1], (64, 2), minval=-1, maxval=1),
                       reward=jax.random.normal(keys[2], (64,)), mask=jnp.ones(64),
                       next_obs=jax.random.normal(keys[3], (64, 3)))
  agent = get_agent("iql")
  config = agent.get_config()
  config.hidden_dims = (8, 8)
  chunk = make_train_chunk(agent, 16, 5)
  for seeds in (1, 3):
    run = init_run_state(agent, config, spec, 0, seeds)
    batched = jax.jit(jax.vmap(chunk, in_axes=(0, 0, None)))(run.agent, run.key, dataset)
    ours = jax.jit(vmap_seeds(chunk, (0, 0, None)))(run.agent, run.key, dataset)
    pairs = list(zip(jax.tree_util.tree_leaves(batched), jax.tree_util.tree_leaves(ours)))
    assert all(a.shape == b.shape and a.shape[0] == seeds for a, b in pairs)
    # Unbatched matmuls round differently; three seeds are the very same vmapped program.
    for a, b in pairs:
      if seeds == 1:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
      else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
