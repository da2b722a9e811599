"""The shared network initialiser: Haar-orthogonal like flax's, and free of LAPACK calls."""

import jax
import numpy as np
import pytest

from jaxinsert.agents import AGENT_NAMES
from jaxinsert.networks import mlp
from jaxinsert.types import Spec


@pytest.mark.parametrize("shape", [(17, 256), (256, 256), (256, 3)])
def test_orthogonal_initializer_draws_what_flax_draws_for_the_same_key(shape):
  # The same Gaussian matrix, factored without LAPACK: earlier runs' initial networks are
  # kept to float32 rounding, so results recorded before the change stay comparable.
  import flax.linen as nn

  key = jax.random.PRNGKey(4)
  np.testing.assert_allclose(np.asarray(mlp.orthogonal(2**0.5)(key, shape)),
                             np.asarray(nn.initializers.orthogonal(2**0.5)(key, shape)),
                             atol=5e-6)


@pytest.mark.parametrize("shape", [(7, 64), (64, 64), (64, 3), (2, 5, 4)])
def test_orthogonal_initializer_gives_orthonormal_rows_or_columns(shape):
  scale = 1.7
  weights = np.asarray(mlp.orthogonal(scale)(jax.random.PRNGKey(0), shape)).reshape(-1, shape[-1])
  assert weights.shape == (int(np.prod(shape[:-1])), shape[-1])
  gram = weights.T @ weights if weights.shape[0] >= weights.shape[1] else weights @ weights.T
  np.testing.assert_allclose(gram, scale**2 * np.eye(len(gram)), atol=1e-4)


def test_orthogonal_initializer_rejects_a_vector_shape():
  with pytest.raises(ValueError, match="2-D"):
    mlp.orthogonal()(jax.random.PRNGKey(0), (5,))


# The run agents, and the seed systems' agents that take other batches (MetaBatch, HER rows)
# and so are not in AGENT_NAMES, but are created seed-vmapped all the same.
SEED_SYSTEM_AGENTS = ("pearl", "smac", "gciql")


@pytest.mark.parametrize("agent_name", AGENT_NAMES + SEED_SYSTEM_AGENTS)
def test_seed_vmapped_agent_creation_has_no_lapack_call(agent_name):
  # A batched LAPACK call inside a seed-vmapped `create` hung XLA:CPU on two cores (see
  # mlp._orthonormal_columns); the lowered program must not contain one.
  import importlib

  agent = importlib.import_module(f"jaxinsert.agents.{agent_name}")
  spec = Spec(obs_shape=(5,), action_dim=3)
  create = jax.jit(lambda keys: jax.vmap(agent.create, in_axes=(None, 0, None))(
      agent.get_config(), keys, spec))
  text = create.lower(jax.random.split(jax.random.PRNGKey(0), 2)).as_text()
  assert "lapack" not in text.lower()
