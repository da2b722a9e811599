"""The agent contract, for every agent: shapes, purity under jit and vmap, rebuildable state.

Plus the structural promises of individual agents (AWAC's losses touch only their own network,
TD3's delayed policy updates) and the presets' published numbers.
"""

import functools
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.agents import AGENT_NAMES, awac, get_agent, td3
from jaxinsert.types import Spec, Transition

SPEC = Spec(obs_shape=(5,), action_dim=3)
NUM_SEEDS = 2
BATCH_SIZE = 8
TINY = {"hidden_dims": (16, 16), "policy_hidden_dims": (16, 16), "critic_hidden_dims": (16, 16)}


def _config(agent_name, **overrides):
  config = get_agent(agent_name).get_config()
  for field, value in {**TINY, **overrides}.items():
    if field in config:
      config[field] = value
  return config


def _batch(key, leading=()) -> Transition:
  keys = jax.random.split(key, 5)
  shape = leading + (BATCH_SIZE,)
  return Transition(
      obs=jax.random.normal(keys[0], shape + SPEC.obs_shape),
      action=jax.random.uniform(keys[1], shape + (SPEC.action_dim,), minval=-1, maxval=1),
      reward=jax.random.normal(keys[2], shape),
      mask=(jax.random.uniform(keys[3], shape) > 0.1).astype(jnp.float32),
      next_obs=jax.random.normal(keys[4], shape + SPEC.obs_shape))


