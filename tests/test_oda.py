"""The PEARL context encoder and the ODA agent (issue 15's unit tests, digest A11 ODA-3/ODA-4)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.agents import oda
from jaxinsert.data import samplers
from jaxinsert.networks import context as context_lib
from jaxinsert.types import Spec, Transition

SPEC = Spec(obs_shape=(3,), action_dim=1)


def small_config(**overrides):
  config = oda.get_config()
  config.latent_dim = 4
  config.policy_hidden_dims = (32, 32)
  config.critic_hidden_dims = (32, 32)
  config.encoder_hidden_dims = (32, 32)
  config.context_size = 16
  for name, value in overrides.items():
    config[name] = value
  return config


def transitions(key, count, task_id=0, action=None):
  k_obs, k_action, k_next = jax.random.split(key, 3)
  act = (jax.random.uniform(k_action, (count, 1), minval=-1, maxval=1) if action is None
         else jnp.full((count, 1), action))
  return Transition(obs=jax.random.normal(k_obs, (count, 3)), action=act,
                    reward=jnp.zeros(count), mask=jnp.ones(count),
                    next_obs=jax.random.normal(k_next, (count, 3)),
                    task_id=jnp.full((count,), task_id, jnp.int32),
                    domain_id=jnp.zeros(count, jnp.int32))


def factors(count, latent=4, seed=0):
  key_mu, key_var = jax.random.split(jax.random.PRNGKey(seed))
  mu = jax.random.normal(key_mu, (count, latent))
  variance = jax.nn.softplus(jax.random.normal(key_var, (count, latent))) + 0.1
  return mu, variance


def test_posterior_is_invariant_to_context_permutation():
  state = oda.create(small_config(), jax.random.PRNGKey(0), SPEC)
  context = transitions(jax.random.PRNGKey(1), 16)
  mask = jnp.ones(16)
  order = jax.random.permutation(jax.random.PRNGKey(2), 16)
  shuffled = jax.tree_util.tree_map(lambda x: x[order], context)
  mu, var = oda.posterior(state, state.encoder.params, context, mask)
  mu_shuffled, var_shuffled = oda.posterior(state, state.encoder.params, shuffled, mask)
  np.testing.assert_allclose(mu, mu_shuffled, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(var, var_shuffled, rtol=1e-5, atol=1e-7)


def test_posterior_variance_shrinks_as_the_context_grows():
  state = oda.create(small_config(), jax.random.PRNGKey(0), SPEC)
  context = transitions(jax.random.PRNGKey(3), 64)
  variances = []
  for count in (1, 4, 16, 64):
    mask = (jnp.arange(64) < count).astype(jnp.float32)
    variances.append(np.asarray(oda.posterior(state, state.encoder.params, context, mask)[1]))
  for smaller, larger in zip(variances[1:], variances[:-1]):
    assert np.all(smaller < larger), f"posterior variance did not shrink: {variances}"


def test_padding_is_masked_out_and_an_empty_context_is_the_prior():
  mu, variance = factors(8)
  padded_mu = jnp.concatenate([mu, 100 * jnp.ones((4, 4))])
  padded_var = jnp.concatenate([variance, 1e-3 * jnp.ones((4, 4))])
  mask = jnp.concatenate([jnp.ones(8), jnp.zeros(4)])
  expected = context_lib.product_of_gaussians(mu, variance, jnp.ones(8))
  got = context_lib.product_of_gaussians(padded_mu, padded_var, mask)
  np.testing.assert_allclose(got[0], expected[0], rtol=1e-5)
  np.testing.assert_allclose(got[1], expected[1], rtol=1e-5)
  prior_mu, prior_var = context_lib.product_of_gaussians(mu, variance, jnp.zeros(8))
  np.testing.assert_array_equal(prior_mu, 0.0)
  np.testing.assert_array_equal(prior_var, 1.0)


def test_product_of_gaussians_matches_the_normalised_product_density():
  # One latent dimension on a grid: the product of the factor densities, normalised numerically.
  mu, variance = factors(5, latent=1, seed=4)
  grid = np.linspace(-6, 6, 20001)
  log_density = sum(-0.5 * (grid - float(m)) ** 2 / float(v) for m, v in zip(mu[:, 0], variance[:, 0]))
  density = np.exp(log_density - log_density.max())
  density /= np.trapezoid(density, grid)
  mean = np.trapezoid(grid * density, grid)
  var = np.trapezoid((grid - mean) ** 2 * density, grid)
  post_mu, post_var = context_lib.product_of_gaussians(mu, variance, jnp.ones(5))
  np.testing.assert_allclose([post_mu[0], post_var[0]], [mean, var], rtol=1e-3, atol=1e-5)


def test_closed_form_kl_equals_a_monte_carlo_estimate_and_is_zero_at_the_prior():
  mu = jnp.array([0.5, -1.0, 0.2])
  variance = jnp.array([0.3, 1.5, 0.8])
  z = context_lib.sample(jax.random.PRNGKey(5), jnp.broadcast_to(mu, (400_000, 3)),
                         jnp.broadcast_to(variance, (400_000, 3)))
  log_q = -0.5 * jnp.sum((z - mu) ** 2 / variance + jnp.log(2 * jnp.pi * variance), -1)
  log_p = -0.5 * jnp.sum(z ** 2 + jnp.log(2 * jnp.pi), -1)
  monte_carlo = float(jnp.mean(log_q - log_p))
  closed = float(context_lib.kl_to_standard_normal(mu, variance))
  assert abs(monte_carlo - closed) < 0.01, (monte_carlo, closed)
  assert float(context_lib.kl_to_standard_normal(jnp.zeros(3), jnp.ones(3))) == 0.0


def meta_batch(key, num_tasks=2, per_task=32):
  offline = [transitions(jax.random.fold_in(key, t), 200, task_id=t) for t in range(num_tasks)]
  demos = [transitions(jax.random.fold_in(key, 100 + t), 40, task_id=t, action=0.5 - t)
           for t in range(num_tasks)]
  concat = lambda parts: jax.tree_util.tree_map(lambda *x: jnp.concatenate(x), *parts)
  episodes = lambda parts: np.concatenate([np.full(p.size, i) for i, p in enumerate(parts)])
  offline_index = samplers.index_dataset(concat(offline), episodes(offline))
  demo_index = samplers.index_dataset(concat(demos), episodes(demos))
  return samplers.demo_meta_batch(offline_index, demo_index, key, per_task, 16)


def test_a_context_never_mixes_tasks():
  batch = meta_batch(jax.random.PRNGKey(6), num_tasks=3)
  for slot, task in enumerate(np.asarray(batch.task_ids)):
    assert set(np.asarray(batch.context.task_id[slot]).tolist()) == {task}
    assert set(np.asarray(batch.batch.task_id[slot]).tolist()) == {task}


def test_actor_gradients_never_reach_the_encoder_and_critic_gradients_do():
  state = oda.create(small_config(), jax.random.PRNGKey(0), SPEC)
  batch = meta_batch(jax.random.PRNGKey(7))
  key = jax.random.PRNGKey(8)

  def actor_loss_through_encoder(encoder_params):
    mu, variance = oda.posterior(state, encoder_params, batch.context, batch.context_mask)
    z = context_lib.sample(key, mu, variance)
    return oda.actor_loss(state.actor.params, state, batch.batch, z, key)[0]

  # Jitted: op by op, these gradients took about a minute to dispatch on this CPU.
  actor_grads = jax.jit(jax.grad(actor_loss_through_encoder))(state.encoder.params)
  assert all(float(jnp.max(jnp.abs(g))) == 0.0 for g in jax.tree_util.tree_leaves(actor_grads))
  (encoder_grads, _), _ = jax.jit(jax.grad(oda.encoder_critic_loss, has_aux=True))(
      (state.encoder.params, state.critic.params), state, batch.batch, batch.context,
      batch.context_mask, key)
  assert max(float(jnp.max(jnp.abs(g))) for g in jax.tree_util.tree_leaves(encoder_grads)) > 0


def test_update_moves_every_network_and_is_finite():
  state = oda.create(small_config(), jax.random.PRNGKey(0), SPEC)
  new_state, metrics = jax.jit(oda.update)(state, meta_batch(jax.random.PRNGKey(9)),
                                           jax.random.PRNGKey(10))
  for name in ("encoder", "actor", "critic"):
    before = jax.tree_util.tree_leaves(getattr(state, name).params)
    after = jax.tree_util.tree_leaves(getattr(new_state, name).params)
    assert any(float(jnp.max(jnp.abs(a - b))) > 0 for a, b in zip(after, before)), name
  assert all(np.isfinite(float(v)) for v in metrics.values()), metrics


def test_an_unadapted_state_acts_at_the_prior_and_finetuning_takes_plain_batches():
  state = oda.create(small_config(), jax.random.PRNGKey(0), SPEC)
  obs = jax.random.normal(jax.random.PRNGKey(23), (2, 3))
  np.testing.assert_array_equal(oda.act(state, obs, jax.random.PRNGKey(0), True),
                                oda.act_with_latent(state, obs, jnp.zeros(4), None, True))
  _, metrics = jax.jit(oda.update)(state, transitions(jax.random.PRNGKey(24), 8),
                                   jax.random.PRNGKey(0))
  assert float(metrics["kl"]) == 0.0 and float(metrics["z_variance"]) == 1.0   # the prior
  adapted = oda.adapt(state, transitions(jax.random.PRNGKey(11), 30), capacity=48)
  assert adapted.context_mask.shape == (48,) and float(adapted.context_mask.sum()) == 30
  action = oda.act(adapted, jnp.zeros((2, 3)), jax.random.PRNGKey(0), True)
  assert action.shape == (2, 1)
  new_state, metrics = jax.jit(oda.update)(adapted, transitions(jax.random.PRNGKey(12), 32),
                                           jax.random.PRNGKey(13))
  assert np.isfinite(float(metrics["critic_loss"]))
  assert new_state.context_mask.shape == (48,)


def test_a_critic_warm_up_holds_the_actor_still_while_critic_and_encoder_learn():
  config = small_config(actor_delay_steps=2)
  adapted = oda.adapt(oda.create(small_config(), jax.random.PRNGKey(0), SPEC),
                      transitions(jax.random.PRNGKey(11), 30))
  state = oda.with_optimizers(adapted, config)
  update = jax.jit(oda.update)
  moved = lambda a, b: any(float(jnp.max(jnp.abs(x - y))) > 0 for x, y in zip(
      jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params)))
  history = [state]
  for step in range(3):
    state, _ = update(state, transitions(jax.random.PRNGKey(30 + step), 16),
                      jax.random.PRNGKey(40 + step))
    history.append(state)
  for before, after in zip(history[:2], history[1:3]):
    assert not moved(before.actor, after.actor), "the actor moved inside its delay"
    assert moved(before.critic, after.critic) and moved(before.encoder, after.encoder)
  assert moved(history[2].actor, history[3].actor), "the actor learns once the delay is over"


@pytest.mark.parametrize("latent", ["sample", "mean"])
def test_finetuning_at_the_mean_trains_on_the_z_the_policy_acts_with(latent):
  demos = transitions(jax.random.PRNGKey(11), 30)
  state = oda.adapt(oda.create(small_config(adapted_latent=latent), jax.random.PRNGKey(0), SPEC),
                    demos, capacity=40)
  batch, context, mask = oda._adapted_meta_batch(state, transitions(jax.random.PRNGKey(12), 8),
                                                 jax.random.PRNGKey(1))
  loss = jax.jit(oda.encoder_critic_loss, static_argnums=(7,))
  params = (state.encoder.params, state.critic.params)
  z = [loss(params, state, batch, context, mask, jax.random.PRNGKey(k), None, latent == "sample")[1][1]
       for k in (2, 3)]
  acting = oda.task_latent(state)
  if latent == "mean":
    np.testing.assert_allclose(z[0][0], acting, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(z[0], z[1])
  else:
    assert not np.allclose(z[0], z[1]) and not np.allclose(z[0][0], acting, atol=1e-3)


@pytest.mark.timeout(120)
def test_the_latent_carries_the_task_a_no_context_policy_cannot_see():
  # Two tasks with the same states; reward exp(-(a - a*)^2 / 0.1) with a* = +0.6 or -0.6.
  # Demonstrations show a*; the offline actions are uniform. Only z tells the tasks apart.
  config = small_config(beta=10.0, discount=0.0)
  targets = (0.6, -0.6)
  key = jax.random.PRNGKey(14)
  offline, demos = [], []
  for task, target in enumerate(targets):
    rows = transitions(jax.random.fold_in(key, task), 2000, task_id=task)
    offline.append(rows.replace(reward=jnp.exp(-(rows.action[:, 0] - target) ** 2 / 0.1)))
    demo = transitions(jax.random.fold_in(key, 10 + task), 40, task_id=task, action=target)
    demos.append(demo.replace(reward=jnp.ones(40)))
  concat = lambda parts: jax.tree_util.tree_map(lambda *x: jnp.concatenate(x), *parts)
  episodes = lambda parts: np.concatenate([np.full(p.size, i) for i, p in enumerate(parts)])
  offline_index = samplers.index_dataset(concat(offline), episodes(offline))
  demo_index = samplers.index_dataset(concat(demos), episodes(demos))
  state = oda.create(config, jax.random.PRNGKey(15), SPEC)

  @jax.jit
  def train(state, key):
    def body(state, key):
      batch = samplers.demo_meta_batch(offline_index, demo_index, key, 64, 16)
      return oda.update(state, batch, key)[0], None
    return jax.lax.scan(body, state, jax.random.split(key, 1500))[0]

  state = train(state, jax.random.PRNGKey(16))
  obs = jax.random.normal(jax.random.PRNGKey(17), (64, 3))
  means = [float(jnp.mean(oda.act(oda.adapt(state, d), obs, key, True))) for d in demos]
  assert means[0] > 0.3 and means[1] < -0.3, f"adapted policies act {means} (targets {targets})"


def test_sarsa_targets_use_the_next_rows_action_of_the_same_episode():
  episodes = np.repeat(np.arange(4), 5)          # 4 episodes of 5 transitions, one task
  rows = transitions(jax.random.PRNGKey(18), 20).replace(
      action=jnp.arange(20, dtype=jnp.float32)[:, None])
  index = samplers.index_dataset(rows, episodes)
  batch = samplers.demo_meta_batch(index, index, jax.random.PRNGKey(19), 64, 4)
  action, next_action = np.asarray(batch.batch.action[0, :, 0]), np.asarray(batch.next_action[0, :, 0])
  last = action % 5 == 4
  np.testing.assert_array_equal(next_action[~last], action[~last] + 1)
  np.testing.assert_array_equal(next_action[last], action[last])   # an episode's last row


def test_without_context_z_is_zero_and_the_encoder_learns_nothing():
  state = oda.create(small_config(use_context=False), jax.random.PRNGKey(0), SPEC)
  batch = meta_batch(jax.random.PRNGKey(20))
  (encoder_grads, _), (metrics, z) = jax.grad(oda.encoder_critic_loss, has_aux=True)(
      (state.encoder.params, state.critic.params), state, batch.batch, batch.context,
      batch.context_mask, jax.random.PRNGKey(21))
  assert float(jnp.max(jnp.abs(z))) == 0.0 and float(metrics["kl"]) == 0.0
  assert all(float(jnp.max(jnp.abs(g))) == 0.0 for g in jax.tree_util.tree_leaves(encoder_grads))
  adapted = oda.adapt(state, transitions(jax.random.PRNGKey(22), 10))
  assert float(jnp.max(jnp.abs(oda.task_latent(adapted)))) == 0.0
