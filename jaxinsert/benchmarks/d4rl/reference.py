"""D4RL's reference returns per environment, and the normalised score built from them.

A D4RL score is `100 * (R - R_random) / (R_expert - R_random)`: 0 is a random policy, 100 an
expert (online SAC for locomotion, human demonstrations for Adroit), for AntMaze the success
rate in percent, for Kitchen the percentage of the 4 subtasks solved.

Source: Farama-Foundation/D4RL `d4rl/infos.py` at commit 89141a6 (`REF_MIN_SCORE`,
`REF_MAX_SCORE`), as quoted in ../shared/reference/anchors/offline_rl_frameworks.md §2.3 and
004_thesis_part2_digest.md §1.5. D4RL gives every dataset of an environment the same two numbers
(its v1/v2 locomotion entries copy `<env>-random-v0`, Adroit v1 copies `<env>-human-v0`), so they
are vendored here per environment: scoring never needs `d4rl` installed.

The returns were measured in D4RL's mujoco-py environments. Scoring a gymnasium `Hopper-v5`
rollout with them is the usual practice but not the same simulator; the benchmark scripts say so.
"""

from __future__ import annotations

import dataclasses
import re

SOURCE = "Farama-Foundation/D4RL d4rl/infos.py @ 89141a6 (REF_MIN_SCORE, REF_MAX_SCORE)"


@dataclasses.dataclass(frozen=True)
class ReferenceReturns:
  """The two undiscounted episode returns D4RL normalises by (REF_MIN_SCORE, REF_MAX_SCORE)."""

  random: float
  expert: float


# Keyed by D4RL's environment prefix (the part of a dataset name before the first "-").
REFERENCE_RETURNS: dict[str, ReferenceReturns] = {
    "halfcheetah": ReferenceReturns(random=-280.178953, expert=12135.0),
    "hopper": ReferenceReturns(random=-20.272305, expert=3234.3),
    "walker2d": ReferenceReturns(random=1.629008, expert=4592.3),
    "ant": ReferenceReturns(random=-325.6, expert=3879.7),
    # AntMaze's reward is 1 on reaching the goal, so the score is the success rate in percent.
    "antmaze": ReferenceReturns(random=0.0, expert=1.0),
    # Kitchen's return counts the subtasks solved, of 4.
    "kitchen": ReferenceReturns(random=0.0, expert=4.0),
    "pen": ReferenceReturns(random=96.262799, expert=3076.8331017826877),
    "hammer": ReferenceReturns(random=-274.856578, expert=12794.134825156867),
    "door": ReferenceReturns(random=-56.512833, expert=2880.5693087298737),
    "relocate": ReferenceReturns(random=-6.425911, expert=4233.877797728884),
}

_VERSION_SUFFIX = re.compile(r"-v\d+$")


def environment_family(env_or_dataset_name: str) -> str:
  """The D4RL environment a name refers to: "hopper-medium-v2", "Hopper-v5", "hopper" -> "hopper".

  Raises ValueError for names D4RL gives no reference returns (or whose reward differs from the
  one the references were measured with, such as the -1/0 "binary" Adroit tasks).
  """
  name = env_or_dataset_name.strip().lower()
  if "binary" in name.split("-"):
    # pen-binary-v0 & co. (AWAC/IQL finetuning) use a -1/0 reward: D4RL's Adroit returns would
    # produce meaningless numbers, and the thesis normalises those tasks by its own rule.
    raise ValueError(
        f"{env_or_dataset_name!r} is a binary-reward Adroit task; D4RL's reference returns "
        "were measured with the dense reward and do not apply.")
  family = _VERSION_SUFFIX.sub("", name).split("-")[0]
  if family not in REFERENCE_RETURNS:
    raise ValueError(
        f"No D4RL reference returns for {env_or_dataset_name!r} (read as environment "
        f"{family!r}); known environments: {', '.join(sorted(REFERENCE_RETURNS))}.")
  return family


def reference_returns(env_or_dataset_name: str) -> ReferenceReturns:
  """D4RL's random and expert returns for the environment of a dataset or env name."""
  return REFERENCE_RETURNS[environment_family(env_or_dataset_name)]


def normalized_score(env_or_dataset_name: str, raw_return):
  """D4RL's normalised score, 0 = random and 100 = expert (works on floats and NumPy arrays).

  This is `d4rl.get_normalized_score(...) * 100`, the scale every published table uses.
  """
  reference = reference_returns(env_or_dataset_name)
  return 100.0 * (raw_return - reference.random) / (reference.expert - reference.random)


def raw_return(env_or_dataset_name: str, score):
  """The inverse of `normalized_score`: the episode return a normalised score stands for."""
  reference = reference_returns(env_or_dataset_name)
  return reference.random + score / 100.0 * (reference.expert - reference.random)
