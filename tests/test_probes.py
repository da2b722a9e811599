"""Probe MDPs: the environments keep their promises, and every agent learns their known values.

Each agent trains on the three probes at once (one compiled program, vmapped over the probes'
datasets) with small networks, then its critics (and IQL's V, and the policies on the
action-dependent probe) are compared with the closed forms.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.agents import get_agent
from jaxinsert.data import samplers
from jaxinsert.envs import probes
from jaxinsert.envs.base import autoreset_step
from jaxinsert.envs.rollout import agent_spec
from jaxinsert.types import Transition

DISCOUNT = 0.5        # far from 1, so that a missing discount or mask shows
NUM_UPDATES = 800
DATASET_SIZE = 1024
PROBE_NAMES = ("one-step", "two-step", "action-reward")
# Small, fast learners; everything else is the agent's default.
FAST = {"hidden_dims": (64, 64), "policy_hidden_dims": (64, 64), "critic_hidden_dims": (64, 64),
        "actor_lr": 1e-3, "critic_lr": 1e-3, "value_lr": 1e-3, "target_tau": 0.05,
        "cosine_decay_steps": 0, "discount": DISCOUNT}


def _config(agent_name, **overrides):
  config = get_agent(agent_name).get_config()
  for field, value in {**FAST, **overrides}.items():
    if field in config:
      config[field] = value
  return config


def _fixed_size(dataset: Transition, key) -> Transition:
  """Resamples a dataset to DATASET_SIZE transitions so the probes' datasets stack."""
  return samplers.uniform(dataset, key, DATASET_SIZE)


def _probe_datasets(behaviour=None) -> Transition:
  keys = jax.random.split(jax.random.PRNGKey(0), 2 * len(PROBE_NAMES))
  datasets = [_fixed_size(probes.probe_dataset(probes.make_probe(name), keys[2 * i], 600,
                                               behaviour), keys[2 * i + 1])
              for i, name in enumerate(PROBE_NAMES)]
  return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *datasets)


def _train(agent_name, config, datasets: Transition, num_updates: int = NUM_UPDATES,
           batch_size: int = 128):
  """Trains one copy of an agent per stacked dataset, in one jitted program.

  The copies start from the same parameters (one `create`, broadcast: compiling a vmapped
  initialisation would double the test's time) and train with their own batches and keys.
  """
  agent = get_agent(agent_name)
  spec = agent_spec(probes.OneStepProbe().spec)
  num_datasets = datasets.reward.shape[0]

  def train_one(state, dataset, key):
    def body(state, step_key):
      batch_key, update_key = jax.random.split(step_key)
      state, _ = agent.update(state, samplers.uniform(dataset, batch_key, batch_size),
                              update_key)
      return state, None

    return jax.lax.scan(body, state, jax.random.split(key, num_updates))[0]

  @jax.jit
  def train(datasets, key):
    create_key, train_key = jax.random.split(key)
    state = agent.create(config, create_key, spec)
    states = jax.tree_util.tree_map(
        lambda x: jnp.broadcast_to(x, (num_datasets,) + x.shape), state)
    return jax.vmap(train_one)(states, datasets, jax.random.split(train_key, num_datasets))

  return train(datasets, jax.random.PRNGKey(1))


def _one(states, index):
  return jax.tree_util.tree_map(lambda x: x[index], states)


def _check_critic(state, probe, tolerance, label):
  actions = jnp.linspace(-0.9, 0.9, 7)[:, None]
  for obs in probe.states():
    obs_batch = jnp.broadcast_to(obs, (actions.shape[0],) + obs.shape)
    expected = probe.q_value(obs_batch, actions, DISCOUNT)
    learned = state.critic.apply(obs_batch, actions)            # (num_critics, num_actions)
    error = float(jnp.max(jnp.abs(learned - expected)))
    assert error < tolerance, (f"{label}: Q at obs {obs} is {np.round(learned, 3)}, "
                               f"expected {np.round(expected, 3)} (max error {error:.3f})")


# --- The environments -----------------------------------------------------------------------

