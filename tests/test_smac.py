"""SMAC (seed 003): the point-robot family, per-task buffers, and the agent's promises
(gradient routing, lambda_pearl = 0 is AWAC, beta -> 0 is meta-BC, the frozen online phase).

The encoder's own tests (S4: product of Gaussians against its closed form, permutation
invariance, KL = 0 at the prior) are in tests/test_oda.py; SMAC and PEARL use that module.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.agents import smac
from jaxinsert.data import task_replay
from jaxinsert.data.samplers import MetaBatch
from jaxinsert.envs import meta_families
from jaxinsert.types import Spec, Transition

SPEC = Spec(obs_shape=(2,), action_dim=2)
TASKS, BATCH, CONTEXT = 3, 8, 5


def _config(**overrides):
  config = smac.get_config()
  config.update(dict(policy_hidden_dims=(16, 16), critic_hidden_dims=(16, 16),
                     encoder_hidden_dims=(16, 16), decoder_hidden_dims=(16,), latent_dim=3,
                     beta=1.0))
  config.update(overrides)
  return config


@functools.lru_cache(maxsize=None)
def _base_state():
  return smac.create(_config(), jax.random.PRNGKey(0), SPEC)


def _state(**overrides):
  """The one tiny agent under another config: the same parameters (none of the overridden
  fields changes a shape), so only the losses that read the config are compiled again."""
  return _base_state().replace(config=smac.common.frozen(_config(**overrides)))


def _rows(key, leading):
  keys = jax.random.split(key, 4)
  return Transition(obs=jax.random.normal(keys[0], leading + (2,)),
                    action=jax.random.uniform(keys[1], leading + (2,), minval=-0.9, maxval=0.9),
                    reward=jax.random.normal(keys[2], leading),
                    mask=jnp.ones(leading), next_obs=jax.random.normal(keys[3], leading + (2,)))


@functools.lru_cache(maxsize=None)
def _meta_batch(seed=1):
  batch_key, context_key = jax.random.split(jax.random.PRNGKey(seed))
  return MetaBatch(batch=_rows(batch_key, (TASKS, BATCH)),
                   context=_rows(context_key, (TASKS, CONTEXT)),
                   context_mask=jnp.ones((TASKS, CONTEXT)), task_ids=jnp.arange(TASKS))


def _perturbed(params, key, scale=0.5):
  leaves, tree = jax.tree_util.tree_flatten(params)
  keys = jax.random.split(key, len(leaves))
  return jax.tree_util.tree_unflatten(
      tree, [x + scale * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)])


def _close(a, b, **kwargs):
  return all(np.allclose(x, y, **kwargs) for x, y in
             zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


# ------------------------------------------------------------------------------ family
def test_point_robot_rewards_on_hand_computed_states():
  sparse = meta_families.PointRobot()
  dense = meta_families.PointRobot(reward_type="dense")
  goal = jnp.array([1.0, 0.0])
  # d = 0.1 inside the 0.2 m radius: 1 - d; d = 0.5 outside: 0; d = 0.2 on the edge: 0.8.
  for position, sparse_reward, dense_reward in (((0.9, 0.0), 0.9, -0.1), ((0.5, 0.0), 0.0, -0.5),
                                                ((1.0, 0.2), 0.8, -0.2), ((0.0, 0.0), 0.0, -1.0)):
    assert sparse.reward(jnp.array(position), goal) == pytest.approx(sparse_reward, abs=1e-6)
    assert dense.reward(jnp.array(position), goal) == pytest.approx(dense_reward, abs=1e-6)
  state = sparse.reset(jax.random.PRNGKey(0), goal)
  assert np.allclose(state.obs, 0.0), "the point robot starts at the origin"
  state = sparse.step(state, jnp.array([1.0, -3.0]))     # clipped to [-1, 1], x 0.1 m
  assert np.allclose(state.obs, [0.1, -0.1])
  assert float(state.reward) == 0.0 and not bool(state.terminal)
  for _ in range(8):
    state = sparse.step(state, jnp.array([1.0, 1.0]))
  assert np.allclose(state.obs, [0.9, 0.7])
  with pytest.raises(ValueError, match="reward_type"):
    meta_families.PointRobot(reward_type="shaped")


def test_task_lists_are_reproducible_from_the_seed_and_split_train_from_test():
  first = meta_families.make_family("point-robot", 1337, 8, 4)
  again = meta_families.make_family("point-robot", 1337, 8, 4)
  other = meta_families.make_family("point-robot", 1, 8, 4)
  assert np.array_equal(first.train_tasks, again.train_tasks)
  assert np.array_equal(first.test_tasks, again.test_tasks)
  assert not np.array_equal(first.train_tasks, other.train_tasks)
  goals = np.concatenate([first.train_tasks, first.test_tasks])
  assert np.allclose(np.linalg.norm(goals, axis=1), 1.0) and np.all(goals[:, 1] >= -1e-6)
  assert len({tuple(g) for g in np.round(goals, 6)}) == 12, "train and test goals overlap"
  angles = np.sort(np.arctan2(goals[:, 1], goals[:, 0]))
  assert np.allclose(angles, np.linspace(0, np.pi, 12), atol=1e-5)
  with pytest.raises(ValueError, match="unknown task family"):
    meta_families.make_family("cheetah", 0, 2, 2)


# ----------------------------------------------------------------------------- buffers
_append = jax.jit(task_replay.append)
_clear = jax.jit(task_replay.clear)
_sample = jax.jit(task_replay.sample, static_argnums=3)


def test_task_buffers_append_clear_and_sample_within_each_tasks_window():
  buffers = task_replay.empty(3, 10, 2, 2)
  rows = _rows(jax.random.PRNGKey(0), (2, 4)).replace(reward=jnp.array([[1.0] * 4, [2.0] * 4]))
  buffers = _append(buffers, jnp.array([2, 0]), rows)
  assert np.asarray(buffers.count).tolist() == [4, 0, 4]
  sampled, mask = _sample(buffers, jax.random.PRNGKey(1), jnp.array([0, 1, 2]), 6)
  assert np.all(sampled.reward[0] == 2.0) and np.all(sampled.reward[2] == 1.0)
  assert np.asarray(mask[:, 0]).tolist() == [1.0, 0.0, 1.0], "an empty task must be masked"
  buffers = _clear(buffers, jnp.array([2]))
  newer = rows.replace(reward=jnp.full((2, 4), 7.0))
  buffers = _append(buffers, jnp.array([2, 1]), newer)
  sampled, _ = _sample(buffers, jax.random.PRNGKey(2), jnp.array([2]), 50)
  assert np.all(sampled.reward == 7.0), "a cleared window must not serve the old rows"
  assert int(buffers.count[2]) == 8, "clearing keeps the rows (the saved history)"
  assert int(_append(buffers, jnp.array([2]), _rows(jax.random.PRNGKey(3), (1, 5))
                                ).count[2]) == 10, "the count saturates at the capacity"


def test_slices_keep_the_first_rl_rows_and_the_last_encoder_rows_of_each_task():
  flat = _rows(jax.random.PRNGKey(0), (12,)).replace(
      reward=jnp.arange(12.0), task_id=jnp.array([5] * 6 + [9] * 6, jnp.int32))
  first = task_replay.from_transitions(flat, [9, 5], capacity=4, first=0, last=4)
  last = task_replay.from_transitions(flat, [9, 5], capacity=4, first=-2)
  assert np.asarray(first.data.reward[0]).tolist() == [6.0, 7.0, 8.0, 9.0]
  assert np.asarray(last.data.reward[1, :2]).tolist() == [4.0, 5.0]
  assert np.asarray(last.count).tolist() == [2, 2]
  with pytest.raises(ValueError, match="no transitions of task 3"):
    task_replay.from_transitions(flat, [3], capacity=4)


# ------------------------------------------------------------------------------- agent
@jax.jit
def _encoder_grad_at(params, state, batch):
  return jax.grad(lambda p: smac.model_loss(p, state, batch.batch, batch.context,
                                            batch.context_mask, jax.random.PRNGKey(5))[0])(params)[0]


def _encoder_grads(state):
  """The encoder's gradient of the model loss, as is and with the decoder or the critic
  perturbed (one compiled gradient per config, called three times)."""
  params = (state.encoder.params, state.decoder.params, state.critic.params)
  other = lambda tree: _perturbed(tree, jax.random.PRNGKey(9))
  batch = _meta_batch()
  return (_encoder_grad_at(params, state, batch),
          _encoder_grad_at((params[0], other(params[1]), params[2]), state, batch),
          _encoder_grad_at((params[0], params[1], other(params[2])), state, batch))


def test_the_decoder_loss_reaches_the_encoder_and_the_q_loss_does_not_by_default():
  base, decoder, critic = _encoder_grads(_state())
  assert _close(base, critic), \
      "changing the critic changed the encoder's gradient: the Q loss reaches the encoder"
  assert not _close(base, decoder), \
      "changing the decoder did not change the encoder's gradient: no reward loss in it"
  base, _, critic = _encoder_grads(_state(q_loss_into_encoder=True))
  assert not _close(base, critic), "q_loss_into_encoder=True must send the Q loss into the encoder"
  base, decoder, _ = _encoder_grads(_state(reward_loss_into_encoder=False))
  assert _close(base, decoder), "reward_loss_into_encoder=False must keep the reward loss out"


@jax.jit
def _actor_loss_and_metrics(state, batch, z, key):
  (loss, metrics), grads = jax.value_and_grad(
      lambda p: smac.actor_loss(p, state, batch.batch, z, key), has_aux=True)(state.actor.params)
  return loss, grads, metrics


def _actor_loss(state):
  z = jax.random.normal(jax.random.PRNGKey(4), (TASKS, state.config.latent_dim))
  return _actor_loss_and_metrics(state, _meta_batch(), z, jax.random.PRNGKey(3))


def test_lambda_pearl_zero_is_pure_awac_and_one_adds_the_reparameterised_term():
  offline = _state(lambda_pearl=0.0)
  online = smac.to_online(offline)
  assert online.config.phase == "online" and offline.config.phase == "offline"
  awac_loss, awac_grads, _ = _actor_loss(offline)
  zero_loss, zero_grads, _ = _actor_loss(online)
  assert float(awac_loss) == pytest.approx(float(zero_loss), rel=1e-6)
  assert _close(awac_grads, zero_grads, rtol=1e-5, atol=1e-7)
  one_loss, _, metrics = _actor_loss(smac.to_online(_state(lambda_pearl=1.0)))
  assert float(one_loss) == pytest.approx(float(awac_loss + metrics["pearl_term"]), rel=1e-5)
  assert abs(float(metrics["pearl_term"])) > 1e-4


@pytest.mark.parametrize("weighting", ["batch_softmax", "exp"])
def test_a_very_large_awr_beta_gives_meta_behaviour_cloning(weighting):
  # The paper's AWR beta is a temperature; the config holds its inverse: beta -> 0.
  awac_loss, awac_grads, _ = _actor_loss(_state(beta=0.0, weighting=weighting))
  bc_loss, bc_grads, _ = _actor_loss(_state(actor_objective="bc"))
  assert float(awac_loss) == pytest.approx(float(bc_loss), rel=1e-5)
  assert _close(awac_grads, bc_grads, rtol=1e-4, atol=1e-6)
  sharp = smac.awr_weights(jnp.array([0.0, 0.5, -0.5]), _config(beta=10.0, weighting=weighting))
  assert float(jnp.max(sharp) / jnp.min(sharp)) > 100.0, "a small AWR beta must be selective"


def test_batch_softmax_weights_average_one_and_follow_the_advantage():
  config = _config(beta=2.0)
  advantage = jnp.array([0.0, 1.0, -1.0, 3.0])
  weights = smac.awr_weights(advantage, config)
  assert float(jnp.mean(weights)) == pytest.approx(1.0, rel=1e-6)
  assert np.argsort(np.asarray(weights)).tolist() == [2, 0, 1, 3]
  capped = smac.awr_weights(jnp.array([100.0, 0.0]), _config(beta=1.0, weighting="exp"))
  assert np.allclose(capped, [100.0, 1.0])


def test_offline_update_trains_everything_and_the_online_phase_freezes_encoder_and_decoder():
  state = _state()
  update = jax.jit(smac.update)
  trained, metrics = update(state, _meta_batch(), jax.random.PRNGKey(2))
  assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
  for name in ("encoder", "decoder", "actor", "critic"):
    assert not _close(getattr(state, name).params, getattr(trained, name).params), \
        f"the offline update did not move the {name}"
  online = smac.to_online(trained)
  stepped, _ = update(online, _meta_batch(7), jax.random.PRNGKey(3))
  assert _close(online.encoder.params, stepped.encoder.params), "online: the encoder moved"
  assert _close(online.decoder.params, stepped.decoder.params), "online: the decoder moved"
  assert not _close(online.actor.params, stepped.actor.params)
  assert not _close(online.critic.params, stepped.critic.params)


def test_the_control_iteration_collects_nothing_and_runs_the_same_updates():
  """reward_source "none" (the online phase's control): the buffers come back unchanged and the
  agent gets exactly the updates `_train` gives on them; a decoder iteration appends its
  trajectories; an unknown source is refused with its name."""
  from jaxinsert.training import smac_loops

  family = meta_families.make_family("point-robot", 0, TASKS, 1)
  tasks = jnp.asarray(family.train_tasks)
  horizon = family.env.spec.max_episode_steps
  empty = task_replay.empty(TASKS, 4 * horizon, 2, 2)
  filled = task_replay.append(empty, jnp.arange(TASKS), _rows(jax.random.PRNGKey(4),
                                                              (TASKS, horizon)))
  buffers = smac_loops.Buffers(rl=filled, encoder=filled, reward_context=filled)
  state = smac.to_online(_state())
  loop = (2, 1, 0, 3, 2, BATCH, CONTEXT, False)   # 2 tasks x 1 trajectory, 3 updates
  key = jax.random.PRNGKey(5)
  control, control_buffers, _ = smac_loops.smac_online_iteration(
      family.env, loop, "none", state, state, buffers, tasks, key)
  assert _close(control_buffers, buffers), "the control must not touch the buffers"
  train_key = jax.random.split(key, 5)[-1]
  expected, _ = smac_loops._train(smac, state, buffers, train_key, 3, 2, BATCH, CONTEXT)
  assert _close(control.actor.params, expected.actor.params, atol=1e-6)
  assert _close(control.critic.params, expected.critic.params, atol=1e-6)
  assert not _close(control.actor.params, state.actor.params), "the control did not update"
  _, grown, _ = smac_loops.smac_online_iteration(family.env, loop, "decoder", state, state,
                                                 buffers, tasks, key)
  assert int(jnp.sum(grown.rl.count - buffers.rl.count)) == 2 * horizon
  with pytest.raises(ValueError, match="reward_source"):
    smac_loops.smac_online_iteration(family.env, loop, "labels", state, state, buffers, tasks,
                                     key)


def test_labels_come_from_the_snapshot_decoder_with_one_latent_per_trajectory():
  state = _state()
  trajectories = _rows(jax.random.PRNGKey(1), (2, 6))
  context = _rows(jax.random.PRNGKey(2), (2, CONTEXT))
  mask = jnp.ones((2, CONTEXT))

  @jax.jit
  def labels_and_expected(state, trajectories, context, key):
    labels = smac.label_rewards(state, trajectories.obs, trajectories.action, context, mask, key)
    mu, variance = smac.posterior(state, state.encoder.params, context, mask)
    z = smac.context_lib.sample(key, mu, variance)
    expected = state.decoder.apply(trajectories.obs, trajectories.action,
                                   jnp.broadcast_to(z[:, None], (2, 6, 3)))
    return labels, expected

  labels, expected = labels_and_expected(state, trajectories, context, jax.random.PRNGKey(3))
  assert labels.shape == (2, 6)
  assert np.allclose(labels, expected, atol=1e-6)
  assert not np.allclose(labels, trajectories.reward), "labels must not be the true rewards"


def test_bad_settings_are_refused_with_the_field_named():
  with pytest.raises(ValueError, match="actor_objective"):
    smac.create(_config(actor_objective="sac"), jax.random.PRNGKey(0), SPEC)
  with pytest.raises(ValueError, match="beta"):
    smac.create(_config(beta=-1.0), jax.random.PRNGKey(0), SPEC)
  with pytest.raises(ValueError, match="kl_reduction"):
    smac.create(_config(kl_reduction="max"), jax.random.PRNGKey(0), SPEC)
