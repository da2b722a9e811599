"""D4RL's flat HDF5 layout: episode boundaries, `d4rl.qlearning_dataset` and the official IQL's
return range, re-implemented from their documented semantics (d4rl itself is not installable here).

Why this exists: the same file gives different transition sets depending on who reads it.
`episodes_from_layout` follows TFDS's D4RL builders (RLDS episodes split at `terminals | timeouts`,
an extra final step when the next observation is known); `qlearning_dataset` follows d4rl, which
drops the last transition of every timed-out episode and the file's last row. The reconciliation
test in tests/test_data_d4rl_reconcile.py checks the two agree everywhere else.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import numpy as np

from jaxinsert.data.errors import DataError
from jaxinsert.data.steps import rlds_steps

CORE_KEYS = ("observations", "actions", "rewards", "terminals")
# obs[i + 1] differing from next_obs[i] by more than this marks an unrecorded episode boundary
# (the official IQL's `dones_float` test).
DISCONTINUITY_TOLERANCE = 1e-6


def check_layout(data: Mapping[str, np.ndarray], file: Optional[str] = None) -> int:
  """Checks the core keys exist and agree in length; returns the number of rows."""
  for key in CORE_KEYS:
    if key not in data:
      raise DataError(f"missing required key '{key}' (have {sorted(data)})", file=file, field=key)
  rows = len(data["rewards"])
  if rows == 0:
    raise DataError("holds zero rows: there is nothing to convert", file=file, field="rewards")
  for key, value in data.items():
    if key.startswith("metadata/") or np.ndim(value) == 0:
      continue
    if len(value) != rows:
      raise DataError(f"has {len(value)} rows, 'rewards' has {rows}", file=file, field=key)
  if np.ndim(data["rewards"]) > 1 and np.shape(data["rewards"])[1:] != (1,):
    raise DataError(f"rewards must be (N,) or (N, 1), got {np.shape(data['rewards'])}", file=file, field="rewards")
  return rows


def synthesize_timeouts(terminals: np.ndarray, max_episode_steps: int) -> np.ndarray:
  """Timeouts for files without them: d4rl's fallback of counting steps since the last end."""
  timeouts = np.zeros(len(terminals), bool)
  episode_step = 0
  for row, terminal in enumerate(np.asarray(terminals, bool)):
    if episode_step == max_episode_steps - 1 and not terminal:
      timeouts[row] = True
    if terminal or timeouts[row]:
      episode_step = 0
    else:
      episode_step += 1
  return timeouts


def discontinuities(data: Mapping[str, np.ndarray]) -> np.ndarray:
  """Rows i where next_observations[i] != observations[i + 1] (needs next_observations)."""
  if "next_observations" not in data:
    return np.zeros(len(data["rewards"]), bool)
  jump = np.zeros(len(data["rewards"]), bool)
  gap = np.asarray(data["observations"][1:], np.float64) - np.asarray(data["next_observations"][:-1], np.float64)
  jump[:-1] = np.linalg.norm(gap.reshape(len(gap), -1), axis=1) > DISCONTINUITY_TOLERANCE
  return jump


def episode_bounds(data: Mapping[str, np.ndarray], *, split_on_discontinuity: bool = False) -> List[Tuple[int, int]]:
  """[first, last] row of every episode: ends at terminals | timeouts (| jumps), plus any tail."""
  done = np.asarray(data["terminals"], bool).reshape(-1) | np.asarray(data["timeouts"], bool).reshape(-1)
  if split_on_discontinuity:
    done = done | discontinuities(data)
  ends = np.flatnonzero(done).tolist()
  rows = len(done)
  if not ends or ends[-1] != rows - 1:
    ends.append(rows - 1)
  starts = [0] + [end + 1 for end in ends[:-1]]
  return list(zip(starts, ends))


def unused_nonfinite_next_observations(data: Mapping[str, np.ndarray], split_on_discontinuity: bool = False
                                       ) -> np.ndarray:
  """Rows whose next_observations hold a NaN or an infinity but are not an episode's last row:
  the converter takes observations[i + 1] for them, so the bad value would vanish unseen."""
  next_observations = data.get("next_observations")
  if next_observations is None:
    return np.zeros(0, np.int64)
  values = np.asarray(next_observations)
  if not np.issubdtype(values.dtype, np.floating):
    return np.zeros(0, np.int64)
  bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
  for _, last in episode_bounds(data, split_on_discontinuity=split_on_discontinuity):
    bad[last] = False
  return np.flatnonzero(bad)


