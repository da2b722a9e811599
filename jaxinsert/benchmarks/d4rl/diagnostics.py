"""Where an advantage-weighted actor puts its weight on a D4RL-layout dataset.

IQL's and AWAC's actors regress on dataset actions weighted by min(exp(beta * A), cap). When a
run degrades on one dataset and not on another, the first question is which transitions
dominate those weights. `advantage_profile` answers it from a trained value and critic:

  - how well V tracks the discounted Monte-Carlo return of the data (both in scaled rewards);
  - the mean V, Monte-Carlo return and advantage k steps before a terminal (a fall);
  - the share of the actor's total weight that lands in the last `window` steps before terminals,
    beside the share of transitions that lie there.

It found why IQL degrades on our hopper-medium (WORKSPACE_NOTES, session 4): there the
pre-fall transitions carry positive advantages and ~5x their share of the weight.
"""

from __future__ import annotations

from typing import Callable, Dict, Sequence, Tuple

import numpy as np


def episode_bounds(terminals: np.ndarray, timeouts: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """First and last row of every episode of a D4RL-layout file (a tail without an end is dropped)."""
  ends = np.flatnonzero(np.asarray(terminals, bool) | np.asarray(timeouts, bool))
  starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
  return starts, ends


def discounted_returns(rewards: np.ndarray, terminals: np.ndarray, timeouts: np.ndarray,
                       discount: float) -> np.ndarray:
  """The discounted return from every row to its episode's end (no bootstrap at a timeout)."""
  rewards = np.asarray(rewards, np.float64)
  out = np.zeros_like(rewards)
  for start, end in zip(*episode_bounds(terminals, timeouts)):
    running = 0.0
    for row in range(end, start - 1, -1):
      running = rewards[row] + discount * running
      out[row] = running
  return out


def advantage_profile(value_fn: Callable[[np.ndarray], np.ndarray],
                      q_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
                      data: Dict[str, np.ndarray], reward_scale: float, discount: float,
                      beta: float, weight_cap: float, window: int = 50,
                      offsets: Sequence[int] = (1, 10, 25, 50, 100, 200),
                      batch: int = 100_000) -> Dict[str, object]:
  """Advantages of the dataset's actions and where the actor's weights go; see the module doc.

  `value_fn(obs) -> V` and `q_fn(obs, actions) -> Q` take and return numpy arrays (one row per
  transition); `data` holds D4RL's observations, actions, rewards, terminals and timeouts.
  """
  for name in ("observations", "actions", "rewards", "terminals", "timeouts"):
    if name not in data:
      raise KeyError(f"advantage_profile: the dataset has no {name!r} array "
                     f"(it has {sorted(data)})")
  obs, actions = data["observations"], data["actions"]
  values = np.concatenate([np.asarray(value_fn(obs[i:i + batch])).reshape(-1)
                           for i in range(0, len(obs), batch)])
  qs = np.concatenate([np.asarray(q_fn(obs[i:i + batch], actions[i:i + batch])).reshape(-1)
                       for i in range(0, len(obs), batch)])
  advantages = qs - values
  weights = np.exp(np.minimum(beta * advantages, np.log(weight_cap)))  # min(exp(beta A), cap)
  returns = discounted_returns(np.asarray(data["rewards"]) * reward_scale, data["terminals"],
                               data["timeouts"], discount)
  terminals = np.asarray(data["terminals"], bool)
  starts, ends = episode_bounds(terminals, data["timeouts"])
  fell = terminals[ends]
  before_terminal = {}
  for k in offsets:
    rows = np.array([end - k for start, end in zip(starts[fell], ends[fell]) if end - k >= start],
                    np.int64)
    if rows.size:
      before_terminal[int(k)] = {"episodes": int(rows.size), "v": float(values[rows].mean()),
                                 "mc_return": float(returns[rows].mean()),
                                 "advantage": float(advantages[rows].mean())}
  near = np.zeros(len(obs), bool)
  for start, end in zip(starts[fell], ends[fell]):
    near[max(start, end - window + 1):end + 1] = True
  elsewhere = ~near
  with np.errstate(invalid="ignore", divide="ignore"):  # nan when V is constant
    correlation = float(np.corrcoef(values, returns)[0, 1])
  return {
      "transitions": int(len(obs)), "episodes": int(len(ends)), "terminal_episodes": int(fell.sum()),
      "v_mean": float(values.mean()), "mc_return_mean": float(returns.mean()),
      "v_mc_correlation": correlation,
      "advantage_mean": float(advantages.mean()),
      "before_terminal": before_terminal, "window": int(window),
      "window_transition_share": float(near.mean()),
      "window_weight_share": float(weights[near].sum() / weights.sum()),
      "window_mean_weight": float(weights[near].mean()) if near.any() else float("nan"),
      "elsewhere_mean_weight": float(weights[elsewhere].mean()) if elsewhere.any() else float("nan"),
  }


def format_profile(profile: Dict[str, object]) -> str:
  lines = [f"{profile['transitions']:,} transitions, {profile['episodes']} episodes, "
           f"{profile['terminal_episodes']} end in a terminal",
           f"V mean {profile['v_mean']:.2f}, discounted MC return mean "
           f"{profile['mc_return_mean']:.2f}, correlation {profile['v_mc_correlation']:.3f}",
           "steps before terminal |   V    | MC return | advantage"]
  for k, row in profile["before_terminal"].items():
    lines.append(f"{k:>21} | {row['v']:6.2f} | {row['mc_return']:9.2f} | {row['advantage']:+.3f}")
  lines.append(f"last {profile['window']} steps before terminals: "
               f"{profile['window_transition_share']:.1%} of transitions, "
               f"{profile['window_weight_share']:.1%} of the actor's weight (mean weight "
               f"{profile['window_mean_weight']:.2f} there, {profile['elsewhere_mean_weight']:.2f} "
               f"elsewhere)")
  return "\n".join(lines)
