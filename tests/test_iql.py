"""IQL's anchors that need no D4RL (digest 004 part 2, section 1.7).

Expectiles are computed here by minimising IQL's own `expectile_loss` (Newton's method on exact
expectations), never typed in; the published closed forms are what they are compared with.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.agents import bc, common, iql
from jaxinsert.types import Spec, Transition

NEWTON_STEPS = 60


@jax.jit
def _expectiles(values, weights, expectile):
  """argmin_m sum_i weights[s, i] * expectile_loss(values[i] - m[s]) for every row s.

  The objective is convex and piecewise quadratic, so Newton's method is exact after finitely
  many steps. It is separable over rows: the Hessian is diagonal, read off with one jvp.
  """
  objective = lambda m: jnp.sum(weights * iql.expectile_loss(values[None, :] - m[:, None],
                                                             expectile))
  gradient = jax.grad(objective)

  def newton(_, m):
    slope, curvature = jax.jvp(gradient, (m,), (jnp.ones_like(m),))
    return m - slope / curvature

  start = jnp.sum(weights * values, axis=1) / jnp.sum(weights, axis=1)
  return jax.lax.fori_loop(0, NEWTON_STEPS, newton, start)


def _normal_grid():
  x = jnp.linspace(-10.0, 10.0, 200_001)
  density = jnp.exp(-0.5 * x**2)
  return x, (density / jnp.sum(density))[None]


def test_expectile_loss_weights_positive_and_negative_errors_asymmetrically():
  loss = iql.expectile_loss(jnp.array([2.0, -2.0, 0.0]), 0.7)
  np.testing.assert_allclose(np.asarray(loss), [0.7 * 4.0, 0.3 * 4.0, 0.0], rtol=1e-6)


@pytest.mark.parametrize("expectile, published", [
    (0.5, 0.0), (0.7, 0.3371), (0.8, 0.5492), (0.9, 0.8616), (0.95, 1.1402), (0.99, 1.7174)])
def test_fitted_expectiles_of_a_standard_normal_match_the_closed_form(expectile, published):
  values, weights = _normal_grid()
  fitted = float(_expectiles(values, weights, expectile)[0])
  assert fitted == pytest.approx(published, abs=0.01), (
      f"tau={expectile}: fitted {fitted:.4f}, closed form {published}")


@pytest.mark.parametrize("expectile, published", [
    (0.5, 0.2), (0.7, 0.3684), (0.9, 0.6923), (0.99, 0.9612)])
def test_fitted_expectiles_of_bernoulli_0_2_match_the_closed_form(expectile, published):
  fitted = float(_expectiles(jnp.array([0.0, 1.0]), jnp.array([[0.8, 0.2]]), expectile)[0])
  assert fitted == pytest.approx(published, abs=0.01)


def test_expectiles_are_monotone_in_tau_and_approach_the_supremum():
  values, weights = _normal_grid()
  taus = [0.1, 0.3, 0.5, 0.7, 0.9, 0.99]
  fitted = [float(_expectiles(values, weights, tau)[0]) for tau in taus]
  assert all(a < b for a, b in zip(fitted, fitted[1:])), f"not increasing in tau: {fitted}"
  # Lemma 3: for bounded support the expectile tends to the supremum (U[0, 1]: 0.9693 at 0.999).
  uniform = jnp.linspace(0.0, 1.0, 100_001)
  uniform_weights = jnp.full((1, uniform.shape[0]), 1.0 / uniform.shape[0])
  assert float(_expectiles(uniform, uniform_weights, 0.999)[0]) == pytest.approx(0.9693, abs=0.01)


# --- Tabular fixed points (Lemma 4, Theorem 1) ----------------------------------------------

def _random_mdp(seed=0, num_states=6, num_actions=4, in_support=2, discount=0.9):
  rng = np.random.default_rng(seed)
  transitions = rng.dirichlet(np.ones(num_states), size=(num_states, num_actions))
  rewards = rng.uniform(0.0, 1.0, size=(num_states, num_actions))
  behaviour = np.zeros((num_states, num_actions))
  for state in range(num_states):
    support = rng.choice(num_actions, size=in_support, replace=False)
    behaviour[state, support] = rng.dirichlet(np.ones(in_support))
  return transitions, rewards, behaviour, discount


def _state_blocks(behaviour):
  """Weights that make row s of `_expectiles` range over Q(s, .) under behaviour(.|s)."""
  num_states, num_actions = behaviour.shape
  weights = np.zeros((num_states, num_states * num_actions))
  for state in range(num_states):
    weights[state, state * num_actions:(state + 1) * num_actions] = behaviour[state]
  return jnp.asarray(weights, jnp.float32)


@functools.partial(jax.jit, static_argnames=("discount", "sweeps"))
def _expectile_fixed_point(transitions, rewards, weights, discount, expectile, sweeps=300):
  """V_tau: Q = r + gamma P V, V(s) = tau-expectile over in-support actions of Q(s, a)."""
  transitions, rewards = jnp.asarray(transitions, jnp.float32), jnp.asarray(rewards, jnp.float32)

  def sweep(_, value):
    q = rewards + discount * transitions @ value
    return _expectiles(q.reshape(-1), weights, expectile)

  return jax.lax.fori_loop(0, sweeps, sweep, jnp.zeros(rewards.shape[0]))


def test_tabular_expectile_values_rise_with_tau_from_sarsa_to_the_in_support_optimum():
  transitions, rewards, behaviour, discount = _random_mdp()
  num_states = rewards.shape[0]
  # SARSA: the behaviour policy's value, by a linear solve.
  policy_transitions = np.einsum("sa,sat->st", behaviour, transitions)
  sarsa = np.linalg.solve(np.eye(num_states) - discount * policy_transitions,
                          np.sum(behaviour * rewards, axis=1))
  # The support-constrained optimum, by value iteration with the max over in-support actions.
  optimum = np.zeros(num_states)
  for _ in range(500):
    q = rewards + discount * transitions @ optimum
    optimum = np.max(np.where(behaviour > 0, q, -np.inf), axis=1)

  weights = _state_blocks(behaviour)
  taus = [0.5, 0.7, 0.9, 0.99, 0.999]
  values = [np.asarray(_expectile_fixed_point(transitions, rewards, weights, discount, tau))
            for tau in taus]
  np.testing.assert_allclose(values[0], sarsa, rtol=1e-4,
                             err_msg="tau = 0.5 must give the SARSA (behaviour) values")
  for (low_tau, low), (high_tau, high) in zip(zip(taus, values), zip(taus[1:], values[1:])):
    assert np.all(high >= low - 1e-5), f"V_{high_tau} < V_{low_tau} somewhere: {high} {low}"
  assert np.all(values[-1] <= optimum + 1e-4), "V_tau exceeded the in-support optimum"
  relative_gap = np.max(np.abs(values[-1] - optimum) / np.abs(optimum))
  assert relative_gap < 0.01, f"V_0.999 is {relative_gap:.2%} from the in-support optimum"


# --- The thesis's U-maze toy (section 7.3.1) ------------------------------------------------

# The thesis gives no layout; this one: a 4 x 5 grid, a wall down the middle three rows, start
# top-left, goal top-right, so the shortest path (10 moves) runs down, across and up the U.
U_MAZE = ("S.#.G",
          "..#..",
          "..#..",
          ".....")
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))
SLIP = 0.25          # probability of landing on a random (non-goal) free cell instead
GOAL_REWARD = 10.0   # for entering the goal, which ends the episode
GAMMA = 0.9


def _u_maze():
  cells = [(r, c) for r, row in enumerate(U_MAZE) for c, char in enumerate(row) if char != "#"]
  index = {cell: i for i, cell in enumerate(cells)}
  find = lambda char: index[next((r, c) for r, row in enumerate(U_MAZE)
                                 for c, x in enumerate(row) if x == char)]
  start, goal = find("S"), find("G")
  num_states = len(cells)
  commanded = np.zeros((num_states, len(MOVES)), int)
  for (r, c), i in index.items():
    for a, (dr, dc) in enumerate(MOVES):
      commanded[i, a] = index.get((r + dr, c + dc), i)     # walls and edges: stay
  slip_targets = [i for i in range(num_states) if i != goal]
  transitions = np.zeros((num_states, len(MOVES), num_states))
  for i in range(num_states):
    for a in range(len(MOVES)):
      transitions[i, a, commanded[i, a]] += 1.0 - SLIP
      transitions[i, a, slip_targets] += SLIP / len(slip_targets)
  rewards = GOAL_REWARD * transitions[:, :, goal]        # expected reward of entering the goal
  return transitions, rewards, start, goal


def _u_maze_optimal_values(transitions, goal):
  value = np.zeros(transitions.shape[0])
  for _ in range(500):
    continuation = np.where(np.arange(value.shape[0]) == goal, 0.0, value)   # goal is terminal
    q = GOAL_REWARD * transitions[:, :, goal] + GAMMA * transitions @ continuation
    value = np.where(np.arange(value.shape[0]) == goal, 0.0, np.max(q, axis=1))
  return value, q


def _u_maze_dataset(transitions, start, goal, optimal_q, horizon=100, seed=0):
  """1 optimal trajectory and 99 uniform-random ones, each from the start (thesis 7.3.1)."""
  rng = np.random.default_rng(seed)
  steps = []
  for episode in range(100):
    state = start
    for _ in range(horizon):
      action = int(np.argmax(optimal_q[state])) if episode == 0 else int(rng.integers(4))
      next_state = int(rng.choice(transitions.shape[0], p=transitions[state, action]))
      steps.append((state, action, GOAL_REWARD * (next_state == goal), next_state))
      if next_state == goal:
        break
      state = next_state
  return np.array(steps).T


def _iql_tabular_values(dataset, num_states, goal, expectile, sweeps=200):
  """IQL on the dataset, tabular: Q is the mean TD target per (s, a), V the expectile of Q."""
  states, actions, rewards, next_states = dataset
  states, actions, next_states = (x.astype(int) for x in (states, actions, next_states))
  pair = states * 4 + actions
  counts = np.bincount(pair, minlength=num_states * 4)
  weights = np.zeros((num_states, num_states * 4), np.float32)
  np.add.at(weights, (states, pair), 1.0)        # V(s) ranges over the dataset's actions at s
  value = np.zeros(num_states, np.float32)
  for _ in range(sweeps):
    targets = rewards + GAMMA * np.where(next_states == goal, 0.0, value[next_states])
    q = np.bincount(pair, weights=targets, minlength=num_states * 4) / np.maximum(counts, 1)
    value = np.array(_expectiles(jnp.asarray(q, jnp.float32), jnp.asarray(weights), expectile))
    value = np.nan_to_num(value)       # states never acted from (the goal) have no samples
    value[goal] = 0.0
  in_support = (counts > 0).reshape(num_states, 4)
  return value, np.where(in_support, q.reshape(num_states, 4), -np.inf)


def _greedy_policy_value(transitions, goal, q):
  """Exact value of acting greedily on `q` (ties: first action) in the true U-maze."""
  num_states = transitions.shape[0]
  greedy = np.argmax(q, axis=1)
  policy_transitions = transitions[np.arange(num_states), greedy]
  policy_transitions[:, goal] = 0.0                       # entering the goal ends the episode
  rewards = GOAL_REWARD * transitions[np.arange(num_states), greedy, goal]
  return np.linalg.solve(np.eye(num_states) - GAMMA * policy_transitions, rewards)


def test_u_maze_iql_values_are_closer_to_optimal_than_one_step_sarsa():
  transitions, _, start, goal = _u_maze()
  optimal, optimal_q = _u_maze_optimal_values(transitions, goal)
  dataset = _u_maze_dataset(transitions, start, goal, optimal_q)
  num_states = transitions.shape[0]
  visited = np.unique(dataset[0].astype(int))
  one_step, one_step_q = _iql_tabular_values(dataset, num_states, goal, 0.5)
  iql_values, iql_q = _iql_tabular_values(dataset, num_states, goal, 0.95)
  error = lambda v: float(np.mean(np.abs(v[visited] - optimal[visited])))
  assert error(iql_values) < 0.5 * error(one_step), (
      f"mean |V - V*|: IQL tau 0.95 {error(iql_values):.3f}, one-step {error(one_step):.3f}")
  assert abs(iql_values[start] - optimal[start]) < abs(one_step[start] - optimal[start])
  # The policies read off the two Q tables (greedy over the dataset's actions), run exactly.
  iql_return = _greedy_policy_value(transitions, goal, iql_q)[start]
  one_step_return = _greedy_policy_value(transitions, goal, one_step_q)[start]
  assert iql_return >= one_step_return - 1e-6, (
      f"value of the greedy policy at the start: IQL {iql_return:.3f}, one-step "
      f"{one_step_return:.3f} (optimal {optimal[start]:.3f})")


# --- Advantage weights and the actor loss ---------------------------------------------------

def test_advantage_weights_are_capped_monotone_and_have_finite_gradients():
  advantages = jnp.array([-5.0, -1.0, 0.0, 0.5, 1.0, 2.0, 1e6])
  weights = common.advantage_weights(advantages, beta=3.0)
  assert float(weights[-1]) == pytest.approx(100.0), "weights must be capped at 100"
  assert float(jnp.max(weights)) <= 100.0 + 1e-4
  assert bool(jnp.all(jnp.diff(weights) >= 0)), f"weights not monotone: {weights}"
  assert bool(jnp.all(jnp.diff(weights[:-2]) > 0)), "larger advantage must get larger weight"
  assert float(weights[2]) == 1.0, "zero advantage must weigh one (plain behaviour cloning)"
  gradient = jax.grad(lambda a: jnp.sum(common.advantage_weights(a, 3.0)))(advantages)
  assert bool(jnp.all(jnp.isfinite(gradient))), f"non-finite gradient: {gradient}"


SPEC = Spec(obs_shape=(4,), action_dim=2)


@functools.lru_cache(maxsize=None)
def _small_iql_state():
  """One IQL state with small networks and policy dropout, created once for these tests."""
  config = iql.get_config()
  config.hidden_dims, config.dropout_rate = (16, 16), 0.1
  return jax.jit(lambda key: iql.create(config, key, SPEC))(jax.random.PRNGKey(0))


def _random_batch(key, size=32) -> Transition:
  keys = jax.random.split(key, 3)
  return Transition(obs=jax.random.normal(keys[0], (size, 4)),
                    action=jax.random.uniform(keys[1], (size, 2), minval=-1, maxval=1),
                    reward=jnp.zeros(size), mask=jnp.ones(size),
                    next_obs=jax.random.normal(keys[2], (size, 4)))


def _zeros(tree):
  return jax.tree_util.tree_map(jnp.zeros_like, tree)


def test_iql_actor_gradient_with_zero_advantage_equals_the_bc_gradient():
  bc_config = bc.get_config()
  bc_config.hidden_dims, bc_config.dropout_rate = (16, 16), 0.1
  state = _small_iql_state()
  # V = 0 and target Q = 0 everywhere make every advantage exactly zero.
  state = state.replace(value=state.value.replace(params=_zeros(state.value.params)),
                        target_critic_params=_zeros(state.target_critic_params))
  bc_state = bc.BCState(actor=state.actor, config=common.frozen(bc_config))
  batch = _random_batch(jax.random.PRNGKey(1))

  @jax.jit
  def gradients(state, bc_state, dropout_key):
    iql_gradient = jax.grad(lambda p: iql.actor_loss(p, state, batch, dropout_key)[0])(
        state.actor.params)
    bc_gradient = jax.grad(lambda p: bc.loss(p, bc_state, batch, dropout_key)[0])(
        state.actor.params)
    return iql_gradient, bc_gradient

  iql_gradient, bc_gradient = gradients(state, bc_state, jax.random.PRNGKey(2))
  for a, b in zip(jax.tree_util.tree_leaves(iql_gradient), jax.tree_util.tree_leaves(bc_gradient)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
  assert any(float(jnp.max(jnp.abs(g))) > 0 for g in jax.tree_util.tree_leaves(bc_gradient))


def _constant_output(params, constant):
  """MLP parameters whose output is `constant` everywhere: all zero but the last bias."""
  params = _zeros(params)
  last = sorted(params["MLP_0"])[-1]
  params["MLP_0"][last]["bias"] = jnp.full_like(params["MLP_0"][last]["bias"], constant)
  return params


def test_iql_value_and_actor_read_the_target_critic_and_the_critic_reads_v():
  state = _small_iql_state()
  batch = _random_batch(jax.random.PRNGKey(1))
  batch = batch.replace(reward=jnp.linspace(-1.0, 1.0, 32),
                        mask=(jnp.arange(32) % 3 != 0).astype(jnp.float32))
  key = jax.random.PRNGKey(2)
  # Moving the online critic must not change the V or actor losses (they use the target).
  moved_online = state.replace(critic=state.critic.replace(
      params=jax.tree_util.tree_map(lambda x: x + 1.0, state.critic.params)))
  # With V = 2 and Q = 0 everywhere, the critic loss is known exactly if the target is
  # r + discount * mask * V(s'): the sum over the two heads of mean (r + 0.99 * mask * 2)^2.
  value_two = state.replace(value=state.value.replace(
      params=_constant_output(state.value.params, 2.0)))
  zero_critic = _zeros(state.critic.params)

  @jax.jit
  def losses(state, moved_online, value_two):
    return (iql.value_loss(state.value.params, state, batch)[0],
            iql.value_loss(state.value.params, moved_online, batch)[0],
            iql.actor_loss(state.actor.params, state, batch, key)[0],
            iql.actor_loss(state.actor.params, moved_online, batch, key)[0],
            iql.critic_loss(zero_critic, value_two, batch)[0])

  value, value_moved, actor, actor_moved, critic = losses(state, moved_online, value_two)
  assert float(value) == float(value_moved), "the V loss reads the online critic"
  assert float(actor) == float(actor_moved), "the actor loss reads the online critic"
  expected = 2.0 * float(jnp.mean((batch.reward + 0.99 * batch.mask * 2.0) ** 2))
  assert float(critic) == pytest.approx(expected, rel=1e-5), (
      f"critic loss {float(critic):.5f}, expected {expected:.5f} for r + discount * mask * V(s')")


def _reference_params(state):
  """jaxinsert IQL's flax parameters in the benchmark anchor's plain-array layout."""
  def layers(mlp, names):
    return [(mlp[name]["kernel"], mlp[name]["bias"]) for name in names]

  actor = state.actor.params
  critic = state.critic.params["VmapCritic_0"]["MLP_0"]
  value = state.value.params["MLP_0"]
  names = ("Dense_0", "Dense_1", "Dense_2")
  params = {
      "actor": {"mlp": layers(actor["MLP_0"], names[:2]) + layers(actor, ("Dense_0",)),
                "log_std": actor["log_std"]},
      "critic": layers(critic, names),
      "value": layers(value, names),
      "target": layers(state.target_critic_params["VmapCritic_0"]["MLP_0"], names),
  }
  return params


@pytest.mark.timeout(120)
def test_the_speed_anchor_does_the_same_arithmetic_as_iql():
  """The benchmark's minimal IQL (experiments/benchmarks/iql_reference.py) is only a fair
  anchor if one update of it moves every parameter exactly as jaxinsert's IQL does."""
  from experiments.benchmarks import iql_reference as ref

  spec = Spec((ref.OBS_DIM,), ref.ACTION_DIM)
  state = iql.create(iql.get_config(), jax.random.PRNGKey(0), spec)
  keys = jax.random.split(jax.random.PRNGKey(1), 4)
  batch = Transition(
      obs=jax.random.normal(keys[0], (ref.BATCH, ref.OBS_DIM)),
      action=jnp.tanh(jax.random.normal(keys[1], (ref.BATCH, ref.ACTION_DIM))),
      reward=jax.random.normal(keys[2], (ref.BATCH,)),
      mask=(jax.random.uniform(keys[3], (ref.BATCH,)) > 0.1).astype(jnp.float32),
      next_obs=jax.random.normal(keys[3], (ref.BATCH, ref.OBS_DIM)))
  params = _reference_params(state)
  _, opt_state = ref.init(jax.random.PRNGKey(2))
  # Two updates, so that the second starts from moved target and optimiser states.
  # Both jitted: op by op they took about a minute on this CPU.
  update, ref_update = jax.jit(iql.update), jax.jit(ref.update)
  for _ in range(2):
    state, _ = update(state, batch, jax.random.PRNGKey(3))
    params, opt_state = ref_update(params, opt_state, (batch.obs, batch.action, batch.reward,
                                                       batch.mask, batch.next_obs))
  ours = jax.tree_util.tree_leaves(_reference_params(state))
  theirs = jax.tree_util.tree_leaves(params)
  assert len(ours) == len(theirs)
  for a, b in zip(ours, theirs):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
