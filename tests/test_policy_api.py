"""jaxinsert.load_policy: every agent's run restores from its own files and acts like the agent."""

import json
import os

import jax
import numpy as np
import pytest

import jaxinsert
from jaxinsert.types import Spec
from jaxinsert.agents import get_agent
from jaxinsert.training import config as run_config, policy_api, runs
from jaxinsert.training import checkpoints
from jaxinsert.training.offline import OfflineTrainer, init_run_state, run_description

pytestmark = pytest.mark.timeout(300)
# The transition agents; ODA acts on a task context (oda.adapt) and is not a plain Policy yet.
AGENT_NAMES = ("bc", "iql", "awac", "sac", "td3")


def tiny_config(agent_name, max_steps=10):
  config = run_config.offline_run_config(agent_name)
  for field in ("hidden_dims", "policy_hidden_dims", "critic_hidden_dims"):
    if field in config.agent:
      config.agent[field] = (8, 8)
  config.max_steps, config.batch_size, config.steps_per_call = max_steps, 8, 10
  config.log_interval, config.eval_interval, config.checkpoint_interval = 10, 0, 0
  config.env.name = ""
  return config


def saved_like_the_trainer(agent_name, workdir, step=10):
  """A checkpoint written exactly as OfflineTrainer writes one (same Checkpointer, same run
  description, same RunState tree), fast enough for CI; the slow test below trains for real."""
  config = tiny_config(agent_name)
  spec = Spec((6,), 2)   # the builtin point-mass data's spec, without generating the data
  agent = get_agent(agent_name)
  shapes = jax.eval_shape(lambda: init_run_state(agent, config.agent, spec, config.seed, 1))
  rng = np.random.default_rng(len(agent_name))
  # Random numbers in every array (compiling the real initialisation costs ~30 s on CI's CPU).
  state = jax.tree_util.tree_map(
      lambda x: (0.3 * rng.standard_normal(x.shape)).astype(x.dtype)
      if np.issubdtype(x.dtype, np.floating) else np.zeros(x.shape, x.dtype), shapes)
  saver = checkpoints.Checkpointer(os.path.join(workdir, "checkpoints"), run_description(config, spec))
  saver.save(step, state)
  saver.close()
  return jax.tree_util.tree_map(lambda x: np.asarray(x[0]), state.agent)


def tiny_run(agent_name, workdir):
  """A real run of the offline trainer (what run_offline and train_offline.py drive)."""
  config = tiny_config(agent_name)
  dataset, spec, _ = runs.load_offline_dataset(config.dataset, config.seed)
  trainer = OfflineTrainer(config, str(workdir), dataset, spec, progress=False)
  try:
    state = trainer.train()
  finally:
    trainer.close()
  return jax.tree_util.tree_map(lambda x: np.asarray(x[0]), state.agent)


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("runs")
  return {name: (saved_like_the_trainer(name, root / name), root / name) for name in AGENT_NAMES}


def check_acts_like_the_agent(policy, agent_name, agent_state):
  obs_shape = tuple(policy.spec.obs_shape)
  obs = np.random.default_rng(0).normal(size=(4,) + obs_shape).astype(np.float32)
  expected = np.asarray(get_agent(agent_name).act(agent_state, obs, jax.random.PRNGKey(0), True))
  np.testing.assert_allclose(policy.act(obs), np.clip(expected, -1, 1), atol=1e-6,
                             err_msg=f"{agent_name}: load_policy acts differently from the saved state")
  single = policy.act(obs[0])
  assert single.shape == (policy.spec.action_dim,), "an unbatched obs gives an unbatched action"
  np.testing.assert_allclose(single, policy.act(obs)[0], atol=1e-6)
  np.testing.assert_array_equal(policy.act(obs[0]), single, err_msg="act must be deterministic by default")


@pytest.mark.parametrize("agent_name", AGENT_NAMES)
def test_load_policy_restores_every_agent_and_acts_like_it(trained_runs, agent_name):
  agent_state, workdir = trained_runs[agent_name]
  policy = jaxinsert.load_policy(str(workdir))
  assert policy.agent_name == agent_name and policy.step == 10
  check_acts_like_the_agent(policy, agent_name, agent_state)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("agent_name", AGENT_NAMES)
def test_load_policy_restores_a_trained_run_of_every_agent(tmp_path, agent_name):
  agent_state = tiny_run(agent_name, tmp_path)
  policy = jaxinsert.load_policy(str(tmp_path))
  assert policy.step == 10
  check_acts_like_the_agent(policy, agent_name, agent_state)


def test_load_policy_needs_no_dataset(trained_runs, tmp_path):
  _, workdir = trained_runs["bc"]
  import shutil
  copy = tmp_path / "moved"
  shutil.copytree(workdir / "checkpoints", copy / "checkpoints")  # no provenance, no data
  policy = jaxinsert.load_policy(str(copy / "checkpoints"))
  assert policy.act(np.zeros(policy.spec.obs_shape, np.float32)).shape == (policy.spec.action_dim,)


def test_wrong_observation_shape_names_the_shape(trained_runs):
  policy = jaxinsert.load_policy(str(trained_runs["iql"][1]))
  dim = policy.spec.obs_shape[0]
  with pytest.raises(policy_api.ObservationError, match=rf"shape \({dim + 1},\), expected \({dim},\)"):
    policy.act(np.zeros(dim + 1, np.float32))
  with pytest.raises(policy_api.ObservationError, match=r"shape \(2, 3, {dim}\)".format(dim=dim)):
    policy.act(np.zeros((2, 3, dim), np.float32))
  obs = np.zeros(dim, np.float32)
  obs[1] = np.nan
  with pytest.raises(policy_api.ObservationError, match=r"obs\[1\]"):
    policy.act(obs)


def test_named_features_checked_by_field(trained_runs):
  policy = jaxinsert.load_policy(str(trained_runs["bc"][1]))
  dim = policy.spec.obs_shape[0]
  policy.features = (("position", 1), ("velocity", dim - 1))
  rest = np.linspace(0, 1, dim - 1)
  action = policy.act({"position": [0.1], "velocity": rest})
  np.testing.assert_allclose(action, policy.act(np.concatenate([[0.1], rest]).astype(np.float32)))
  batch = policy.act({"position": np.zeros((3, 1)), "velocity": np.zeros((3, dim - 1))})
  assert batch.shape == (3, policy.spec.action_dim)
  with pytest.raises(policy_api.ObservationError, match=rf"'velocity' has shape \({dim},\)"):
    policy.act({"position": [0.1], "velocity": np.zeros(dim)})
  with pytest.raises(policy_api.ObservationError, match="'velocity' is missing"):
    policy.act({"position": [0.1]})


def test_normalisation_file_is_applied(trained_runs, tmp_path):
  import shutil
  _, workdir = trained_runs["td3"]
  shutil.copytree(workdir, tmp_path / "run")
  plain = jaxinsert.load_policy(str(tmp_path / "run"))
  with open(tmp_path / "run" / "normalisation.json", "w") as handle:
    dim = plain.spec.obs_shape[0]
    json.dump({"obs_mean": [1.0] * dim, "obs_std": [2.0] * dim}, handle)
  normalised = jaxinsert.load_policy(str(tmp_path / "run"))
  obs = np.full(dim, 3.0, np.float32)
  np.testing.assert_allclose(normalised.act(obs), plain.act(np.ones(dim, np.float32)), atol=1e-6)


def test_missing_run_says_where_it_looked(tmp_path):
  with pytest.raises(FileNotFoundError, match="no checkpoint under"):
    jaxinsert.load_policy(str(tmp_path))
