"""The scanned online loop: seeds at once, true final observations in the replay ring, exact
resume (environments are checkpointed), and run_online's choice of loop."""

import jax
import numpy as np
import pytest

from jaxinsert.agents import get_agent
from jaxinsert.envs import pointmass
from jaxinsert.envs.rollout import agent_spec
from jaxinsert.training import config as run_config
from jaxinsert.training import runs
from jaxinsert.training.offline import init_run_state
from jaxinsert.training.online_scan import ScannedOnlineTrainer, chunk_iterations


def scan_config(**changes):
  config = run_config.online_run_config("iql")
  config.agent.hidden_dims = (16, 16)
  config.online_loop = "scan"
  config.num_seeds = 2
  config.env.name = "pointmass"
  config.env.num_envs = 2
  config.online_steps = 40          # per environment: 80 environment steps in all
  config.batch_size = 16
  config.replay_capacity = 200
  config.eval_interval = 40
  config.checkpoint_interval = 40
  config.eval_episodes = 2
  config.exploration_noise = 0.1
  for name, value in changes.items():
    config[name] = value
  return config


def offline_data():
  return pointmass.make_dataset(jax.random.PRNGKey(0), 20)


def make_trainer(config, workdir):
  spec = agent_spec(pointmass.PointMass().spec)
  return ScannedOnlineTrainer(config, str(workdir), offline_data(), spec, pointmass.PointMass(), progress=False)


def initial_agents(config):
  spec = agent_spec(pointmass.PointMass().spec)
  return init_run_state(get_agent("iql"), config.agent, spec, 0, config.num_seeds).agent


def test_chunks_fall_on_every_evaluation_and_checkpoint():
  assert chunk_iterations(scan_config(), 2) == 20
  assert chunk_iterations(scan_config(eval_interval=20, checkpoint_interval=40), 2) == 10
  with pytest.raises(ValueError, match="multiples of config.env.num_envs"):
    chunk_iterations(scan_config(eval_interval=15, checkpoint_interval=15), 2)


@pytest.mark.timeout(600)
def test_seeds_run_at_once_store_true_final_observations_and_resume_exactly(tmp_path, monkeypatch):
  config = scan_config()
  whole = make_trainer(config, tmp_path / "whole")
  try:
    state = whole.train(whole.initial_state(initial_agents(config), seed=0))
  finally:
    whole.close()
  assert np.asarray(state.env_steps).tolist() == [80, 80]
  assert np.asarray(state.buffer.size).tolist() == [80, 80]
  params = jax.tree_util.tree_leaves(state.agent.actor.params)
  assert not np.array_equal(np.asarray(params[0][0]), np.asarray(params[0][1])), "the seeds did not differ"
  # A transition that ends an episode stores the state it reached, not the reset state after it.
  data = jax.tree_util.tree_map(lambda x: np.asarray(x[0]), state.buffer.data)
  reached = data.mask == 0.0
  if reached.any():
    goal = np.asarray(pointmass.PointMass().goal_m)
    assert np.all(np.linalg.norm(data.next_obs[reached, :2] - goal, axis=1) <= 0.1 + 1e-6)
  following = np.roll(data.obs, -2, axis=0)[:78]            # 2 environments: row i + 2 follows row i
  continued = np.abs(data.next_obs[:78] - following).max(axis=1) < 1e-6
  assert continued.mean() > 0.9, "next_obs must be the observation the environment continued from"

  # Killed after the first chunk (checkpoint at 40 env steps), then resumed: bit for bit.
  part = make_trainer(config, tmp_path / "part")
  real_chunk, calls = part._chunk, {"n": 0}

  def chunk_then_die(*args):
    calls["n"] += 1
    if calls["n"] > 1:
      raise RuntimeError("killed")
    return real_chunk(*args)

  part._chunk = chunk_then_die
  try:
    with pytest.raises(RuntimeError, match="killed"):
      part.train(part.initial_state(initial_agents(config), seed=0))
    part._chunk = real_chunk
    resumed_from = part.initial_state(initial_agents(config), seed=0)
    assert np.asarray(resumed_from.env_steps).tolist() == [40, 40]
    resumed = part.train(resumed_from)
  finally:
    part.close()
  for a, b in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(resumed)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_run_online_refuses_seeds_on_the_host_loop_and_scan_on_gymnasium(tmp_path):
  with pytest.raises(ValueError, match="online_loop='scan' runs several"):
    runs.run_online(scan_config(online_loop="host"), str(tmp_path), progress=False)
  config = scan_config()
  config.env.name = "Hopper-v5"
  with pytest.raises(ValueError, match="gymnasium id"):
    runs.run_online(config, str(tmp_path), progress=False)
  with pytest.raises(run_config.ConfigError, match="online_loop"):
    run_config.validate(scan_config(online_loop="fast"))
