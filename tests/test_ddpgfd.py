"""DDPGfD (the ODA paper's from-scratch baseline): the cloning term acts on the demonstration
rows only, the Q-filter keeps exactly the rows where the critic prefers the demonstration, and
the agent learns to imitate the demonstrations it is given."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.agents import ddpgfd
from jaxinsert.types import Spec, Transition

SPEC = Spec(obs_shape=(4,), action_dim=2)
BATCH, DEMO_ROWS = 16, 8


def _config(**changes):
  config = ddpgfd.get_config()
  config.hidden_dims = (32, 32)
  config.demo_rows = DEMO_ROWS
  for name, value in changes.items():
    config[name] = value
  return config


def _batch(key, demo_action, other_action, reward=0.0) -> Transition:
  obs = jax.random.normal(key, (BATCH, 4))
  action = jnp.concatenate([jnp.full((DEMO_ROWS, 2), demo_action),
                            jnp.full((BATCH - DEMO_ROWS, 2), other_action)])
  return Transition(obs=obs, action=action, reward=jnp.full((BATCH,), reward),
                    mask=jnp.ones(BATCH), next_obs=obs)


@pytest.mark.timeout(60)
def test_cloning_loss_reads_only_the_demonstration_rows():
  state = ddpgfd.create(_config(q_filter=False), jax.random.PRNGKey(0), SPEC)
  loss = jax.jit(lambda b: ddpgfd.actor_loss(state.actor.params, state, b)[1]["bc_loss"])
  key = jax.random.PRNGKey(1)
  first = float(loss(_batch(key, 0.5, -0.5)))
  changed = float(loss(_batch(key, 0.5, 0.9)))
  assert first > 0
  assert changed == pytest.approx(first), "the cloning loss moved with a non-demonstration row"
  assert float(loss(_batch(key, -0.7, -0.5))) != pytest.approx(first), \
      "the cloning loss ignores the demonstration rows"


@pytest.mark.timeout(60)
def test_q_filter_keeps_the_rows_where_the_critic_prefers_the_demonstration():
  state = ddpgfd.create(_config(), jax.random.PRNGKey(3), SPEC)
  batch = _batch(jax.random.PRNGKey(4), 0.8, 0.0)
  metrics = jax.jit(lambda b: ddpgfd.actor_loss(state.actor.params, state, b)[1])(batch)
  demo_obs, demo_action = batch.obs[:DEMO_ROWS], batch.action[:DEMO_ROWS]
  policy_action = state.actor.apply(demo_obs)
  prefers_demo = (state.critic.apply(demo_obs, demo_action)[0]
                  > state.critic.apply(demo_obs, policy_action)[0])
  errors = jnp.sum((policy_action - demo_action) ** 2, -1)
  assert 0 < float(jnp.mean(prefers_demo)) < 1, "pick another seed: the filter is all or none"
  np.testing.assert_allclose(float(metrics["q_filter_kept"]), float(jnp.mean(prefers_demo)))
  np.testing.assert_allclose(float(metrics["bc_loss"]), float(jnp.mean(prefers_demo * errors)),
                             rtol=1e-5)


@pytest.mark.timeout(120)
def test_learns_the_demonstrated_action_not_the_other_rows():
  # No reward anywhere, so the critic gives the actor nothing to prefer; the cloning loss on the
  # demonstration rows (+0.5) must win over the other rows (-0.5), which it must not imitate.
  state = ddpgfd.create(_config(q_filter=False, bc_weight=10.0), jax.random.PRNGKey(5), SPEC)

  def step(state, key):
    batch_key, update_key = jax.random.split(key)
    return ddpgfd.update(state, _batch(batch_key, 0.5, -0.5), update_key)[0], None

  state, _ = jax.jit(lambda s, k: jax.lax.scan(step, s, jax.random.split(k, 400)))(
      state, jax.random.PRNGKey(6))
  actions = ddpgfd.act(state, jax.random.normal(jax.random.PRNGKey(7), (64, 4)),
                       jax.random.PRNGKey(8), True)
  assert float(jnp.mean(actions)) == pytest.approx(0.5, abs=0.1), \
      f"mean action {float(jnp.mean(actions)):.2f}, demonstrations 0.5, other rows -0.5"


@pytest.mark.timeout(60)
def test_no_demonstration_rows_is_ddpg():
  state = ddpgfd.create(_config(demo_rows=0), jax.random.PRNGKey(5), SPEC)
  batch = _batch(jax.random.PRNGKey(6), 0.8, 0.0)
  loss, metrics = jax.jit(lambda b: ddpgfd.actor_loss(state.actor.params, state, b))(batch)
  q_policy = state.critic.apply(batch.obs, state.actor.apply(batch.obs))[0]
  np.testing.assert_allclose(float(loss), -float(jnp.mean(q_policy)), rtol=1e-5)
  assert float(metrics["bc_loss"]) == 0.0
