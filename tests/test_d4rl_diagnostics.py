"""jaxinsert.benchmarks.d4rl.diagnostics on data small enough to work out by hand."""

import numpy as np
import pytest

from jaxinsert.benchmarks.d4rl import diagnostics


def _data():
  # Episode 0: rows 0-4, ends in a terminal (a fall). Episode 1: rows 5-8, ends in a timeout.
  # Row 9 is a tail without an end, which belongs to no episode.
  terminals = np.zeros(10, bool)
  timeouts = np.zeros(10, bool)
  terminals[4] = True
  timeouts[8] = True
  advantage = np.array([0, 0, 0, 1, 2, 0, 0, 0, 0, 0], np.float32)  # planted on Q
  return {"observations": advantage[:, None], "actions": np.zeros((10, 1), np.float32),
          "rewards": np.ones(10, np.float32), "terminals": terminals, "timeouts": timeouts}


def test_discounted_returns_restart_at_every_episode_end():
  data = _data()
  returns = diagnostics.discounted_returns(data["rewards"], data["terminals"], data["timeouts"], 0.5)
  np.testing.assert_allclose(returns[:9], [1.9375, 1.875, 1.75, 1.5, 1.0, 1.875, 1.75, 1.5, 1.0])
  assert returns[9] == 0.0, "a tail without an end is left out"


def test_profile_puts_the_planted_advantages_before_the_fall():
  data = _data()
  profile = diagnostics.advantage_profile(
      lambda obs: np.zeros(len(obs)), lambda obs, action: obs[:, 0] + 0.0 * action[:, 0], data,
      reward_scale=2.0, discount=0.5, beta=1.0, weight_cap=np.exp(1.5), window=2, offsets=(0, 1, 4, 5),
      batch=3)
  assert (profile["episodes"], profile["terminal_episodes"]) == (2, 1)
  assert profile["before_terminal"][0]["advantage"] == pytest.approx(2.0)
  assert profile["before_terminal"][1]["advantage"] == pytest.approx(1.0)
  assert profile["before_terminal"][4] == {"episodes": 1, "v": 0.0, "mc_return": pytest.approx(3.875),
                                           "advantage": 0.0}
  assert 5 not in profile["before_terminal"], "no episode is long enough"
  # Weights exp(A) capped at e^1.5: rows 3 and 4 (the window) get e and e^1.5, the other 8 rows 1.
  near = np.e + np.exp(1.5)
  assert profile["window_transition_share"] == pytest.approx(0.2)
  assert profile["window_weight_share"] == pytest.approx(near / (near + 8))
  assert profile["window_mean_weight"] == pytest.approx(near / 2)
  assert profile["elsewhere_mean_weight"] == pytest.approx(1.0)
  assert "20.0% of transitions" in diagnostics.format_profile(profile)


def test_profile_names_a_missing_array():
  data = _data()
  del data["timeouts"]
  with pytest.raises(KeyError, match="timeouts"):
    diagnostics.advantage_profile(lambda obs: obs, lambda obs, action: obs, data, 1.0, 0.99, 3.0,
                                  100.0)
