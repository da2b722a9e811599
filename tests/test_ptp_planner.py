"""PTP's planner on a synthetic latent space (digest 6.8 acceptance): the analytic generator
g(s, z) = s + 0.1 z and the analytic value V(s, s') = -||s - s'|| / 0.1 (steps of 0.1 needed)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.planning import buffer as plan_buffer
from jaxinsert.planning import mppi, runner

STEP = 0.1
LATENT_DIM = 2


def generator(state, latent):
  return state + STEP * latent


def value(state, goal):
  return -jnp.linalg.norm(state - goal) / STEP


def feasibility_value(state, goal):
  # 0 while the goal is within one generator step, then -1 per step beyond it.
  return -jax.nn.relu(jnp.linalg.norm(state - goal) - STEP) / STEP


START = jnp.zeros(LATENT_DIM)
GOAL = jnp.array([0.6, 0.0])
SMALL = dict(num_samples=128)


@functools.lru_cache(maxsize=None)
def _planner(**config):
  config = mppi.MPPIConfig(**{**SMALL, **config})
  return jax.jit(jax.vmap(lambda k: mppi.mppi_plan(k, START, GOAL, generator, value, 4,
                                                   LATENT_DIM, config)))


def _plans(keys=(0,), **config):
  """Plans from each key in `keys`, one compiled program per config."""
  return _planner(**config)(jax.vmap(jax.random.PRNGKey)(jnp.asarray(keys)))


def _plan(key=0, **config):
  return jax.tree_util.tree_map(lambda x: x[0], _plans((key,), **config))


def test_cost_never_increases_across_mppi_iterations_because_the_elite_is_kept():
  plans = _plans((0, 1, 2), values_weight=0.01)
  for key in range(3):
    plan = jax.tree_util.tree_map(lambda x: x[key], plans)
    history = np.asarray(plan.cost_history)
    assert history.shape == (5,)
    assert np.all(np.diff(history) <= 1e-6), f"best cost rose across iterations: {history}"
    latents_cost = mppi.plan_cost(START, GOAL, mppi.decode_subgoals(generator, START, plan.latents),
                                  plan.latents, value, 0.01, 0.01)
    np.testing.assert_allclose(plan.cost, latents_cost, rtol=1e-5,
                               err_msg="the returned cost is not the cost of the returned latents")


def test_with_eta_zero_the_cost_is_the_final_distance_only():
  latents = jax.random.normal(jax.random.PRNGKey(3), (4, LATENT_DIM)) * 3.0
  subgoals = mppi.decode_subgoals(generator, START, latents)
  cost = mppi.plan_cost(START, GOAL, subgoals, latents, value, values_weight=0.0, prior_weight=0.0)
  np.testing.assert_allclose(cost, jnp.linalg.norm(GOAL - subgoals[-1]), rtol=1e-6)
  # One MPPI iteration over fixed samples picks the sample nearest the goal at the end, however
  # long its path; with eta > 0 the pick changes to a plan of cheaper jumps.
  samples = jax.random.normal(jax.random.PRNGKey(4), (64, 4, LATENT_DIM)) * 2.0
  def pick(eta):
    config = mppi.MPPIConfig(num_samples=64, noise_levels=(1.0,), values_weight=eta,
                             prior_weight=0.0, replace_final_subgoal=False)
    return mppi.mppi_plan(jax.random.PRNGKey(0), START, GOAL, generator, value, 4, LATENT_DIM,
                          config, initial_latents=samples)
  finals = jax.vmap(lambda z: mppi.decode_subgoals(generator, START, z)[-1])(samples)
  nearest = int(jnp.argmin(jnp.linalg.norm(finals - GOAL, axis=-1)))
  np.testing.assert_array_equal(pick(0.0).latents, samples[nearest])
  np.testing.assert_allclose(pick(0.0).cost, jnp.linalg.norm(finals[nearest] - GOAL), rtol=1e-5)
  assert not np.array_equal(pick(1.0).latents, samples[nearest])


def test_with_eta_positive_large_jumps_cost_more():
  even = jnp.linspace(0.0, 1.0, 7)[1:, None] * GOAL      # six steps of 0.1
  one_jump = jnp.concatenate([jnp.zeros((5, LATENT_DIM)), GOAL[None]])  # stay, then jump 0.6
  zeros = jnp.zeros((6, LATENT_DIM))
  for value_fn in (value, feasibility_value):
    cost = lambda plan, eta: float(mppi.plan_cost(START, GOAL, plan, zeros, value_fn, eta, 0.0))
    assert cost(even, 0.0) == pytest.approx(cost(one_jump, 0.0)), "eta = 0 must ignore the jumps"
  assert cost(one_jump, 0.01) > cost(even, 0.01) + 1e-3, "a 0.6 jump should cost more than steps"
  # And the planner trades final distance for feasibility: with eta > 0 the chosen plan's
  # jumps stay nearer one generator step.
  def max_jump(eta):
    config = mppi.MPPIConfig(num_samples=256, values_weight=eta, prior_weight=0.0,
                             replace_final_subgoal=False)
    plan = mppi.mppi_plan(jax.random.PRNGKey(0), START, jnp.array([1.0, 0.0]), generator,
                          feasibility_value, 4, LATENT_DIM, config)
    path = jnp.concatenate([START[None], plan.subgoals])
    return float(jnp.max(jnp.linalg.norm(jnp.diff(path, axis=0), axis=-1)))
  assert max_jump(1.0) < max_jump(0.0), "eta > 0 did not shorten the planned jumps"


def test_final_subgoal_is_replaced_by_the_goal():
  plan = _plan(values_weight=0.01)
  np.testing.assert_array_equal(plan.subgoals[-1], GOAL)
  kept = jax.jit(lambda k: mppi.mppi_plan(k, START, GOAL, generator, None, 4, LATENT_DIM,
                                          mppi.MPPIConfig(num_samples=16, noise_levels=(1.0,),
                                                          replace_final_subgoal=False)))(
      jax.random.PRNGKey(0))
  assert not np.array_equal(kept.subgoals[-1], GOAL)


def test_hierarchical_plan_length_and_segments_join_at_the_upper_subgoals():
  config = mppi.MPPIConfig(num_samples=128)
  plan = jax.jit(lambda k: mppi.hierarchical_plan(
      k, START, GOAL, [generator] * 3, [value] * 3, top_subgoals=2, multiplier=2,
      latent_dim=LATENT_DIM, config=config))(jax.random.PRNGKey(0))
  assert [s.shape[0] for s in plan.level_subgoals] == [2, 4, 8]
  assert plan.subgoals.shape == (8, LATENT_DIM)
  assert [l.shape for l in plan.level_latents] == [(1, 2, 2), (2, 2, 2), (4, 2, 2)]
  np.testing.assert_array_equal(plan.subgoals[-1], GOAL)
  for coarse, fine in zip(plan.level_subgoals[:-1], plan.level_subgoals[1:]):
    np.testing.assert_array_equal(fine[1::2], coarse)
  with pytest.raises(ValueError, match="one generator and one value per level"):
    mppi.hierarchical_plan(jax.random.PRNGKey(0), START, GOAL, [generator] * 3, [value] * 2,
                           2, 2, LATENT_DIM, config)


def test_bad_planner_input_is_refused_with_a_message():
  with pytest.raises(ValueError, match="num_samples"):
    mppi.MPPIConfig(num_samples=1)
  with pytest.raises(ValueError, match="same shape"):
    mppi.mppi_plan(jax.random.PRNGKey(0), START, jnp.zeros(3), generator, value, 2, LATENT_DIM)


def test_plan_buffer_samples_the_prior_until_it_holds_enough_plans():
  buffer = plan_buffer.create(capacity=40, num_subgoals=2, latent_dim=LATENT_DIM)
  marker = jnp.full((2, LATENT_DIM), 50.0)
  buffer = plan_buffer.add(buffer, jnp.broadcast_to(marker, (10, 2, LATENT_DIM)))
  samples = plan_buffer.initial_samples(buffer, jax.random.PRNGKey(0), 100, prior_probability=0.0)
  assert not np.any(np.asarray(samples) == 50.0), "sampled the buffer before min_size plans"
  buffer = plan_buffer.add(buffer, jnp.broadcast_to(marker, (35, 2, LATENT_DIM)))
  assert int(buffer.size) == 40 and int(buffer.cursor) == 5
  samples = plan_buffer.initial_samples(buffer, jax.random.PRNGKey(0), 100, prior_probability=0.0)
  from_buffer = np.all(np.asarray(samples) == 50.0, axis=(1, 2))
  assert from_buffer.sum() == 50, f"{from_buffer.sum()} of 100 samples came from the buffer"
  with pytest.raises(ValueError, match="entries have shape"):
    plan_buffer.add(buffer, jnp.zeros((3, LATENT_DIM)))


class _PointEnv:
  """A latent-space point that the action moves directly (obs = position)."""

  def reset(self):
    from jaxinsert.envs.base import EnvState
    zero = jnp.zeros(())
    return EnvState(physics=None, task=None, obs=START, reward=zero, terminal=zero > 0,
                    truncated=zero > 0, step_count=jnp.zeros((), jnp.int32),
                    key=jax.random.PRNGKey(0))

  def step(self, state, action):
    return state.replace(obs=state.obs + action, step_count=state.step_count + 1)


def test_runner_switches_subgoals_on_timeout_and_on_reaching_one():
  env = _PointEnv()
  subgoals = jnp.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
  still = lambda obs, subgoal, key: jnp.zeros(LATENT_DIM)
  records = runner.run_episode(env, env.reset(), still, lambda obs: obs, subgoals,
                               jax.random.PRNGKey(0), num_steps=10, timeout=3, threshold=0.1)
  np.testing.assert_array_equal(records["subgoal_index"], [0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
  jump = lambda obs, subgoal, key: subgoal - obs
  records = runner.run_episode(env, env.reset(), jump, lambda obs: obs, subgoals,
                               jax.random.PRNGKey(0), num_steps=5, timeout=30, threshold=0.1)
  np.testing.assert_array_equal(records["subgoal_index"], [0, 1, 2, 2, 2])
  np.testing.assert_allclose(records["next_obs"][-1], subgoals[-1])
