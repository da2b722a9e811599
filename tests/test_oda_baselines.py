"""Digest A10's other ODA baselines: the per-task policy gives environment i the action of task
i % T's own agent (the evaluator's layout), for BC and for DDPG agents."""

import types

import jax
import numpy as np
import pytest

from jaxinsert.agents import bc, ddpgfd
from jaxinsert.training import oda_studies
from jaxinsert.types import Spec


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method,module", [("bc_demos", bc), ("offline_ddpg", ddpgfd)])
def test_each_environment_acts_with_its_own_tasks_agent(method, module):
  config = module.get_config()
  config.hidden_dims = (8, 8)
  spec = Spec((5,), 3)
  states = [module.create(config, jax.random.PRNGKey(i), spec) for i in range(3)]
  shift = np.full(5, 0.5, np.float32)   # the normaliser is applied before acting
  pipeline = types.SimpleNamespace(jitted_policies={},
                                   data=lambda: {"normalizer": lambda obs: obs - shift})
  policy = oda_studies.per_task_policy(pipeline, method, states)
  obs = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
  actions = policy(obs)
  assert actions.shape == (7, 3)
  for row in range(7):
    alone = module.act(states[row % 3], obs[row:row + 1] - shift, jax.random.PRNGKey(1), True)
    np.testing.assert_allclose(actions[row], np.asarray(alone)[0], rtol=1e-5, atol=1e-6)
  # the agents differ, so a dispatch to the wrong agent cannot pass
  other = module.act(states[0], obs[1:2] - shift, jax.random.PRNGKey(1), True)
  assert not np.allclose(actions[1], np.asarray(other)[0], atol=1e-4)


def test_unknown_other_baselines_are_refused_naming_the_field():
  config = types.SimpleNamespace(get=lambda name, default: ("bc_demos", "ddpg"))
  with pytest.raises(ValueError, match="config.other_baselines"):
    oda_studies.other_baselines_settings(config)
