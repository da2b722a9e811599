"""LOTJ-2 and LOTJ-6: image IQL with DAIB, frozen finetuning, the 75/25 mix and the hidden reward."""

import inspect
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.agents import lotj, reward_classifier
from jaxinsert.data import replay, samplers
from jaxinsert.training import lotj_finetune
from jaxinsert.types import Spec, Transition

SIZE = 8
SPEC = Spec((SIZE, SIZE, 3), 3, jnp.uint8)


def _agent_config():
  config = lotj.get_config()
  config.hidden_dims = (16,)
  config.invariant_dim = 4
  config.specific_dim = 4
  config.num_domains = 4
  return config


def _reward_config():
  config = reward_classifier.get_config()
  config.invariant_dim, config.specific_dim, config.head_hidden_dims = 4, 4, (8,)
  return config


def _transitions(n, seed):
  rng = np.random.default_rng(seed)
  images = lambda: jnp.asarray(rng.integers(0, 256, (n, SIZE, SIZE, 3)), jnp.uint8)
  return Transition(obs=images(), action=jnp.asarray(rng.uniform(-1, 1, (n, 3)), jnp.float32),
                    reward=jnp.asarray(rng.integers(0, 2, n), jnp.float32), mask=jnp.ones(n),
                    next_obs=images(), task_id=jnp.zeros(n, jnp.int32),
                    domain_id=jnp.asarray(np.arange(n) % 4, jnp.int32))


@pytest.fixture(scope="module")
def trained():
  """An agent and reward model, and the learner after one self-labelled batch."""
  agent = lotj.create(_agent_config(), jax.random.PRNGKey(0), SPEC)
  reward = reward_classifier.create(_reward_config(), jax.random.PRNGKey(1), SPEC.obs_shape, 4)
  offline = _transitions(32, 0)
  learner = lotj_finetune.start(agent, reward, SPEC, capacity=16)
  learner = jax.jit(lotj_finetune.observe)(learner, offline.obs[:8], offline.action[:8], offline.next_obs[:8])
  return dict(agent=agent, reward=reward, learner=learner, offline=offline)


@pytest.fixture(scope="module")
def finetuned(trained):
  update = jax.jit(lotj_finetune.update, static_argnums=(3,))
  after = trained["learner"]
  for step in range(3):
    after, _ = update(after, trained["offline"], jax.random.PRNGKey(10 + step), 8)
  return after


@pytest.mark.slow
def test_offline_update_trains_the_policy_with_the_daib_terms():
  agent = lotj.create(_agent_config(), jax.random.PRNGKey(0), SPEC)
  _, metrics = jax.jit(lotj.update)(agent, _transitions(32, 0), jax.random.PRNGKey(2))
  assert "policy_domain_loss" in metrics and "policy_kl" in metrics
  assert all(np.isfinite(float(v)) for v in metrics.values())


def test_the_four_networks_share_no_parameters(trained):
  agent, reward = trained["agent"], trained["reward"]
  backbones = {"policy": agent.actor.params["backbone"], "q": agent.critic.params["backbone"],
               "v": agent.value.params["backbone"], "reward": reward.network.params["backbone"]}
  # Kernels only: biases all start at zero.
  leaves = {name: [x for x in jax.tree_util.tree_leaves(tree) if x.ndim >= 2]
            for name, tree in backbones.items()}
  names = list(leaves)
  for i, first in enumerate(names):
    for second in names[i + 1:]:
      assert not any(np.array_equal(a, b) for a, b in zip(leaves[first], leaves[second])), \
          f"{first} and {second} encoders hold identical parameters"
  # A critic gradient cannot reach the policy or V: they are separate parameter trees.
  assert set(agent.critic.params) == {"backbone", "head"}


@pytest.mark.slow
def test_frozen_conv_and_reward_parameters_are_bit_identical_after_finetuning(trained, finetuned):
  before, after = trained["learner"], finetuned
  for name in ("actor", "critic", "value"):
    old, new = getattr(before.agent, name).params, getattr(after.agent, name).params
    for frozen in lotj.FROZEN_MODULES:
      if frozen in old:
        for a, b in zip(jax.tree_util.tree_leaves(old[frozen]), jax.tree_util.tree_leaves(new[frozen])):
          np.testing.assert_array_equal(a, b, err_msg=f"{name}.{frozen} moved during finetuning")
    changed = [not np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(old["head"]),
                                                        jax.tree_util.tree_leaves(new["head"]))]
    assert any(changed), f"{name} head did not train"
  for a, b in zip(jax.tree_util.tree_leaves(before.reward), jax.tree_util.tree_leaves(after.reward)):
    np.testing.assert_array_equal(a, b, err_msg="the reward model moved during finetuning")


def test_augmentation_touches_only_the_offline_rows_of_a_mixed_batch():
  offline, online = _transitions(64, 3), _transitions(16, 4)
  buffer = replay.add(replay.init(SPEC, 16), online)
  batch = jax.jit(lambda key: samplers.mixed(
      offline, buffer, key, 32, lotj_finetune.OFFLINE_RATIO,
      offline_augment=samplers.shift_observations(2)))(jax.random.PRNGKey(0))
  rows = lambda images: {np.asarray(x).tobytes() for x in images}
  online_rows, offline_rows = rows(online.obs), rows(offline.obs)
  assert rows(batch.obs[24:]) <= online_rows, "an online row was changed"
  shifted = [np.asarray(x).tobytes() not in offline_rows for x in batch.obs[:24]]
  assert sum(shifted) >= 12, "offline rows were not augmented"


