"""Samplers and the replay ring: exact ratios and fractions, all usable inside jit + lax.scan."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.data import replay, samplers
from jaxinsert.types import Spec, Transition


def make_transitions(count, obs_dim=4, reward=0.0, task_id=None, offset=0.0):
  obs = jnp.arange(count * obs_dim, dtype=jnp.float32).reshape(count, obs_dim) + offset
  return Transition(obs=obs, action=jnp.zeros((count, 2)), reward=jnp.full((count,), reward),
                    mask=jnp.ones((count,)), next_obs=obs + 1,
                    task_id=None if task_id is None else jnp.asarray(task_id, jnp.int32),
                    domain_id=None)


def test_every_sampler_runs_inside_jit_and_scan():
  offline = make_transitions(50)
  buffer = replay.add(replay.init(Spec(obs_shape=(4,), action_dim=2), 32), make_transitions(10, reward=1.0))
  indexed = samplers.index_dataset(make_transitions(50, task_id=np.repeat([0, 1], 25)), np.repeat(np.arange(5), 10))

  @jax.jit
  def run(key):
    def body(carry, key):
      buffer = carry
      keys = jax.random.split(key, 6)
      uniform = samplers.uniform(offline, keys[0], 8)
      mixed = samplers.mixed(offline, buffer, keys[1], 8, 0.75)
      meta = samplers.meta_batch(indexed, keys[2], 2, 4, 3, context_mode="window")
      her = samplers.her_relabel(indexed, keys[3], 8, goal_slice=slice(2, 4), achieved_goal_slice=slice(0, 2),
                                 reward_fn=lambda a, g: -jnp.linalg.norm(a - g, axis=-1), future_fraction=0.5)
      shifted = samplers.random_shift(jnp.zeros((8, 6, 6, 3), jnp.uint8), keys[4], pad=2)
      buffer = replay.add(buffer, uniform)
      sampled = replay.sample(buffer, keys[5], 8)
      total = (uniform.reward.sum() + mixed.reward.sum() + meta.batch.reward.sum() + her.reward.sum()
               + shifted.sum() + sampled.reward.sum())
      return buffer, total

    return jax.lax.scan(body, buffer, jax.random.split(key, 5))

  final, totals = run(jax.random.PRNGKey(0))
  assert totals.shape == (5,) and int(final.size) == 32 - 32 + min(10 + 5 * 8, 32)


def test_mixed_ratio_is_exact_and_augments_per_source():
  offline = make_transitions(100, reward=0.0)
  buffer = replay.add(replay.init(Spec(obs_shape=(4,), action_dim=2), 64), make_transitions(20, reward=1.0))
  mark = lambda batch, key: batch.replace(obs=batch.obs + 1000.0)
  batch = jax.jit(lambda key: samplers.mixed(offline, buffer, key, 256, 0.75, offline_augment=mark))(
      jax.random.PRNGKey(1))
  reward = np.asarray(batch.reward)
  assert (reward[:192] == 0).all() and (reward[192:] == 1).all(), "exactly 192 offline + 64 online, in that order"
  assert (np.asarray(batch.obs)[:192] >= 1000).all() and (np.asarray(batch.obs)[192:] < 1000).all(), \
      "only the offline part is augmented (LOTJ)"
  empty = replay.init(Spec(obs_shape=(4,), action_dim=2), 64)
  fallback = samplers.mixed(offline, empty, jax.random.PRNGKey(2), 16, 0.5)
  assert (np.asarray(fallback.reward) == 0).all() and np.asarray(fallback.obs).max() > 0, \
      "an empty online buffer is replaced by offline data, not zeros"
  with pytest.raises(ValueError):
    samplers.mixed(offline, buffer, jax.random.PRNGKey(0), 16, 1.5)


def goal_dataset():
  """Two episodes of 10 steps; obs = [position, position, goal, goal], position = step index."""
  position = np.concatenate([np.arange(10), np.arange(100, 110)]).astype(np.float32)
  goal = np.full(20, -1.0, np.float32)
  obs = np.stack([position, position, goal, goal], axis=1)
  next_obs = obs.copy()
  next_obs[:, :2] += 1
  transitions = Transition(obs=jnp.asarray(obs), action=jnp.zeros((20, 2)), reward=jnp.full((20,), -5.0),
                           mask=jnp.ones(20), next_obs=jnp.asarray(next_obs), task_id=None, domain_id=None)
  return samplers.index_dataset(transitions, np.repeat([0, 1], 10))


def test_her_fractions_are_exact_and_goals_come_from_the_right_states():
  dataset = goal_dataset()
  reached = lambda achieved, goal: (jnp.abs(achieved - goal).max(axis=-1) < 1e-6).astype(jnp.float32)
  batch = jax.jit(lambda key: samplers.her_relabel(
      dataset, key, 1000, goal_slice=slice(2, 4), achieved_goal_slice=slice(0, 2), reward_fn=reached,
      next_fraction=0.1, future_fraction=0.6, random_fraction=0.2, terminal_fn=reached))(jax.random.PRNGKey(3))
  obs, next_obs = np.asarray(batch.obs), np.asarray(batch.next_obs)
  reward, mask = np.asarray(batch.reward), np.asarray(batch.mask)
  position, goal = obs[:, 0], obs[:, 2]
  assert np.array_equal(obs[:, 2:], next_obs[:, 2:]), "obs and next_obs share the relabelled goal"
  # next (rows 0-99): the goal is the state just reached -> reward 1, terminal.
  assert (goal[:100] == position[:100] + 1).all() and (reward[:100] == 1).all() and (mask[:100] == 0).all()
  # future (rows 100-699): a later state of the same episode.
  future_goal, future_position = goal[100:700], position[100:700]
  assert (future_goal >= future_position + 1).all()
  assert ((future_position < 10) == (future_goal <= 10)).all(), "future goals stay inside the episode"
  assert len(np.unique(future_goal - future_position)) > 3
  # random (rows 700-899): any reached state; original (900-999): untouched.
  assert (goal[700:900] != -1).all() and np.isin(goal[700:900], np.asarray(dataset.transitions.next_obs)[:, 0]).all()
  assert (goal[900:] == -1).all() and (reward[900:] == -5).all() and (mask[900:] == 1).all()
  with pytest.raises(ValueError):
    samplers.her_relabel(dataset, jax.random.PRNGKey(0), 10, goal_slice=slice(2, 4), achieved_goal_slice=slice(0, 2),
                         reward_fn=reached, next_fraction=0.6, future_fraction=0.6)


def test_meta_batch_groups_by_task_and_windows_stay_in_one_episode():
  task_id = np.repeat([4, 9, 2], [30, 20, 10])
  episode = np.repeat(np.arange(12), 5)
  dataset = samplers.index_dataset(make_transitions(60, task_id=task_id), episode)
  np.testing.assert_array_equal(np.asarray(dataset.task_ids), [2, 4, 9])
  meta = jax.jit(lambda key: samplers.meta_batch(dataset, key, 3, 16, 8))(jax.random.PRNGKey(4))
  assert sorted(np.asarray(meta.task_ids).tolist()) == [2, 4, 9], "tasks drawn without replacement"
  for row, task in enumerate(np.asarray(meta.task_ids)):
    assert (np.asarray(meta.batch.task_id)[row] == task).all()
    assert (np.asarray(meta.context.task_id)[row] == task).all()
  window = jax.jit(lambda key: samplers.meta_batch(dataset, key, 2, 4, 8, context_mode="window"))(
      jax.random.PRNGKey(5))
  first_obs = np.asarray(window.context.obs)[..., 0]
  mask = np.asarray(window.context_mask)
  assert (mask.sum(axis=1) == 5).all(), "an 8-window in a 5-transition episode has 5 valid entries"
  for row in range(2):
    valid = first_obs[row][mask[row] == 1]
    assert (np.diff(valid) == 4).all(), "consecutive transitions of one episode"


def test_random_shift_moves_each_image_by_at_most_pad():
  image = jnp.zeros((10, 10, 1), jnp.uint8).at[5, 5, 0].set(255)
  images = jnp.broadcast_to(image, (64, 10, 10, 1))
  shifted = np.asarray(jax.jit(lambda key: samplers.random_shift(images, key, pad=2))(jax.random.PRNGKey(6)))
  assert shifted.dtype == np.uint8 and shifted.shape == images.shape
  spots = np.array([np.argwhere(s[..., 0] == 255)[0] for s in shifted])
  assert (np.abs(spots - 5) <= 2).all() and len({tuple(s) for s in spots}) > 5
  np.testing.assert_array_equal(samplers.random_shift(images, jax.random.PRNGKey(0), pad=0), images)
  augment = samplers.shift_observations(pad=1)
  batch = Transition(obs=images, action=jnp.zeros((64, 1)), reward=jnp.zeros(64), mask=jnp.ones(64),
                     next_obs=images)
  out = augment(batch, jax.random.PRNGKey(7))
  assert out.obs.shape == images.shape and not np.array_equal(np.asarray(out.obs), np.asarray(out.next_obs))


def test_colour_jitter_changes_colours_per_image_and_keeps_geometry():
  rng = np.random.RandomState(0)
  scene = np.full((6, 6, 3), 20, np.uint8)
  scene[2:4, 1:3] = (200, 60, 30)                          # a coloured plug on a dark table
  images = jnp.asarray(np.broadcast_to(scene, (256, 6, 6, 3)).copy())
  out = np.asarray(jax.jit(lambda key: samplers.colour_jitter(images, key))(jax.random.PRNGKey(3)))
  assert out.dtype == np.uint8 and out.shape == images.shape
  plug = out[:, 2, 1].astype(int)
  # The plug stays brighter than the table in every image: positions are untouched.
  assert (plug.max(axis=1) > out[:, 0, 0].astype(int).max(axis=1)).all()
  # Its colour varies across images: channel order, gains, brightness and greys.
  assert len({tuple(p) for p in plug}) > 200
  assert 0.15 < np.mean((plug[:, 0] == plug[:, 1]) & (plug[:, 1] == plug[:, 2])) < 0.45
  assert (np.argmax(plug, axis=1) != 0).any(), "the red channel is not always the largest"
  with pytest.raises(ValueError, match="RGB"):
    samplers.colour_jitter(images[..., :1], jax.random.PRNGKey(0))
  noisy = jnp.asarray(rng.randint(0, 256, (64, 5, 5, 3)), jnp.uint8)
  batch = Transition(obs=noisy, action=jnp.zeros((64, 1)), reward=jnp.zeros(64), mask=jnp.ones(64),
                     next_obs=noisy)
  aug = samplers.colour_observations()(batch, jax.random.PRNGKey(4))
  # One draw per row: obs and next_obs of a row get the same change.
  np.testing.assert_array_equal(np.asarray(aug.obs), np.asarray(aug.next_obs))
  assert not np.array_equal(np.asarray(aug.obs), np.asarray(noisy))


def test_replay_ring_overwrites_oldest_and_samples_only_valid_entries():
  spec = Spec(obs_shape=(4,), action_dim=2)
  add = jax.jit(replay.add)
  buffer = add(replay.init(spec, 5), make_transitions(3, reward=1.0))
  assert (int(buffer.size), int(buffer.position)) == (3, 3)
  rewards = np.arange(4, dtype=np.float32) + 10
  batch = make_transitions(4).replace(reward=jnp.asarray(rewards))
  buffer = add(buffer, batch)
  assert (int(buffer.size), int(buffer.position)) == (5, 2)
  np.testing.assert_array_equal(np.asarray(buffer.data.reward), [12, 13, 1, 10, 11])
  big = make_transitions(7).replace(reward=jnp.arange(7, dtype=jnp.float32) + 20)
  buffer = add(buffer, big)
  assert (int(buffer.size), int(buffer.position)) == (5, 4)
  assert sorted(np.asarray(buffer.data.reward).tolist()) == [22, 23, 24, 25, 26], "only the newest 5 survive"
  partial = add(replay.init(spec, 100), make_transitions(3, reward=7.0))
  sampled = replay.sample(partial, jax.random.PRNGKey(8), 500)
  assert (np.asarray(sampled.reward) == 7).all(), "never samples unwritten slots"
  seeded = replay.from_transitions(make_transitions(6, reward=2.0), capacity=10)
  assert (int(seeded.size), int(seeded.position), seeded.capacity) == (6, 6, 10)
  with pytest.raises(ValueError):
    replay.from_transitions(make_transitions(6), capacity=3)
