"""Built-in environments and datasets by name: what `--config.dataset.kind=builtin` loads.

Datasets are generated on the fly (a second or two, one jitted rollout) from a key, so they
need no files and no network. Names:
  pointmass-mixed       goal, decoy and random episodes (the quick-start task; BC fails on it)
  pointmass-expert      goal-directed noisy scripted episodes only
  probe-one-step, probe-two-step, probe-action-reward   uniform-random-action probe data
"""

from __future__ import annotations

from typing import Callable, Dict, Tuple

import jax

from jaxinsert.envs import pointmass, probes
from jaxinsert.envs.rollout import agent_spec
from jaxinsert.types import Spec, Transition

POINTMASS_EPISODES = 1000       # ~37k transitions for pointmass-mixed
POINTMASS_ACTION_NOISE = 0.3    # std of the scripted controllers' Gaussian action noise
PROBE_EPISODES = 1000

ENVS: Dict[str, Callable[[], object]] = {
    "pointmass": pointmass.PointMass,
    **{f"probe-{name}": probe for name, probe in probes.PROBES.items()},
}

_DATASETS: Dict[str, Tuple[str, Callable[[jax.Array], Transition]]] = {
    "pointmass-mixed": ("pointmass", lambda key: pointmass.make_dataset(
        key, POINTMASS_EPISODES, POINTMASS_ACTION_NOISE)),
    "pointmass-expert": ("pointmass", lambda key: pointmass.make_expert_dataset(
        key, POINTMASS_EPISODES, POINTMASS_ACTION_NOISE)),
    **{f"probe-{name}": (f"probe-{name}", lambda key, name=name: probes.probe_dataset(
        probes.make_probe(name), key, PROBE_EPISODES)) for name in probes.PROBES},
}
BUILTIN_DATASETS = tuple(_DATASETS)


def make_builtin_env(name: str):
  """A functional environment by name ("pointmass", "probe-two-step", ...)."""
  if name not in ENVS:
    raise ValueError(f"unknown built-in environment {name!r}; known: {', '.join(ENVS)}")
  return ENVS[name]()


def load_builtin_dataset(name: str, key: jax.Array) -> Tuple[Transition, Spec]:
  """The named dataset (generated from `key`) and the agent spec of its environment."""
  if name not in _DATASETS:
    raise ValueError(f"unknown built-in dataset {name!r}; known: {', '.join(BUILTIN_DATASETS)}")
  env_name, generate = _DATASETS[name]
  return generate(key), agent_spec(make_builtin_env(env_name).spec)