def _leaves_equal(a, b) -> bool:
  return all(bool(jnp.array_equal(x, y)) for x, y in
             zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


@functools.lru_cache(maxsize=None)
def _seed_states(agent_name):
  """NUM_SEEDS states of the tiny-config agent, from one jitted vmap of `create`.

  Cached: compiling an agent's initialisation is the slowest part of these tests on CPU.
  """
  agent = get_agent(agent_name)
  create_seeds = jax.jit(lambda keys: jax.vmap(agent.create, in_axes=(None, 0, None))(
      _config(agent_name), keys, SPEC))
  return create_seeds(jax.random.split(jax.random.PRNGKey(0), NUM_SEEDS))


def _first(tree):
  return jax.tree_util.tree_map(lambda x: x[0], tree)


@pytest.mark.parametrize("agent_name", AGENT_NAMES)
def test_agent_contract_under_jit_and_vmap_over_seeds(agent_name):
  agent = get_agent(agent_name)
  states = _seed_states(agent_name)
  seed_keys = jax.random.split(jax.random.PRNGKey(1), NUM_SEEDS)
  shared_batch = _batch(jax.random.PRNGKey(1))
  per_seed_batches = _batch(jax.random.PRNGKey(2), (NUM_SEEDS,))

  # Per-seed batches: traced (where vmap would fail) but not compiled, to keep the test fast.
  per_seed = jax.eval_shape(jax.vmap(agent.update), states, per_seed_batches, seed_keys)
  assert jax.tree_util.tree_structure(per_seed[0]) == jax.tree_util.tree_structure(states)

  @jax.jit
  def exercise(states, shared_batch, seed_keys):
    updated, metrics = jax.vmap(agent.update, in_axes=(0, None, 0))(
        states, shared_batch, seed_keys)
    one_state = _first(updated)
    act = lambda obs, deterministic: agent.act(one_state, obs, seed_keys[0], deterministic)
    actions = {"single": act(shared_batch.obs[0], True),
               "batch": act(shared_batch.obs, True),
               "sampled": act(jnp.reshape(shared_batch.obs, (2, 4, 5)) * 100.0, False)}
    return updated, metrics, actions

  updated, metrics, actions = exercise(states, shared_batch, seed_keys)

  assert jax.tree_util.tree_structure(updated) == jax.tree_util.tree_structure(states), (
      f"{agent_name}: update changed the state's tree structure")
  assert not _leaves_equal(states, updated), f"{agent_name}: update changed no parameter"
  for name, value in metrics.items():
    assert value.shape == (NUM_SEEDS,), f"{agent_name}: metric {name} is not a scalar per seed"
    assert bool(jnp.all(jnp.isfinite(value))), f"{agent_name}: metric {name} = {value}"
  second = jax.tree_util.tree_map(lambda x: x[1], states)
  assert not _leaves_equal(_first(states).actor.params, second.actor.params), (
      f"{agent_name}: two seeds created identical actors")
  assert actions["single"].shape == (SPEC.action_dim,)
  assert actions["batch"].shape == (BATCH_SIZE, SPEC.action_dim)
  assert actions["sampled"].shape == (2, 4, SPEC.action_dim)
  for kind, action in actions.items():
    assert float(jnp.max(jnp.abs(action))) <= 1.0, f"{agent_name}: {kind} action outside [-1, 1]"


@pytest.mark.parametrize("agent_name", AGENT_NAMES)
def test_create_with_the_same_config_rebuilds_the_same_tree(agent_name):
  # What checkpoint restore relies on: a template from the same config has the same structure
  # (static fields included) and shapes, whatever the key.
  agent, config = get_agent(agent_name), _config(agent_name)
  template = jax.eval_shape(lambda k: agent.create(config, k, SPEC), jax.random.PRNGKey(0))
  rebuilt = jax.eval_shape(lambda k: agent.create(_config(agent_name), k, SPEC),
                           jax.random.PRNGKey(7))
  assert jax.tree_util.tree_structure(template) == jax.tree_util.tree_structure(rebuilt)
  assert jax.tree_util.tree_leaves(template) == jax.tree_util.tree_leaves(rebuilt)


@pytest.mark.parametrize("agent_name", AGENT_NAMES)
def test_every_config_field_has_a_comment(agent_name):
  source = importlib.import_module(f"jaxinsert.agents.{agent_name}").__file__
  lines = open(source).read().split("def get_config")[1].split("return config")[0].splitlines()
  uncommented = [line.strip() for line in lines if line.strip().startswith("config.")
                 and "#" not in line]
  assert not uncommented, f"{agent_name}.get_config fields without a comment: {uncommented}"


def test_awac_actor_loss_does_not_move_the_critic_and_critic_loss_not_the_actor():
  state = _first(_seed_states("awac"))
  batch = _batch(jax.random.PRNGKey(1))

  @jax.jit
  def gradients(state, key):
    actor_grads = jax.grad(lambda actor, critic: awac.actor_loss(
        actor, critic, state, batch, key)[0], argnums=(0, 1))(state.actor.params,
                                                              state.critic.params)
    critic_grads = jax.grad(lambda critic, actor: awac.critic_loss(
        critic, actor, state, batch, key)[0], argnums=(0, 1))(state.critic.params,
                                                              state.actor.params)
    return actor_grads, critic_grads

  actor_grads, critic_grads = gradients(state, jax.random.PRNGKey(2))
  norm = lambda tree: float(sum(jnp.sum(jnp.abs(x)) for x in jax.tree_util.tree_leaves(tree)))
  assert norm(actor_grads[0]) > 0 and norm(critic_grads[0]) > 0, "a loss has no own gradient"
  assert norm(actor_grads[1]) == 0.0, "the AWAC actor loss has a gradient on the critic"
  assert norm(critic_grads[1]) == 0.0, "the AWAC critic loss has a gradient on the actor"


def test_td3_updates_actor_and_targets_only_every_policy_delay_steps():
  state = _first(_seed_states("td3"))
  assert state.config.policy_delay == 2
  batch = _batch(jax.random.PRNGKey(1))

  def step(state, key):
    new_state, _ = td3.update(state, batch, key)
    moved = lambda a, b: jnp.any(jnp.stack([jnp.any(x != y) for x, y in zip(
        jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))]))
    return new_state, (moved(state.actor.params, new_state.actor.params),
                       moved(state.target_actor_params, new_state.target_actor_params),
                       moved(state.critic.params, new_state.critic.params))

  _, (actor_moved, target_moved, critic_moved) = jax.jit(
      lambda s, k: jax.lax.scan(step, s, jax.random.split(k, 4)))(state, jax.random.PRNGKey(2))
  np.testing.assert_array_equal(np.asarray(actor_moved), [True, False, True, False])
  np.testing.assert_array_equal(np.asarray(target_moved), [True, False, True, False])
  np.testing.assert_array_equal(np.asarray(critic_moved), [True, True, True, True])


# --- Presets against the published tables (digest 004 part 2, sections 1.2 and 8.4) ---------