@pytest.mark.parametrize("name", PROBE_NAMES)
def test_probe_rewards_terminals_and_returns_match_the_closed_form_values(name):
  probe = probes.make_probe(name)
  state = probe.reset(jax.random.PRNGKey(0))
  discounted_return, discount = 0.0, 1.0
  action = jnp.array([probe.target]) if name == "action-reward" else jnp.array([-0.3])
  for _ in range(probe.spec.max_episode_steps):
    state = probe.step(state, action)
    discounted_return += discount * float(state.reward)
    discount *= DISCOUNT
  assert bool(state.terminal), f"{name}: not terminal after {probe.spec.max_episode_steps} steps"
  assert not bool(state.truncated), f"{name}: a terminal step must not also be a truncation"
  assert discounted_return == pytest.approx(float(probe.optimal_values(DISCOUNT)[0]), abs=1e-6)


def test_probe_datasets_have_masks_only_on_terminal_steps_and_autoreset_works():
  two_step = probes.TwoStepProbe()
  data = probes.probe_dataset(two_step, jax.random.PRNGKey(0), 50)
  assert data.size == 100, "two-step episodes must give exactly two transitions each"
  first = data.obs[:, 0] == 1.0
  np.testing.assert_array_equal(np.asarray(data.mask[first]), 1.0)
  np.testing.assert_array_equal(np.asarray(data.reward[first]), 0.0)
  np.testing.assert_array_equal(np.asarray(data.mask[~first]), 0.0)
  np.testing.assert_array_equal(np.asarray(data.reward[~first]), 1.0)
  assert float(jnp.max(jnp.abs(data.action))) <= 1.0
  state = two_step.reset(jax.random.PRNGKey(0))
  for _ in range(2):
    state, stepped = autoreset_step(two_step, state, jnp.zeros(1))
  assert bool(stepped.terminal) and int(state.step_count) == 0, "autoreset did not reset"


# --- Every agent on the probes --------------------------------------------------------------

@pytest.mark.parametrize("agent_name, overrides", [
    ("iql", {"beta": 10.0}),
    ("awac", {"beta": 10.0, "value_samples": 4}),
    ("sac", {"backup_entropy": False, "initial_temperature": 0.05}),
    ("td3", {}),
])
def test_agent_learns_probe_values(agent_name, overrides):
  states = _train(agent_name, _config(agent_name, **overrides), _probe_datasets())
  for index, name in enumerate(PROBE_NAMES):
    state = _one(states, index)
    probe = probes.make_probe(name)
    _check_critic(state, probe, 0.05, f"{agent_name} on {name}")
    if agent_name == "iql" and name != "action-reward":
      value = state.value.apply(probe.states())
      expected = probe.optimal_values(DISCOUNT)
      assert jnp.allclose(value, expected, atol=0.05), (
          f"iql on {name}: V = {np.round(value, 3)}, expected {np.round(expected, 3)}")
    if name == "action-reward":
      obs = probe.states()[0]
      action = float(get_agent(agent_name).act(state, obs, jax.random.PRNGKey(0), True)[0])
      assert abs(action - probe.target) < 0.1, (
          f"{agent_name}: deterministic action {action:.3f} on the action-dependent probe, "
          f"the best action is {probe.target}")


def test_td3_bc_policy_lands_where_the_bc_term_balances_the_q_term():
  # Uniform data (mean action 0), Q(a) = 1 - (a - 0.5)^2. The actor minimises
  # -lambda * Q(pi) + (pi - 0)^2 with lambda = alpha / |Q(pi)| ~ 2.5, so
  # pi = 0.5 * lambda / (lambda + 1) ~ 0.36: halfway terms that a wrong scale would move.
  config = _config("td3", bc_alpha=2.5)
  states = _train("td3", config, _probe_datasets())
  state, probe = _one(states, 2), probes.ActionRewardProbe()
  action = float(get_agent("td3").act(state, probe.states()[0], jax.random.PRNGKey(0), True)[0])
  q = 1.0 - (action - 0.5) ** 2
  scale = 2.5 / q
  expected = 0.5 * scale / (scale + 1.0)
  assert abs(action - expected) < 0.04, f"TD3+BC action {action:.3f}, expected {expected:.3f}"


def test_bc_imitates_the_good_actions_of_an_expert_probe_dataset():
  probe = probes.ActionRewardProbe()
  expert = lambda key, state, params: probe.target + 0.1 * jax.random.normal(key, (1,))
  states = _train("bc", _config("bc"), _probe_datasets(expert))
  state = _one(states, 2)
  mean, _ = state.actor.apply(probe.states())
  assert abs(float(mean[0, 0]) - probe.target) < 0.05, (
      f"BC mean action {float(mean[0, 0]):.3f}, the expert's is {probe.target}")
