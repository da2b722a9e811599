"""Evaluation: interval arithmetic, unbiased episode counting, functional and host paths agree."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.envs import pointmass
from jaxinsert.envs.base import EnvSpec, FunctionalVectorEnv
from jaxinsert.training import evaluation


def test_wilson_interval_matches_known_values():
  # Reference values of the 95% Wilson score interval (Wilson 1927; e.g. 0/10 -> [0, 0.2775]).
  low, high = evaluation.wilson_interval(0, 10)
  assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
  low, high = evaluation.wilson_interval(5, 10)
  assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
  low, high = evaluation.wilson_interval(20, 20)
  assert high == 1.0 and low == pytest.approx(0.8389, abs=1e-4)


def test_mean_interval_is_student_t():
  low, high = evaluation.mean_interval(np.array([1.0, 2.0, 3.0]))
  # mean 2, sd 1, n 3, t(0.975, 2) = 4.3027
  assert (low, high) == pytest.approx((2 - 4.3027 / np.sqrt(3), 2 + 4.3027 / np.sqrt(3)), abs=1e-3)


class _UnequalEpisodes:
  """Environment 0 ends every 2 steps with return 0; environment 1 every 10 with return 10."""

  num_envs = 2
  spec = EnvSpec((1,), 1, 10)

  def reset(self, seed):
    self.t = np.zeros(2, int)
    return np.zeros((2, 1), np.float32)

  def step(self, actions):
    self.t += 1
    lengths = np.array([2, 10])
    done = self.t % lengths == 0
    reward = np.array([0.0, 1.0], np.float32)
    return (np.zeros((2, 1), np.float32), reward, np.zeros(2, bool), done,
            {"final_obs": np.zeros((2, 1), np.float32)})


def test_vector_evaluation_does_not_favour_short_episodes():
  returns, successes, lengths = evaluation.evaluate_vector_env(
      _UnequalEpisodes(), lambda obs: np.zeros((2, 1)), num_episodes=10)
  assert len(returns) == 10
  # Counting episodes as they end would give 8 short ones and 2 long ones (mean 2).
  assert returns.mean() == pytest.approx(5.0)
  assert sorted(lengths.tolist()) == [2] * 5 + [10] * 5


def _scripted_policy(env):
  def act(agent_state, obs, key, deterministic):
    del agent_state, key, deterministic
    return pointmass.scripted_action(obs[..., :2], obs[..., 2:4], obs[..., 4:6])
  return act


def test_functional_rollout_scores_a_scripted_controller():
  env = pointmass.make_env()
  rollout = jax.jit(evaluation.make_functional_rollout(env, _scripted_policy(env), 16))
  returns, successes, lengths = jax.device_get(rollout(None, jax.random.PRNGKey(0)))
  assert successes.all(), "the scripted controller reaches the goal from every start"
  np.testing.assert_allclose(returns, 1.0)   # sparse reward, episode ends at the goal
  assert (lengths < env.max_episode_steps).all()


def test_functional_and_host_paths_agree():
  env = pointmass.make_env()
  act = _scripted_policy(env)
  _, _, functional_lengths = jax.device_get(
      jax.jit(evaluation.make_functional_rollout(env, act, 8))(None, jax.random.PRNGKey(1)))
  host = FunctionalVectorEnv(env, 4)
  policy = lambda obs: np.asarray(act(None, jnp.asarray(obs), None, True))
  _, host_successes, host_lengths = evaluation.evaluate_vector_env(host, policy, 8, seed=1)
  assert host_successes.all()
  # Same controller, same start distribution: episode lengths from the same range.
  assert abs(np.mean(host_lengths) - np.mean(functional_lengths)) <= 3


def test_gymnasium_environment_by_id():
  from jaxinsert.agents import get_agent
  from jaxinsert.types import Spec

  agent = get_agent("bc")
  config = agent.get_config()
  config.hidden_dims = (8,)
  states = jax.vmap(lambda k: agent.create(config, k, Spec((3,), 1)))(
      jax.random.split(jax.random.PRNGKey(0), 2))
  evaluate = evaluation.make_evaluator(agent, "Pendulum-v1", num_episodes=2, num_envs=2)
  summary = evaluate(states, 0)
  assert summary["episodes"] == 4
  assert summary["episode_length_mean"] == 200     # Pendulum-v1's time limit
  assert len(summary["return_mean_per_seed"]) == 2
  assert summary["return_mean"] < 0                # Pendulum rewards are costs


def test_mcnemar_exact_counts_discordant_pairs_and_matches_the_binomial_test():
  from scipy import stats

  before = np.array([0] * 10 + [1] * 20 + [0] * 30, bool)
  after = np.array([1] * 10 + [1] * 20 + [0] * 30, bool)
  result = evaluation.mcnemar_exact(before, after)
  assert (result["gained"], result["lost"]) == (10, 0)
  assert abs(result["p_value"] - 2.0 / 2 ** 10) < 1e-12
  rng = np.random.default_rng(0)
  for _ in range(5):
    b, a = rng.random(80) < 0.5, rng.random(80) < 0.6
    result = evaluation.mcnemar_exact(b, a)
    n = result["gained"] + result["lost"]
    expected = stats.binomtest(result["gained"], n, 0.5).pvalue
    assert abs(result["p_value"] - expected) < 1e-9
  assert evaluation.mcnemar_exact([1, 0], [1, 0])["p_value"] == 1.0   # no discordant pair
  with pytest.raises(ValueError, match="equal lengths"):
    evaluation.mcnemar_exact([1, 0], [1])
