"""jaxinsert.load_policy: every agent's run restores from its own files and acts like the agent."""

import json
import os

import jax
import numpy as np
import pytest

import jaxinsert
from jaxinsert.agents import AGENT_NAMES, get_agent
from jaxinsert.training import config as run_config, policy_api, runs

pytestmark = pytest.mark.timeout(300)


def tiny_run(agent_name, workdir, max_steps=20):
  """A real run through run_offline (builtin point-mass data, no evaluation environment)."""
  config = run_config.offline_run_config(agent_name)
  for field in ("hidden_dims", "policy_hidden_dims", "critic_hidden_dims"):
    if field in config.agent:
      config.agent[field] = (8, 8)
  config.max_steps, config.batch_size, config.steps_per_call = max_steps, 8, 10
  config.log_interval, config.eval_interval, config.checkpoint_interval = 10, 0, 0
  config.env.name = ""
  runs.run_offline(config, str(workdir), progress=False)
  return config


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("runs")
  return {name: (tiny_run(name, root / name), root / name) for name in AGENT_NAMES}


@pytest.mark.parametrize("agent_name", AGENT_NAMES)
def test_load_policy_restores_every_agent_and_acts_like_it(trained_runs, agent_name):
  config, workdir = trained_runs[agent_name]
  policy = jaxinsert.load_policy(str(workdir))
  assert policy.agent_name == agent_name and policy.step == 20
  obs_shape = tuple(policy.spec.obs_shape)
  obs = np.random.default_rng(0).normal(size=(4,) + obs_shape).astype(np.float32)
  # The reference: the agent's own act on a state restored by the trainer's own code.
  from jaxinsert.training.offline import OfflineTrainer
  dataset, spec, _ = runs.load_offline_dataset(config.dataset, config.seed)
  with config.unlocked():
    config.dataset.identity = runs.dataset_identity(config.dataset)
  trainer = OfflineTrainer(config, str(workdir), dataset, spec, progress=False)
  state = trainer.initial_state()
  trainer.close()
  agent_state = jax.tree_util.tree_map(lambda x: x[0], state.agent)
  expected = np.asarray(get_agent(agent_name).act(agent_state, obs, jax.random.PRNGKey(0), True))
  np.testing.assert_allclose(policy.act(obs), np.clip(expected, -1, 1), atol=1e-6,
                             err_msg=f"{agent_name}: load_policy acts differently from the trainer's state")
  single = policy.act(obs[0])
  assert single.shape == (policy.spec.action_dim,), "an unbatched obs gives an unbatched action"
  np.testing.assert_allclose(single, policy.act(obs)[0], atol=1e-6)
  np.testing.assert_array_equal(policy.act(obs[0]), single, err_msg="act must be deterministic by default")


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