def episodes_from_layout(data: Mapping[str, np.ndarray], *, obs_feature: str = "state",
                         infos: Tuple[str, ...] = (), split_on_discontinuity: bool = False) -> Iterator[Dict[str, Any]]:
  """RLDS episodes from a D4RL-layout dict (needs 'timeouts'; see `synthesize_timeouts`).

  Per episode [s, e]: steps s..e carry (obs, action, reward). When the episode ends in a terminal,
  or the file stores next_observations, one more step holds the final observation with zero
  action and reward, is_last, and is_terminal = terminals[e]; the discount of step e is then 0
  for a terminal. Otherwise step e itself is_last and its transition has no next observation.
  The final observation of a terminal episode without next_observations is observations[e + 1]
  (what d4rl.qlearning_dataset pairs it with; masked out by the terminal) or zeros at the file end.
  """
  observations = data["observations"]
  next_observations = data.get("next_observations")
  terminals = np.asarray(data["terminals"], bool).reshape(-1)
  rewards = np.asarray(data["rewards"]).reshape(-1)
  rows = len(rewards)
  for first, last in episode_bounds(data, split_on_discontinuity=split_on_discontinuity):
    ends_in_terminal = bool(terminals[last])
    final = None
    if next_observations is not None:
      final = np.asarray(next_observations[last])
    elif ends_in_terminal:
      final = np.asarray(observations[last + 1]) if last + 1 < rows else np.zeros_like(observations[last])
    steps = rlds_steps({obs_feature: np.asarray(observations[first:last + 1])},
                       np.asarray(data["actions"][first:last + 1]), rewards[first:last + 1],
                       final_observation=None if final is None else {obs_feature: final}, terminal=ends_in_terminal,
                       infos={name: data[f"infos/{name}"][first:last + 1] for name in infos})
    yield {"steps": steps, "metadata": {"first_row": int(first), "last_row": int(last)}}


def qlearning_dataset(h5_dict: Mapping[str, np.ndarray], terminate_on_end: bool = False,
                      max_episode_steps: Optional[int] = None) -> Dict[str, np.ndarray]:
  """`d4rl.qlearning_dataset` semantics: (s, a, r, s', terminal) pairs of consecutive rows.

  Row i pairs with row i + 1 for i < N - 1 (so the file's last row is always dropped). Rows
  flagged as timeouts are skipped unless `terminate_on_end`, and then carry no terminal. Without
  a 'timeouts' key, a timeout is every `max_episode_steps`-th step since the last end (d4rl uses
  the gym env's limit). next_observations in the file are ignored, as d4rl ignores them.
  """
  rows = check_layout(h5_dict)
  terminals = np.asarray(h5_dict["terminals"], bool).reshape(-1)
  if "timeouts" in h5_dict:
    timeouts = np.asarray(h5_dict["timeouts"], bool).reshape(-1)
  elif max_episode_steps is not None:
    timeouts = synthesize_timeouts(terminals, max_episode_steps)
  else:
    raise DataError("no 'timeouts' key: pass max_episode_steps (the env's time limit)", field="timeouts")
  keep = np.ones(rows - 1, bool) if terminate_on_end else ~timeouts[:-1]
  observations = np.asarray(h5_dict["observations"], np.float32)
  return {
      "observations": observations[:-1][keep],
      "actions": np.asarray(h5_dict["actions"], np.float32)[:-1][keep],
      "next_observations": observations[1:][keep],
      "rewards": np.asarray(h5_dict["rewards"], np.float32).reshape(-1)[:-1][keep],
      "terminals": terminals[:-1][keep],
  }


def iql_trajectory_returns(qlearning: Mapping[str, np.ndarray]) -> np.ndarray:
  """Returns of the trajectories the official IQL cuts from a qlearning_dataset: a trajectory
  ends at a terminal or where observations[i + 1] != next_observations[i], and at the end."""
  observations = np.asarray(qlearning["observations"])
  next_observations = np.asarray(qlearning["next_observations"])
  count = len(observations)
  ends = np.zeros(count, bool)
  if count > 1:
    gap = np.linalg.norm((observations[1:] - next_observations[:-1]).reshape(count - 1, -1), axis=1)
    ends[:-1] = (gap > DISCONTINUITY_TOLERANCE) | np.asarray(qlearning["terminals"][:-1], bool)
  ends[-1] = True
  trajectory = np.concatenate([[0], np.cumsum(ends)[:-1]])
  return np.bincount(trajectory, weights=np.asarray(qlearning["rewards"], np.float64))


def iql_return_range(qlearning: Mapping[str, np.ndarray]) -> Tuple[float, float]:
  """(min, max) trajectory return as the official IQL computes it for locomotion reward scaling."""
  returns = iql_trajectory_returns(qlearning)
  return float(returns.min()), float(returns.max())
