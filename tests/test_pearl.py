"""Online PEARL (SMAC's data source and reference) and the meta-test harness (SMAC S11).

PEARL's encoder learns from the critic loss and the KL, never from the actor loss; an iteration
clears the sampled tasks' encoder windows before refilling them with prior-z data, and posterior
data goes to the RL buffer only; the meta-test harness is reproducible from its key.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.agents import pearl
from jaxinsert.data import task_replay
from jaxinsert.data.samplers import MetaBatch
from jaxinsert.envs import meta_families
from jaxinsert.training import meta_rl, smac_loops
from jaxinsert.types import Spec, Transition

SPEC = Spec(obs_shape=(2,), action_dim=2)
ENV = meta_families.PointRobot(reward_type="dense", max_episode_steps=5)
GOALS = jnp.asarray(meta_families.point_robot_goals(0, 3))


@functools.lru_cache(maxsize=None)
def _state():
  config = pearl.get_config()
  config.update(dict(policy_hidden_dims=(16,), critic_hidden_dims=(16,),
                     encoder_hidden_dims=(16,), latent_dim=2))
  return pearl.create(config, jax.random.PRNGKey(0), SPEC)


def _rows(key, leading):
  keys = jax.random.split(key, 4)
  return Transition(obs=jax.random.normal(keys[0], leading + (2,)),
                    action=jax.random.uniform(keys[1], leading + (2,), minval=-0.9, maxval=0.9),
                    reward=jax.random.normal(keys[2], leading), mask=jnp.ones(leading),
                    next_obs=jax.random.normal(keys[3], leading + (2,)))


def _norm(tree):
  return sum(float(jnp.sum(jnp.abs(x))) for x in jax.tree_util.tree_leaves(tree))


def test_pearl_trains_the_encoder_with_the_critic_loss_and_never_with_the_actor_loss():
  state = _state()
  batch = MetaBatch(batch=_rows(jax.random.PRNGKey(1), (2, 6)),
                    context=_rows(jax.random.PRNGKey(2), (2, 4)), context_mask=jnp.ones((2, 4)),
                    task_ids=jnp.arange(2))

  @jax.jit
  def gradients(state, batch):
    key = jax.random.PRNGKey(3)

    def actor_through_encoder(encoder_params):
      mu, variance = pearl.posterior(state, encoder_params, batch.context, batch.context_mask)
      z = pearl.context_lib.sample(key, mu, variance)
      return pearl.actor_loss(state.actor.params, state, batch.batch, z, key)[0]

    critic = jax.grad(lambda p: pearl.encoder_critic_loss(
        p, state, batch.batch, batch.context, batch.context_mask, key)[0])(
            (state.encoder.params, state.critic.params))[0]
    return critic, jax.grad(actor_through_encoder)(state.encoder.params)

  critic_grads, actor_grads = gradients(state, batch)
  assert _norm(critic_grads) > 0.0, "the critic loss and the KL must reach PEARL's encoder"
  assert _norm(actor_grads) == 0.0, "the actor loss reached the encoder (z must be detached)"


@pytest.mark.slow
def test_a_pearl_iteration_clears_the_sampled_encoder_windows_and_fills_both_buffers():
  state, horizon = _state(), ENV.spec.max_episode_steps
  empty = lambda: task_replay.empty(3, 40, 2, 2)
  buffers = smac_loops.Buffers(empty(), empty(), task_replay.empty(1, 1, 2, 2))
  buffers = smac_loops.pearl_initial(ENV, state, buffers, GOALS, 2, jax.random.PRNGKey(0))
  assert np.asarray(buffers.rl.count).tolist() == [2 * horizon] * 3
  # 1 task per iteration, 1 prior and 2 posterior trajectories, 2 updates.
  loop = (1, 1, 2, 2, 2, 4, 3)
  state, after, metrics = smac_loops.pearl_iteration(ENV, loop, state, buffers, GOALS,
                                                     jax.random.PRNGKey(1))
  assert buffers.rl.data.obs.is_deleted(), "the input buffers are donated to the output"
  grown = np.flatnonzero(np.asarray(after.rl.count) > 2 * horizon)
  assert grown.size == 1, "exactly the sampled task gets new data"
  task = int(grown[0])
  assert int(after.rl.count[task]) == 2 * horizon + 3 * horizon, "prior + posterior into RL"
  assert int(after.encoder.count[task]) == 3 * horizon, "only prior data into the encoder"
  assert int(after.encoder.start[task]) == 2 * horizon, "the encoder window was not cleared"
  assert all(np.isfinite(float(v)) for v in metrics.values())


@pytest.mark.slow
def test_the_meta_test_harness_is_reproducible_and_scores_every_trajectory():
  state = _state()
  run = jax.jit(functools.partial(meta_rl.meta_test, ENV, pearl), static_argnums=(3, 4))
  returns = run(state, GOALS, jax.random.PRNGKey(0), 3, 2)
  assert returns.shape == (3, 2, 3), "[tasks, repeats, trajectories]"
  assert np.array_equal(returns, run(state, GOALS, jax.random.PRNGKey(0), 3, 2))
  # Deterministic actions: the same z gives the same trajectory, so differences between the
  # repeats' first trajectories come only from the prior draws of z.
  assert not np.allclose(returns[:, 0, 0], returns[:, 1, 0])
  assert np.all(returns <= 0.0), "dense rewards are -distance"
