"""Pure functional agents, one module each.

Every agent module exposes the same four functions:
  get_config() -> ml_collections.ConfigDict      defaults, a comment on every field
  create(config, key, spec) -> state             state is a flax.struct pytree (vmap-able)
  update(state, batch, key) -> (state, metrics)  pure, jit-able; metrics are scalars
  act(state, obs, key, deterministic) -> action  actions in [-1, 1]
Hyper-parameters that shape the computation are static fields of the state, so `create` with
the same config rebuilds an identical tree (what checkpoint restore relies on).
"""

from __future__ import annotations

import importlib
from types import ModuleType

AGENT_NAMES = ("bc", "iql", "awac", "sac", "td3", "oda", "ddpgfd")


def get_agent(name: str) -> ModuleType:
  if name not in AGENT_NAMES:
    raise ValueError(f"unknown agent {name!r}; known agents: {', '.join(AGENT_NAMES)}")
  return importlib.import_module(f"jaxinsert.agents.{name}")