def test_the_learner_cannot_read_the_true_reward(trained):
  assert "reward" not in inspect.signature(lotj_finetune.observe).parameters
  learner, offline = trained["learner"], trained["offline"]
  with pytest.raises(TypeError):
    lotj_finetune.observe(learner, offline.obs[:1], offline.action[:1], offline.next_obs[:1], reward=1.0)
  predicted, mask = jax.jit(lotj_finetune.label)(learner.reward, offline.next_obs[:8])
  stored = learner.online.data
  np.testing.assert_array_equal(stored.reward[:8], predicted)
  np.testing.assert_array_equal(stored.mask[:8], mask)

  # The environment wrapper hands over images and time limits only; success goes to a log.
  class FakeEnv:
    obs_mode, num_envs = "image", 2
    config = types.SimpleNamespace(terminate_on_success=False)

    def reset(self, seed):
      return np.zeros((2, SIZE, SIZE, 3), np.uint8)

    def step(self, actions):
      images = np.ones((2, SIZE, SIZE, 3), np.uint8)
      return images, np.ones(2), np.ones(2, bool), np.zeros(2, bool), {
          "final_obs": images, "success": np.ones(2, bool)}

  env = lotj_finetune.HiddenRewardEnv(FakeEnv())
  out = env.step(np.zeros((2, 3)))
  assert [x.dtype for x in out] == [np.uint8, np.uint8, bool], "something besides images and time limits"
  assert env.success_log[0].all()
  FakeEnv.config = types.SimpleNamespace(terminate_on_success=True)
  with pytest.raises(ValueError, match="terminate_on_success=False"):
    lotj_finetune.HiddenRewardEnv(FakeEnv())


class _AlternatingSuccessEnv:
  """An image env whose true success alternates over the two environments each step."""
  obs_mode, num_envs = "image", 2
  config = types.SimpleNamespace(terminate_on_success=False)

  def __init__(self):
    self.t = 0

  def reset(self, seed):
    return np.zeros((2, SIZE, SIZE, 3), np.uint8)

  def step(self, actions):
    self.t += 1
    images = np.full((2, SIZE, SIZE, 3), self.t, np.uint8)
    success = np.array([self.t % 2 == 0, self.t % 2 == 1])
    return images, success.astype(float), np.zeros(2, bool), np.zeros(2, bool), {
        "final_obs": images, "success": success}


@pytest.mark.parametrize("true_reward,offset", [(False, 0.0), (True, 0.0), (True, -1.0)])
def test_only_the_named_upper_bound_labels_practice_with_the_true_success(trained, true_reward,
                                                                           offset):
  """LOTJ's practice stores R(s') labels; the true-reward upper bound stores the simulator's
  success of each step; the offset shifts the stored reward only; an environment stores nothing
  after its first labelled success in a trial (the trial ends there for it)."""
  learner = lotj_finetune.start(trained["learner"].agent, trained["learner"].reward, SPEC, 16,
                                reward_offset=offset)
  env = lotj_finetune.HiddenRewardEnv(_AlternatingSuccessEnv())
  learner = lotj_finetune.run_trials(learner, env, trained["offline"], trials_per_env=1,
                                     steps_per_trial=3, updates_per_step=1, batch_size=8, seed=0,
                                     true_reward=true_reward)
  # What the learner saw: images filled with the step number t, so labels can be recomputed.
  images = [np.full((2, SIZE, SIZE, 3), t, np.uint8) for t in (1, 2, 3)]
  model = [np.asarray(jax.jit(lotj_finetune.label)(learner.reward, jnp.asarray(i))[0]) for i in images]
  labels = [np.asarray(log, np.float32) for log in env.success_log] if true_reward else model
  expected, active = [], np.ones(2, bool)
  for step_labels in labels:
    expected += list(step_labels[active])
    active &= step_labels < 0.5
  stored = learner.online.data
  assert int(learner.online.size) == len(expected)
  np.testing.assert_array_equal(stored.reward[:len(expected)], np.array(expected) + offset)
  np.testing.assert_array_equal(stored.mask[:len(expected)], 1.0 - np.array(expected))
  if true_reward:
    assert len(expected) == 3          # env 1 succeeds at step 1, env 0 at step 2


def test_the_q_gradient_actor_moves_the_mean_uphill_on_q_and_awr_stays_the_default(trained):
  # Online with `online_actor_loss="q_gradient"` the actor follows dQ/da (TD3+BC's loss): from a
  # batch whose actions are the policy's own means (the cloning term starts at zero), a few
  # actor steps against a fixed critic raise Q(s, mu(s)). Unknown names are refused.
  assert lotj.get_config().online_actor_loss == "awr"
  config = _agent_config()
  config.online_actor_loss = "q_gradient"
  state = lotj.freeze_representation(lotj.create(config, jax.random.PRNGKey(0), SPEC))
  batch = trained["offline"]
  means = lotj.act(state, batch.obs, jax.random.PRNGKey(0), True)
  batch = batch.replace(action=means)

  def q_of_mean(state):
    mean = lotj.act(state, batch.obs, jax.random.PRNGKey(0), True)
    return float(jnp.mean(jnp.min(state.critic.apply(batch.obs, jnp.clip(mean, -1, 1)), axis=0)))

  step = jax.jit(lambda state, key: state.actor.minimize(lotj.actor_loss, state, batch, key))
  before, after = q_of_mean(state), state
  for index in range(5):
    actor, metrics = step(after, jax.random.PRNGKey(index))
    after = after.replace(actor=actor)
  assert "q_pi" in metrics and q_of_mean(after) > before
  config.online_actor_loss = "reinforce"
  with pytest.raises(ValueError, match="online_actor_loss"):
    lotj.create(config, jax.random.PRNGKey(0), SPEC)
