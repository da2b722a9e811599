"""PTP's pieces around the planner: HER relabelling at 70%, the CVAE's training sequences, and
the multi-stage task being out of reach of a straight-to-the-goal policy."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.agents import gciql
from jaxinsert.data import samplers
from jaxinsert.envs.multistage import TASKS, MultiStageInsertion, make_task, play_episodes
from jaxinsert.planning import cvae
from jaxinsert.training import ptp_loops
from jaxinsert.types import Spec, Transition

EPISODES, STEPS = 50, 20
MARKER = 100.0   # the stored goal: any other goal in a batch was relabelled


def _episode_dataset():
  # Latent state = (episode, time + 1): a relabelled goal tells where it was taken from.
  episode = np.repeat(np.arange(EPISODES), STEPS).astype(np.float32)
  time = np.tile(np.arange(STEPS), EPISODES).astype(np.float32)
  state, next_state = np.stack([episode, time], -1), np.stack([episode, time + 1], -1)
  goal = np.full_like(state, MARKER)
  transitions = Transition(obs=jnp.asarray(np.concatenate([state, goal], -1)),
                           action=jnp.zeros((EPISODES * STEPS, 1)),
                           reward=jnp.full(EPISODES * STEPS, -1.0), mask=jnp.ones(EPISODES * STEPS),
                           next_obs=jnp.asarray(np.concatenate([next_state, goal], -1)))
  return samplers.index_dataset(transitions, episode.astype(np.int32))


def test_her_relabels_70_percent_with_future_goals_of_the_same_episode():
  config = gciql.get_config()
  assert config.future_fraction == 0.7 and config.discount == 0.995 and config.expectile == 0.9
  batch = jax.jit(lambda k: gciql.relabelled_batch(_episode_dataset(), k, 10_000, config))(
      jax.random.PRNGKey(0))
  state, goal = np.asarray(batch.obs[:, :2]), np.asarray(batch.obs[:, 2:])
  relabelled = np.all(goal != MARKER, -1)
  assert abs(relabelled.mean() - 0.7) <= 0.02, f"relabelled {relabelled.mean():.3f} of rows"
  assert np.all(goal[relabelled, 0] == state[relabelled, 0]), "a future goal from another episode"
  assert np.all(goal[relabelled, 1] >= state[relabelled, 1] + 1), "a future goal from the past"
  reached = relabelled & (goal[:, 1] == state[:, 1] + 1)
  assert reached.any()
  np.testing.assert_array_equal(np.asarray(batch.reward)[reached], 0.0)
  np.testing.assert_array_equal(np.asarray(batch.mask)[reached], 0.0)
  far = relabelled & (goal[:, 1] > state[:, 1] + 1)
  np.testing.assert_array_equal(np.asarray(batch.reward)[far], -1.0)
  # Offline play data has no commanded goal: the other 30% take goals from anywhere.
  offline = gciql.relabelled_batch(_episode_dataset(), jax.random.PRNGKey(1), 1000, config,
                                   random_fraction=0.3)
  assert not np.any(np.asarray(offline.obs[:, 2:]) == MARKER)


def test_cvae_sequences_step_by_dt_within_its_tolerance():
  config = cvae.CVAEConfig(dt=5, dt_tolerance=2, rollout_steps=3)
  time = jnp.broadcast_to(jnp.arange(30, dtype=jnp.float32)[None, :, None], (4, 30, 1))
  sequences = cvae.sample_sequences(time, jax.random.PRNGKey(0), 512, config)
  assert sequences.shape == (512, 4, 1)
  gaps = np.diff(np.asarray(sequences[..., 0]), axis=1)
  assert gaps.min() >= 3 and gaps.max() <= 7 and len(np.unique(gaps)) == 5
  with pytest.raises(ValueError, match="too short"):
    cvae.sample_sequences(time[:, :10], jax.random.PRNGKey(0), 8, config)


def _staged_policy(env, carry_height):
  goal = env.goal_position_m()

  def staged(p):   # lift above the obstacles, carry, then descend over the hole
    over = jnp.abs(p[0] - goal[0]) <= 0.003
    target = jnp.where(over, goal, jnp.array([goal[0], goal[1], carry_height]))
    target = jnp.where((p[2] < carry_height - 0.01) & ~over, p.at[2].set(carry_height), target)
    return (target - p) / env.step_m
  return staged


def _successes(env, policy, keys):
  def success(key):
    final = jax.lax.fori_loop(0, env.max_episode_steps,
                              lambda _, s: env.step(s, policy(s.obs)), env.reset(key))
    return final.privileged["success"]
  return np.asarray(jax.jit(jax.vmap(success))(keys))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("task", TASKS)
def test_multistage_goal_is_out_of_reach_of_a_straight_line_but_not_of_the_stages(task):
  env = make_task(task)
  goal = env.goal_position_m()
  top = max([env.wall_height_m] + [b[4] for b in env.barriers])

  def straight(p):
    return (goal - p) / env.step_m

  staged = _staged_policy(env, top + 0.015)
  keys = jax.random.split(jax.random.PRNGKey(0), 8)
  assert not np.any(_successes(env, straight, keys))
  assert np.all(_successes(env, staged, keys))
  play = play_episodes(env, jax.random.PRNGKey(1), 300)
  stage = np.asarray(jax.vmap(jax.vmap(env.stage))(play["positions"]))
  assert np.any(stage == 3), "the play data never inserts"
  assert not np.any((stage[:, 0] == 0) & np.any(stage == 3, 1)), (
      "a play episode goes from the tray to inserted: the task is in the data")


@pytest.mark.timeout(60)
def test_barrier_variant_blocks_the_default_carry_height_and_lateral_entry():
  env, plain = make_task("tray_barrier_socket"), make_task("tray_socket")
  keys = jax.random.split(jax.random.PRNGKey(0), 8)
  low_carry = _staged_policy(env, 0.08)        # clears the tray walls, not the barrier
  assert np.all(_successes(plain, low_carry, keys))
  assert not np.any(_successes(env, low_carry, keys))
  # Below the barrier's top a lateral move into it is refused; above its top it passes.
  below = env.move(jnp.array([-0.025, 0.0, 0.05]), jnp.array([1.0, 0.0, 0.0]))
  assert float(below[0]) == pytest.approx(-0.025)
  above = env.move(jnp.array([-0.025, 0.0, 0.11]), jnp.array([1.0, 0.0, 0.0]))
  assert float(above[0]) == pytest.approx(-0.01)
  landed = env.move(jnp.array([0.0, 0.0, 0.105]), jnp.array([0.0, 0.0, -1.0]))
  assert float(landed[2]) == pytest.approx(0.10)
  assert bool(env.cuts_obstacles(jnp.array([-0.05, 0.0, 0.05]), jnp.array([0.05, 0.0, 0.05])))
  assert not bool(env.cuts_obstacles(jnp.array([-0.05, 0.0, 0.12]), jnp.array([0.05, 0.0, 0.12])))
  # The tray walls: a segment from the tray floor to outside it, below the walls, cuts them.
  tray = jnp.array([plain.tray_center_m[0], 0.0, 0.0])
  assert bool(plain.cuts_obstacles(tray, tray + jnp.array([0.06, 0.0, 0.02])))
  with pytest.raises(ValueError, match="wider than step_m"):
    MultiStageInsertion(barriers=((0.0, 0.01, -0.2, 0.2, 0.1),))
  with pytest.raises(ValueError, match="unknown multi-stage task"):
    make_task("no_such_task")


def test_nearby_goals_are_hard_negatives_from_other_episodes_in_their_share():
  config = gciql.get_config()
  config.nearby_fraction = 0.15
  random_share, nearby_share = ptp_loops.offline_goal_shares(config)
  assert random_share == pytest.approx(0.15) and nearby_share == 0.15
  batch = jax.jit(lambda k: gciql.relabelled_batch(
      _episode_dataset(), k, 10_000, config, random_fraction=random_share,
      nearby_fraction=nearby_share))(jax.random.PRNGKey(2))
  state, goal = np.asarray(batch.obs[:, :2]), np.asarray(batch.obs[:, 2:])
  achieved = np.asarray(batch.next_obs[:, :2])
  assert not np.any(goal == MARKER), "every offline row is relabelled"
  random_rows, nearby_rows = slice(7000, 8500), slice(8500, 10_000)
  # The nearby block: every goal from another episode, and nearer than goals from anywhere.
  assert np.all(goal[nearby_rows, 0] != state[nearby_rows, 0])
  nearby_distance = np.linalg.norm(goal[nearby_rows] - achieved[nearby_rows], axis=-1)
  random_distance = np.linalg.norm(goal[random_rows] - achieved[random_rows], axis=-1)
  assert np.median(nearby_distance) * 4 < np.median(random_distance)
  # Not a future goal of its own episode, so never reached at once: reward -1, not terminal.
  np.testing.assert_array_equal(np.asarray(batch.reward)[nearby_rows], -1.0)
  np.testing.assert_array_equal(np.asarray(batch.mask)[nearby_rows], 1.0)
  # Without the share the batch is the one the sampler drew before nearby goals existed.
  config.nearby_fraction = 0.0
  plain = gciql.relabelled_batch(_episode_dataset(), jax.random.PRNGKey(2), 10_000, config,
                                 random_fraction=0.3)
  np.testing.assert_array_equal(np.asarray(plain.obs[:8500]), np.asarray(batch.obs[:8500]))
  # Counted unreachable: an unreached nearby goal ends the row with the failure reward.
  config.nearby_failure_reward = -50.0
  failed = gciql.relabelled_batch(_episode_dataset(), jax.random.PRNGKey(2), 10_000, config,
                                  random_fraction=random_share, nearby_fraction=nearby_share)
  np.testing.assert_array_equal(np.asarray(failed.reward)[nearby_rows], -50.0)
  np.testing.assert_array_equal(np.asarray(failed.mask)[nearby_rows], 0.0)
  np.testing.assert_array_equal(np.asarray(failed.reward)[:8500], np.asarray(batch.reward)[:8500])
  config.nearby_fraction = 0.4
  with pytest.raises(ValueError, match="nearby_fraction"):
    ptp_loops.offline_goal_shares(config)


def test_the_actor_learns_only_from_its_own_rows_when_given_them():
  config = gciql.get_config()
  config.hidden_dims = (16, 16)
  spec = Spec(obs_shape=(4,), action_dim=1)
  state = gciql.create(config, jax.random.PRNGKey(0), spec)
  batch = gciql.relabelled_batch(_episode_dataset(), jax.random.PRNGKey(1), 64, config,
                                 random_fraction=0.3)
  key = jax.random.PRNGKey(2)
  plain, _ = gciql.update(state, batch, key)
  same, _ = gciql.update(state, batch, key, batch)
  fewer, _ = gciql.update(state, batch, key, jax.tree_util.tree_map(lambda x: x[:32], batch))
  leaves = lambda tree: jax.tree_util.tree_leaves(tree)
  for a, b in zip(leaves(plain), leaves(same)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # The value and critic learn from the whole batch either way; the actor from its rows.
  for a, b in zip(leaves(plain.value.params), leaves(fewer.value.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert any(not np.array_equal(np.asarray(a), np.asarray(b))
             for a, b in zip(leaves(plain.actor.params), leaves(fewer.actor.params)))


def test_isotropic_state_vae_standardises_every_axis_by_the_smallest_std():
  from jaxinsert.planning import vae
  # x spread 3x wider than y and z, as the play data's (x 15 cm, y and z about 5.5 cm).
  states = jax.random.normal(jax.random.PRNGKey(0), (512, 3)) * jnp.array([0.15, 0.05, 0.06])
  stds = np.asarray(jnp.std(states, 0))
  default, _ = vae.train_vae(jax.random.PRNGKey(1), states, vae.VAEConfig(num_steps=2))
  isotropic, _ = vae.train_vae(jax.random.PRNGKey(1), states,
                               vae.VAEConfig(num_steps=2, isotropic=True))
  np.testing.assert_allclose(default.state_std, stds + 1e-6, rtol=1e-5)
  np.testing.assert_allclose(isotropic.state_std, np.full(3, stds.min() + 1e-6), rtol=1e-5)
  np.testing.assert_allclose(isotropic.state_mean, default.state_mean)
  # A centimetre along x is as far as along y in the standardised input the encoder sees
  # (2.9x shorter by default).
  step = lambda trained, axis: float(jnp.linalg.norm(jnp.eye(3)[axis] * 0.01 / trained.state_std))
  assert step(isotropic, 0) == pytest.approx(step(isotropic, 1))
  assert step(default, 1) > 2.5 * step(default, 0)


@pytest.mark.timeout(60)
def test_far_variant_geometry_by_hand():
  env, near = make_task("far_tray_socket"), make_task("tray_socket")
  assert env.spec.max_episode_steps == 120 and env.play_steps == 60
  np.testing.assert_allclose(np.asarray(env.goal_position_m()), [0.30, 0.0, -0.03], atol=1e-7)
  # The tray (inner x in (-0.33, -0.27)): from x = -0.275 a +x step to -0.26 leaves it, refused
  # below the walls' 6 cm top, allowed at it.
  blocked = env.move(jnp.array([-0.275, 0.0, 0.03]), jnp.array([1.0, 0.0, 0.0]))
  np.testing.assert_allclose(np.asarray(blocked), [-0.275, 0.0, 0.03], atol=1e-7)
  over = env.move(jnp.array([-0.275, 0.0, 0.06]), jnp.array([1.0, 0.0, 0.0]))
  np.testing.assert_allclose(np.asarray(over), [-0.26, 0.0, 0.06], atol=1e-7)
  # Where tray_socket's socket was (x = 0.15) there is table now; the hole is at x = 0.30.
  table = env.move(jnp.array([0.15, 0.0, 0.01]), jnp.array([0.0, 0.0, -1.0]))
  np.testing.assert_allclose(np.asarray(table), [0.15, 0.0, 0.0], atol=1e-7)
  assert bool(near.move(jnp.array([0.15, 0.0, 0.01]), jnp.array([0.0, 0.0, -1.0]))[2] < 0)
  # 1 cm off the axis is within the 1.5 cm chamfer: centred into the 4 mm clearance.
  entered = env.move(jnp.array([0.31, 0.0, 0.005]), jnp.array([0.0, 0.0, -1.0]))
  np.testing.assert_allclose(np.asarray(entered), [0.304, 0.0, -0.01], atol=1e-6)
  assert bool(env.is_success(jnp.array([0.30, 0.0, -0.025])))
  assert not bool(env.is_success(jnp.array([0.30, 0.0, -0.02])))
  assert not bool(env.is_success(jnp.array([0.15, 0.0, -0.03])))
  # The widened workspace: x up to 0.40 (tray_socket stops at 0.25).
  edge = env.move(jnp.array([0.395, 0.0, 0.1]), jnp.array([1.0, 0.0, 0.0]))
  assert float(edge[0]) == pytest.approx(0.40)
  assert float(near.move(jnp.array([0.245, 0.0, 0.1]), jnp.array([1.0, 0.0, 0.0]))[0]) == (
      pytest.approx(0.25))
  with pytest.raises(ValueError, match="play_steps"):
    MultiStageInsertion(play_steps=-1)


@pytest.mark.timeout(60)
def test_far_variant_needs_more_steps_than_tray_socket_allows_and_its_play_stays_short():
  env = make_task("far_tray_socket")
  keys = jax.random.split(jax.random.PRNGKey(0), 8)
  staged = _staged_policy(env, env.wall_height_m + 0.015)
  assert np.all(_successes(env, staged, keys))
  # It needs 52-53 steps (tray_socket's 32-33): cut to 45 it does not get there.
  short = dataclasses.replace(env, max_episode_steps=45)
  assert not np.any(_successes(short, staged, keys))
  play = play_episodes(env, jax.random.PRNGKey(1), 300)
  assert play["actions"].shape == (300, 60, 3) and play["positions"].shape == (300, 61, 3)
  span = np.ptp(np.asarray(play["positions"][:, :, 0]), axis=1)
  route = env.socket_center_m[0] - env.tray_center_m[0]
  assert span.max() < route / 2, f"a play episode spans {span.max():.3f} m of the {route} m route"
  unchanged = make_task("tray_socket")
  assert unchanged.play_steps == 0
  assert play_episodes(unchanged, jax.random.PRNGKey(1), 2)["actions"].shape == (2, 60, 3)


def test_far_config_changes_only_task_length_play_count_and_top_subgoals():
  from experiments.configs import ptp_default, ptp_far

  def flat(config):
    return {f"{section}.{key}" if isinstance(values, dict) else section: value
            for section, values in config.to_dict().items()
            for key, value in (values.items() if isinstance(values, dict) else [(None, values)])}

  for size in ("default", "smoke", "tiny"):
    base, far = flat(ptp_default.get_config(size)), flat(ptp_far.get_config(size))
    changed = {key for key in base if base[key] != far[key]}
    assert changed == {"env.task", "env.max_episode_steps", "collect.num_episodes",
                       "planner.top_subgoals"}, size
    assert far["env.task"] == "far_tray_socket" and far["env.max_episode_steps"] == 120
    assert far["collect.num_episodes"] == 2 * base["collect.num_episodes"]
    assert far["planner.top_subgoals"] == 8 and base["planner.top_subgoals"] == 4
