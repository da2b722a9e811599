"""The shared network initialiser: Haar-orthogonal like flax's, and free of LAPACK calls."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.agents import AGENT_NAMES, get_agent
from jaxinsert.networks import mlp
from jaxinsert.types import Spec


def test_orthonormal_columns_equal_the_sign_fixed_qr_factor():
  matrix = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (96, 40)))
  q, r = np.linalg.qr(matrix)
  expected = q * np.sign(np.diag(r))
  np.testing.assert_allclose(np.asarray(mlp._orthonormal_columns(jnp.asarray(matrix))),
                             expected, atol=2e-5)


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


@pytest.mark.parametrize("agent_name", AGENT_NAMES)
def test_seed_vmapped_agent_creation_has_no_lapack_call(agent_name):
  # A batched LAPACK call inside a seed-vmapped `create` hung XLA:CPU on two cores (see
  # mlp._orthonormal_columns); the lowered program must not contain one.
  agent = get_agent(agent_name)
  spec = Spec(obs_shape=(5,), action_dim=3)
  create = jax.jit(lambda keys: jax.vmap(agent.create, in_axes=(None, 0, None))(
      agent.get_config(), keys, spec))
  text = create.lower(jax.random.split(jax.random.PRNGKey(0), 2)).as_text()
  assert "lapack" not in text.lower()
