"""Online finetuning: interaction, replay contents, resumable stages, and results on disk."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.training import config as run_config
from jaxinsert.training import evaluation, runs


def tiny_online_config(agent_name="iql"):
  config = run_config.online_run_config(agent_name)
  config.agent.hidden_dims = (32, 32)
  config.dataset.name = "pointmass-mixed"
  config.env.name = "pointmass"
  config.env.num_envs = 4
  config.offline_steps = 200
  config.steps_per_call = 100
  config.log_interval = 100
  config.online_steps = 60          # per environment: 240 environment steps in all
  config.batch_size = 32
  config.replay_capacity = 1000
  config.eval_interval = 120
  config.eval_episodes = 8
  config.checkpoint_interval = 120
  config.offline_checkpoint_interval = 100
  return config


@pytest.mark.timeout(400)
def test_finetuning_run_interacts_learns_and_reports(tmp_path):
  results = runs.run_online(tiny_online_config(), str(tmp_path), progress=False)
  assert results["online_env_steps"] == 240
  assert results["online_episodes"] >= 240 // 50, "fewer episodes than the time limit allows"
  for phase in ("before_finetuning", "after_finetuning"):
    assert results[phase]["episodes"] == 8
    successes = round(results[phase]["success_rate"] * 8)
    np.testing.assert_allclose(results[phase]["success_ci95"],
                               evaluation.wilson_interval(successes, 8), atol=1e-9)
  on_disk = json.loads((tmp_path / "results.json").read_text())
  assert on_disk["online_env_steps"] == 240
  records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  online = [r for r in records if "online/critic_loss" in r]
  assert [r["step"] for r in online] == [120, 240]
  assert all(np.isfinite(r["online/critic_loss"]) for r in online)
  assert (tmp_path / "learning_curves.png").stat().st_size > 0
  saved = {p.name for p in (tmp_path / "offline" / "checkpoints").iterdir()}
  assert {"100", "200"} <= saved, f"pretraining saved only {sorted(saved)}: no mid-run resume point"
  assert (tmp_path / "checkpoints_online").is_dir()


@pytest.mark.timeout(400)
def test_replay_stores_true_final_observation_not_the_reset_one(tmp_path):
  from jaxinsert.training.online import OnlineTrainer
  from jaxinsert.training import environments
  from jaxinsert.agents import get_agent

  config = tiny_online_config("bc")
  config.online_steps = 120
  config.offline_ratio = 0.0
  config.eval_interval = 0
  config.checkpoint_interval = 0
  dataset, spec, _ = runs.load_offline_dataset(config.dataset)
  env = environments.make_vector_env("pointmass", 4)
  trainer = OnlineTrainer(config, str(tmp_path), dataset, spec, env, progress=False)
  agent_state = get_agent("bc").create(config.agent, jax.random.PRNGKey(0), spec)
  state = trainer.train(trainer.initial_state(agent_state, seed=0))
  trainer.close()
  buffer = jax.device_get(state.buffer)
  size = int(buffer.size)
  assert size == 480
  data = jax.tree_util.tree_map(lambda x: x[:size], buffer.data)
  # Consecutive transitions of one environment chain obs -> next_obs except across resets,
  # where next_obs is the final state (time-limit ends keep mask 1, so look at step counts).
  per_env = [jax.tree_util.tree_map(lambda x: x[i::4], data) for i in range(4)]
  breaks = 0
  for transitions in per_env:
    same = np.all(np.isclose(transitions.next_obs[:-1], transitions.obs[1:]), axis=-1)
    breaks += int((~same).sum())
    # After a break the next episode starts near the start region, while the stored next_obs
    # is wherever the finished episode ended (not a fresh start).
    for index in np.flatnonzero(~same):
      assert abs(transitions.obs[index + 1][0] - (-0.6)) <= 0.1 + 1e-6
  assert breaks >= 4, "no episode ended in 120 steps per environment with a 50-step limit"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mean", [True, False])
def test_exploring_with_the_mean_collects_the_policys_mean_actions(tmp_path, mean):
  from jaxinsert.agents import get_agent
  from jaxinsert.training import environments
  from jaxinsert.training.online import OnlineTrainer

  config = tiny_online_config("bc")
  config.online_steps, config.offline_ratio = 1, 0.0
  config.eval_interval = config.checkpoint_interval = 0
  config.explore_with_mean = mean
  dataset, spec, _ = runs.load_offline_dataset(config.dataset)
  env = environments.make_vector_env("pointmass", 4)
  trainer = OnlineTrainer(config, str(tmp_path), dataset, spec, env, progress=False)
  agent = get_agent("bc")
  agent_state = agent.create(config.agent, jax.random.PRNGKey(0), spec)
  state = trainer.train(trainer.initial_state(agent_state, seed=0))
  trainer.close()
  first = jax.tree_util.tree_map(lambda x: x[:4], jax.device_get(state.buffer.data))
  policy_mean = np.clip(agent.act(agent_state, first.obs, jax.random.PRNGKey(0), True), -1, 1)
  assert np.allclose(first.action, policy_mean, atol=1e-6) == mean


@pytest.mark.timeout(400)
def test_diverging_finetuning_stops_without_saving_the_diverged_agent(tmp_path):
  from jaxinsert.agents import get_agent
  from jaxinsert.training import checkpoints, environments
  from jaxinsert.training.offline import DivergenceError
  from jaxinsert.training.online import OnlineTrainer

  config = tiny_online_config("iql")
  config.eval_interval = 0
  config.checkpoint_interval = 40
  dataset, spec, _ = runs.load_offline_dataset(config.dataset)
  poisoned = dataset.replace(reward=jnp.full_like(dataset.reward, jnp.nan))
  env = environments.make_vector_env("pointmass", 4)
  trainer = OnlineTrainer(config, str(tmp_path), poisoned, spec, env, progress=False)
  agent_state = get_agent("iql").create(config.agent, jax.random.PRNGKey(0), spec)
  with pytest.raises(DivergenceError, match="before any checkpoint"):
    trainer.train(trainer.initial_state(agent_state, seed=0))
  trainer.close()
  assert checkpoints.Checkpointer(str(tmp_path / "checkpoints_online"), {}).latest_step() is None


def test_exploration_noise_depends_on_the_seed_and_resumes_with_the_step():
  from jaxinsert.training.online import OnlineState, exploration_rng

  def noise(seed, step):
    state = OnlineState(agent=None, buffer=None, key=jax.random.PRNGKey(seed),
                        env_steps=jnp.asarray(step), episodes=jnp.zeros(()),
                        successes=jnp.zeros(()))
    return exploration_rng(state).normal(size=4)

  np.testing.assert_array_equal(noise(0, 100), noise(0, 100))
  assert not np.allclose(noise(0, 100), noise(1, 100)), "two seeds draw the same noise"
  assert not np.allclose(noise(0, 100), noise(0, 200))


@pytest.mark.timeout(500)
def test_a_run_killed_mid_online_resumes_from_its_online_checkpoint(tmp_path, monkeypatch):
  """Killed after the online checkpoint at 120 env steps, the same call resumes there: the
  pretraining is not redone, the replay ring comes back with its 120 transitions, and the
  metrics hold each online record once."""
  from jaxinsert.envs.base import FunctionalVectorEnv
  from jaxinsert.training.online import OnlineTrainer

  config = tiny_online_config()
  real_step, calls = FunctionalVectorEnv.step, {"n": 0}

  def step_then_die(self, actions):
    calls["n"] += 1
    if calls["n"] > 40:  # 4 environments: 160 env steps, past the checkpoint at 120
      raise RuntimeError("killed mid-online")
    return real_step(self, actions)

  monkeypatch.setattr(FunctionalVectorEnv, "step", step_then_die)
  with pytest.raises(RuntimeError, match="killed mid-online"):
    runs.run_online(config, str(tmp_path), progress=False)
  assert sorted(p.name for p in (tmp_path / "checkpoints_online").iterdir() if p.name.isdigit()) == ["120"]
  monkeypatch.setattr(FunctionalVectorEnv, "step", real_step)

  resumed, real_initial = {}, OnlineTrainer.initial_state

  def spy(self, agent_state, seed):
    state = real_initial(self, agent_state, seed)
    resumed.update(env_steps=int(state.env_steps), replay=int(state.buffer.size))
    return state

  monkeypatch.setattr(OnlineTrainer, "initial_state", spy)
  offline_records = lambda: [json.loads(line) for line in
                             (tmp_path / "offline" / "metrics.jsonl").read_text().splitlines() if '"train/' in line]
  pretraining = offline_records()
  assert [r["step"] for r in pretraining] == [100, 200]
  results = runs.run_online(config, str(tmp_path), progress=False)
  assert resumed == {"env_steps": 120, "replay": 120}
  assert results["online_env_steps"] == 240
  records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in records if "online/critic_loss" in r] == [120, 240]
  assert offline_records() == pretraining, "the finished pretraining was trained again"


class _ScriptedEpisodes:
  """A vector env of 4 one-step episodes per step whose successes are scripted: the episodes of
  step 1 fail, every later one succeeds (the wrapped pointmass only supplies observations)."""

  def __init__(self):
    from jaxinsert.training import environments

    self.inner = environments.make_vector_env("pointmass", 4)
    self.num_envs, self.calls = 4, 0

  def reset(self, seed):
    return self.inner.reset(seed)

  def step(self, actions):
    next_obs, reward, _, truncated, info = self.inner.step(actions)
    self.calls += 1
    info = dict(info, success=np.full(4, self.calls > 1), final_obs=next_obs)
    return next_obs, reward, np.ones(4, bool), truncated, info

  def close(self):
    self.inner.close()


@pytest.mark.timeout(400)
def test_finetuning_stops_after_the_given_number_of_consecutive_successes(tmp_path):
  from jaxinsert.agents import get_agent
  from jaxinsert.training.online import OnlineTrainer

  config = tiny_online_config("bc")
  config.offline_ratio, config.eval_interval, config.checkpoint_interval = 0.0, 0, 0
  dataset, spec, _ = runs.load_offline_dataset(config.dataset)
  agent_state = get_agent("bc").create(config.agent, jax.random.PRNGKey(0), spec)
  steps = {}
  for stop in (10, 0):
    config.stop_after_consecutive_successes = stop
    trainer = OnlineTrainer(config, str(tmp_path / str(stop)), dataset, spec, _ScriptedEpisodes(),
                            progress=False)
    state = trainer.train(trainer.initial_state(agent_state, seed=0))
    steps[stop] = (int(state.env_steps), int(state.successes), trainer.stopped_early)
    trainer.close()
  # 4 failures, then 4 successes per step: the 10th in a row comes at the 4th step (16 env steps).
  assert steps[10] == (16, 12, True)
  assert steps[0] == (240, 236, False)
  config.stop_after_consecutive_successes, config.online_loop = 5, "scan"
  with pytest.raises(run_config.ConfigError, match="online_loop=host"):
    run_config.validate(config)
