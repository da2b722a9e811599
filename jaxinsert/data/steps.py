"""Assembles the `steps` of one RLDS episode from per-row arrays, the way every source needs it.

Rows are (observation, action, reward) triples. When the observation after the last row is
known, it becomes one more step with zero action and reward (the RLDS final step); otherwise the
last row is the final step and its transition has no next observation. Discounts follow TFDS's
D4RL builders: 0 on the appended final step, and 0 on the last real step of a terminal episode.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import numpy as np


def _append_zero(values: np.ndarray) -> np.ndarray:
  return np.concatenate([values, np.zeros_like(values[:1])])


def rlds_steps(observation: Mapping[str, np.ndarray], action: np.ndarray, reward: np.ndarray, *,
               final_observation: Optional[Mapping[str, np.ndarray]], terminal: bool,
               infos: Optional[Mapping[str, np.ndarray]] = None) -> Dict[str, Any]:
  """Steps from T rows plus, when known, the observation after them (T + 1 steps then).

  `terminal` only marks the final step when there is a final observation to mark: a terminal
  state that was never observed cannot be the is_terminal step.
  """
  rows = len(action)
  observation = {name: np.asarray(value)[:rows] for name, value in observation.items()}
  infos = {name: np.asarray(value)[:rows] for name, value in (infos or {}).items()}
  appended = final_observation is not None
  if appended:
    observation = {name: np.concatenate([value, np.asarray(final_observation[name])[None]])
                   for name, value in observation.items()}
    action, reward = _append_zero(np.asarray(action)), _append_zero(np.asarray(reward))
    infos = {name: _append_zero(value) for name, value in infos.items()}
  length = len(action)
  discount = np.ones(length, np.float32)
  if appended:
    discount[-1] = 0.0
    if terminal and length > 1:
      discount[-2] = 0.0
  index = np.arange(length)
  steps = {"observation": observation, "action": action, "reward": reward, "discount": discount,
           "is_first": index == 0, "is_last": index == length - 1,
           "is_terminal": (index == length - 1) & bool(terminal and appended)}
  if infos:
    steps["infos"] = infos
  return steps