def _preset(name):
  return importlib.import_module(f"experiments.configs.{name}").get_config()


@pytest.mark.parametrize("name, expected", [
    # Thesis E.2: locomotion tau 0.7, beta 3.0; return-range reward scaling; 10 eval episodes.
    ("iql_locomotion", {"agent.expectile": 0.7, "agent.beta": 3.0, "eval_episodes": 10,
                        "dataset.reward_preprocessing": "locomotion_return_range",
                        "agent.hidden_dims": (256, 256), "agent.discount": 0.99,
                        "agent.target_tau": 0.005, "agent.actor_lr": 3e-4, "batch_size": 256,
                        "agent.exp_adv_max": 100.0, "agent.cosine_decay_steps": 1_000_000}),
    # Thesis E.2/E.3: AntMaze tau 0.9, beta 10.0, r - 1, 100 evaluation trajectories.
    ("iql_antmaze", {"agent.expectile": 0.9, "agent.beta": 10.0, "eval_episodes": 100,
                     "dataset.reward_preprocessing": "antmaze_minus_one"}),
    # Thesis E.2: Kitchen/Adroit tau 0.7, beta 0.5, policy dropout 0.1.
    ("iql_kitchen_adroit", {"agent.expectile": 0.7, "agent.beta": 0.5,
                            "agent.dropout_rate": 0.1}),
    # Thesis E.2: dexterous finetuning tau 0.8, beta 3.0, 25000 offline steps, sigma 0.03.
    ("iql_adroit_binary_finetune", {"agent.expectile": 0.8, "agent.beta": 3.0,
                                    "offline_steps": 25_000, "exploration_noise": 0.03,
                                    "updates_per_env_step": 1}),
    # Thesis E.2 + official code: 1M offline, 1M online, UTD 1, buffer 2M, no actor lr decay.
    ("iql_antmaze_finetune", {"agent.expectile": 0.9, "agent.beta": 10.0,
                              "offline_steps": 1_000_000, "online_steps": 1_000_000,
                              "updates_per_env_step": 1, "replay_capacity": 2_000_000,
                              "agent.cosine_decay_steps": 0}),
    # Thesis Table 16 with lambda = 1.0 (MuJoCo).
    ("awac_default", {"batch_size": 1024, "agent.policy_hidden_dims": (256,) * 4,
                      "agent.critic_hidden_dims": (256,) * 4, "agent.beta": 1.0,
                      "agent.policy_weight_decay": 1e-4, "agent.actor_lr": 3e-4,
                      "agent.critic_lr": 3e-4, "agent.target_tau": 5e-3,
                      "agent.discount": 0.99, "offline_steps": 25_000,
                      "replay_capacity": 1_000_000, "updates_per_env_step": 1,
                      "exploration_noise": 0.0}),
    # Thesis appendix D: lambda = 0.3 for manipulation, Q clamped to <= 0.
    ("awac_manipulation", {"agent.beta": 1.0 / 0.3, "agent.clamp_q_nonpositive": True,
                           "batch_size": 1024}),
    # Fujimoto & Gu 2021: alpha 2.5, policy delay 2, noise 0.2 clipped 0.5.
    ("td3_bc", {"agent.bc_alpha": 2.5, "agent.policy_delay": 2,
                "agent.target_policy_noise": 0.2, "agent.target_noise_clip": 0.5}),
    ("sac_default", {"agent.target_entropy_scale": -1.0, "offline_steps": 0}),
    ("bc_default", {"agent.hidden_dims": (256, 256)}),
])
def test_presets_equal_the_published_numbers(name, expected):
  config = _preset(name)
  for path, value in expected.items():
    actual = config
    for part in path.split("."):
      actual = actual[part]
    if isinstance(value, float):
      assert actual == pytest.approx(value), f"{name}: {path} = {actual}, published {value}"
    else:
      assert actual == value, f"{name}: {path} = {actual}, published {value}"


def test_presets_keep_the_builtin_dataset_default():
  for name in ("iql_locomotion", "iql_antmaze", "awac_default", "td3_bc", "bc_default"):
    config = _preset(name)
    assert (config.dataset.kind, config.dataset.name) == ("builtin", "pointmass-mixed"), name
