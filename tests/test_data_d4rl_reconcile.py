"""Reconciles RLDS-derived transitions with `d4rl.qlearning_dataset` on a D4RL-layout file.

The one known difference, by design: d4rl.qlearning_dataset drops the last transition of every
timed-out episode (it pairs row i with row i + 1 and skips rows flagged as timeouts), while the
RLDS path keeps it when the file stores next_observations (D4RL v2 MuJoCo), because it is a
real transition whose next state is known. Hence
  * transition count: RLDS = qlearning + number of timed-out episodes (v2 files); equal on files
    without next_observations, where there is no next state to pair with;
  * IQL's return range: each timed-out episode's return gains its last reward (the off-by-one
    of gwthomas/IQL-PyTorch #4), so the locomotion reward scale differs slightly.
`load_transitions(..., drop_timeout_transitions=True)` removes them and reproduces qlearning_dataset
exactly, including the return range. Two further differences only touch masked or boundary
rows: next_obs of a terminal transition (mask 0) comes from next_observations when stored, and
a terminal on the file's very last row is kept (qlearning_dataset never pairs the last row).
"""

import numpy as np
import pytest

from jaxinsert.data import d4rl_layout
from jaxinsert.data.converters import convert
from jaxinsert.data.transitions import load_transitions
from test_data_fixtures import d4rl_arrays, write_hdf5

# Mixed ends, the last row a timeout (as in D4RL files): 5 timed-out, 3 terminal episodes.
ENDS = [(7, "timeout"), (4, "terminal"), (9, "timeout"), (1, "timeout"), (6, "terminal"), (5, "timeout"),
        (3, "terminal"), (8, "timeout")]
TIMED_OUT = sum(end == "timeout" for _, end in ENDS)


@pytest.fixture(params=["v2_next_observations", "v1_no_next_observations"])
def layout(request, tmp_path):
  data = d4rl_arrays(ENDS, seed=5, next_observations=request.param.startswith("v2"), infos=False)
  path = write_hdf5(tmp_path / "walker.hdf5", data)
  dataset = convert("d4rl_hdf5", path, tmp_path / "rlds", spec="d4rl-locomotion")
  return request.param, data, dataset


def test_dropping_timeout_transitions_reproduces_qlearning_dataset_exactly(layout):
  _, data, dataset = layout
  reference = d4rl_layout.qlearning_dataset(data)
  transitions, spec, info = load_transitions(dataset, drop_timeout_transitions=True)
  assert transitions.size == len(reference["rewards"]) == len(data["rewards"]) - TIMED_OUT
  np.testing.assert_array_equal(np.asarray(transitions.obs), reference["observations"])
  np.testing.assert_array_equal(np.asarray(transitions.action), reference["actions"])
  np.testing.assert_array_equal(np.asarray(transitions.reward), reference["rewards"])
  np.testing.assert_array_equal(np.asarray(transitions.mask), 1.0 - reference["terminals"])
  live = np.asarray(transitions.mask) == 1
  np.testing.assert_array_equal(np.asarray(transitions.next_obs)[live], reference["next_observations"][live])
  assert info["num_terminal_transitions"] == int(reference["terminals"].sum()) == 3
  assert (info["return_min"], info["return_max"]) == pytest.approx(d4rl_layout.iql_return_range(reference))
  assert spec.obs_shape == (11,) and spec.action_dim == 3


def test_default_keeps_timeout_transitions_the_one_known_difference(layout):
  name, data, dataset = layout
  reference = d4rl_layout.qlearning_dataset(data)
  transitions, _, info = load_transitions(dataset)
  extra = TIMED_OUT if name.startswith("v2") else 0
  assert transitions.size == len(reference["rewards"]) + extra
  assert info["num_terminal_transitions"] == int(reference["terminals"].sum()), "terminal masks agree"
  assert info["num_truncated_episodes"] == TIMED_OUT
  timeout_rows = np.flatnonzero(data["timeouts"])
  if extra:
    # The kept transitions are exactly the timeout rows, with mask 1 and their recorded next state.
    kept = {tuple(row) for row in np.asarray(transitions.obs)} - {tuple(row) for row in reference["observations"]}
    assert kept == {tuple(data["observations"][row]) for row in timeout_rows}
    last = np.asarray(transitions.obs).tolist().index(data["observations"][timeout_rows[0]].tolist())
    np.testing.assert_array_equal(np.asarray(transitions.next_obs)[last], data["next_observations"][timeout_rows[0]])
    assert float(transitions.mask[last]) == 1.0, "a time-limit end is not a terminal"
  # Per-episode returns: IQL's plus, for timed-out episodes, the reward of their last row.
  iql_returns = d4rl_layout.iql_trajectory_returns(reference)
  ours = info["episode_returns"][np.isfinite(info["episode_returns"])]
  if extra:
    assert len(ours) == len(ENDS)
    starts = np.cumsum([0] + [length for length, _ in ENDS])
    expected = [data["rewards"][start:start + length].astype(np.float64).sum()
                for (length, _), start in zip(ENDS, starts)]
    np.testing.assert_allclose(ours, expected, rtol=1e-6)
    assert info["return_max"] - info["return_min"] != pytest.approx(np.ptp(iql_returns)), \
        "the kept timeout rewards move the return range"
  else:
    np.testing.assert_allclose(np.sort(ours), np.sort(iql_returns), rtol=1e-6)


def test_iql_reward_scaling_and_antmaze_shift(layout):
  _, data, dataset = layout
  reference = d4rl_layout.qlearning_dataset(data)
  low, high = d4rl_layout.iql_return_range(reference)
  scaled, _, info = load_transitions(dataset, reward_preprocessing="locomotion_return_range",
                                     drop_timeout_transitions=True, action_clip=1 - 1e-5)
  np.testing.assert_allclose(np.asarray(scaled.reward), reference["rewards"] / (high - low) * 1000.0, rtol=1e-5)
  assert info["reward_scale"] == pytest.approx(1000.0 / (high - low))
  assert float(np.abs(np.asarray(scaled.action)).max()) <= 1 - 1e-5
  shifted, _, info = load_transitions(dataset, reward_preprocessing="antmaze_minus_one",
                                      drop_timeout_transitions=True)
  np.testing.assert_allclose(np.asarray(shifted.reward), reference["rewards"] - 1.0, rtol=1e-6)
  assert info["reward_shift"] == -1.0


def test_file_ending_in_a_terminal_keeps_that_transition(tmp_path):
  data = d4rl_arrays([(4, "timeout"), (3, "terminal")], next_observations=False, infos=False)
  reference = d4rl_layout.qlearning_dataset(data)
  dataset = convert("d4rl_hdf5", write_hdf5(tmp_path / "f.hdf5", data), tmp_path / "rlds")
  transitions, _, info = load_transitions(dataset, drop_timeout_transitions=True)
  assert transitions.size == len(reference["rewards"]) + 1, "qlearning_dataset never pairs the last row"
  assert float(transitions.mask[-1]) == 0.0


def test_timeouts_synthesised_like_d4rl_for_files_without_them():
  terminals = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0], bool)
  np.testing.assert_array_equal(d4rl_layout.synthesize_timeouts(terminals, 3),
                                [0, 0, 0, 0, 0, 1, 0, 0, 1])
