"""LOTJ's baselines: the Localize regressor, keypoint encoder, searches from the start, and SAC
from vision (own backbones, practising with nothing frozen)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.agents import localizer
from jaxinsert.envs import controllers, insertion, rendering
from jaxinsert.networks import vision


def test_spatial_softmax_finds_a_peak_with_sub_cell_coordinates():
  """One hot cell per channel at a sharp temperature lands on that cell's grid coordinate; two
  equal neighbouring cells land half-way between them."""
  x = jnp.full((1, 5, 5, 2), -50.0)
  x = x.at[0, 1, 3, 0].set(50.0)                       # channel 0: row 1, col 3
  x = x.at[0, 4, 0, 1].set(50.0).at[0, 4, 1, 1].set(50.0)  # channel 1: row 4, cols 0 and 1
  module = vision.SpatialSoftmax()
  params = module.init(jax.random.PRNGKey(0), x)
  keypoints = np.asarray(module.apply(params, x)).reshape(2, 2)
  grid = np.linspace(-1, 1, 5)
  np.testing.assert_allclose(keypoints[0], [grid[1], grid[3]], atol=1e-5)
  np.testing.assert_allclose(keypoints[1], [grid[4], (grid[0] + grid[1]) / 2], atol=1e-5)


def test_keypoint_encoder_takes_uint8_images_of_any_leading_shape():
  images = jnp.zeros((2, 3, 16, 16, 3), jnp.uint8)
  encoder = vision.make_encoder("patch_keypoints")
  params = encoder.init(jax.random.PRNGKey(0), images)
  assert encoder.apply(params, images).shape == (2, 3, 128)


def test_localizer_learns_a_position_drawn_into_the_image():
  """A bright pixel's column is the x label: a few hundred updates take the error far below the
  spread of the labels, and predictions come back in metres."""
  rng = np.random.default_rng(0)
  columns = rng.integers(0, 16, 512)
  images = np.zeros((512, 16, 16, 3), np.uint8)
  images[np.arange(512), 8, columns] = 255
  positions = np.stack([(columns - 7.5) * 1e-3, np.zeros(512), np.zeros(512)], 1).astype(np.float32)
  config = localizer.get_config()
  config.hidden_dims = (64,)
  config.learning_rate = 1e-3
  state = localizer.create(config, jax.random.PRNGKey(0), images.shape[1:])
  step = jax.jit(localizer.update)
  for i in range(400):
    rows = rng.integers(0, 512, 64)
    state, metrics = step(state, jnp.asarray(images[rows]), jnp.asarray(positions[rows]))
  error_mm = np.abs(np.asarray(localizer.predict(state, jnp.asarray(images)))[:, 0]
                    - positions[:, 0]) * 1e3
  assert np.mean(error_mm) < 1.0 < np.std(positions[:, 0]) * 1e3, np.mean(error_mm)


@pytest.mark.parametrize("name", ["random_search", "spiral_search"])
def test_searches_centred_on_the_start_aim_around_the_start_not_the_socket(name):
  """Pressing at step 0, a search centred on the start aims within its radius of the start tip
  (8 mm away from the socket here); centred on the nominal centreline it aims near 0."""
  config = insertion.TaskConfig(action_mode="move", max_episode_steps=20)
  start = jnp.array([8e-3, -8e-3, 1e-3])
  obs = np.zeros(insertion.OBSERVATION_DIM, np.float32)
  obs = insertion.flatten_observation({**insertion.split_observation(jnp.asarray(obs)),
                                       "tcp_pose_in_socket": jnp.concatenate([start, jnp.zeros(3)]),
                                       "wrench": jnp.array([0.0, 0.0, 5.0, 0.0, 0.0, 0.0])})
  context = {"step_count": jnp.asarray(0), "start_tip": start}
  kwargs = {"radius_m": 2e-3} if name == "random_search" else {"pitch_m": 3e-3}
  for centre, around in (("start", start[:2]), ("nominal", jnp.zeros(2))):
    policy = controllers.make_policy(name, config, centre=centre, **kwargs)
    action = np.asarray(policy(jax.random.PRNGKey(0), obs, context))
    target = np.asarray(start[:2]) + action[:2] * config.move_m
    assert np.max(np.abs(target - np.asarray(around))) <= 2e-3 + 1e-6, (centre, target)


def test_an_unknown_search_centre_is_refused():
  config = insertion.TaskConfig(action_mode="move", max_episode_steps=20)
  policy = controllers.make_policy("spiral_search", config, centre="socket")
  obs = jnp.zeros(insertion.OBSERVATION_DIM)
  with pytest.raises(ValueError, match="search centre"):
    policy(jax.random.PRNGKey(0), obs, {"step_count": jnp.asarray(0)})


def _image_sac():
  from jaxinsert.agents import sac
  config = sac.get_config()
  config.encoder, config.hidden_dims = "patch_conv", (16,)
  return sac, config


def test_sac_from_vision_gives_actor_and_critics_their_own_backbones():
  from jaxinsert.types import Spec
  sac, config = _image_sac()
  agent = sac.create(config, jax.random.PRNGKey(0), Spec((8, 8, 3), 3, jnp.uint8))
  actor, critic = agent.actor.params["backbone"], agent.critic.params["backbone"]
  assert jax.tree_util.tree_structure(actor) == jax.tree_util.tree_structure(critic)
  kernels = [(a, c) for a, c in zip(jax.tree_util.tree_leaves(actor), jax.tree_util.tree_leaves(critic))
             if a.ndim >= 2]                            # biases start at zero in both
  assert kernels and not any(np.array_equal(a, c) for a, c in kernels)
  with pytest.raises(ValueError, match="takes images"):
    sac.create(config, jax.random.PRNGKey(0), Spec((6,), 3))


def test_sac_from_vision_practises_with_every_parameter_and_its_own_labels():
  # The SAC baseline practises as LOTJ does (self-labelled rows, 75/25 batches) but nothing is
  # frozen: after updates both backbones and heads have moved, the reward model has not.
  from jaxinsert.agents import reward_classifier
  from jaxinsert.training import lotj_finetune
  from jaxinsert.types import Spec, Transition
  sac, config = _image_sac()
  spec = Spec((8, 8, 3), 3, jnp.uint8)
  rng = np.random.default_rng(0)
  images = lambda n: jnp.asarray(rng.integers(0, 256, (n, 8, 8, 3)), jnp.uint8)
  offline = Transition(obs=images(32), action=jnp.asarray(rng.uniform(-1, 1, (32, 3)), jnp.float32),
                       reward=jnp.asarray(rng.integers(0, 2, 32), jnp.float32), mask=jnp.ones(32),
                       next_obs=images(32), task_id=jnp.zeros(32, jnp.int32),
                       domain_id=jnp.zeros(32, jnp.int32))
  reward_config = reward_classifier.get_config()
  reward_config.invariant_dim, reward_config.specific_dim, reward_config.head_hidden_dims = 4, 4, (8,)
  reward = reward_classifier.create(reward_config, jax.random.PRNGKey(1), spec.obs_shape, 4)
  agent = sac.create(config, jax.random.PRNGKey(0), spec)
  learner = lotj_finetune.start(agent, reward, spec, capacity=16, agent_name="sac")
  learner = jax.jit(lotj_finetune.observe)(learner, offline.obs[:8], offline.action[:8],
                                           offline.next_obs[:8])
  assert int(learner.online.size) == 8
  update = jax.jit(lotj_finetune.update, static_argnums=(3,))
  after = learner
  for step in range(3):
    after, metrics = update(after, offline, jax.random.PRNGKey(10 + step), 8)
  assert "temperature" in metrics                       # SAC's update ran, not IQL's
  for name in ("actor", "critic"):
    for part in ("backbone", "head"):
      old = jax.tree_util.tree_leaves(getattr(learner.agent, name).params[part])
      new = jax.tree_util.tree_leaves(getattr(after.agent, name).params[part])
      assert any(not np.array_equal(a, b) for a, b in zip(old, new)), f"{name}.{part} is frozen"
  for a, b in zip(jax.tree_util.tree_leaves(learner.reward), jax.tree_util.tree_leaves(after.reward)):
    np.testing.assert_array_equal(a, b)
  with pytest.raises(ValueError, match="agent_name must be one of"):
    lotj_finetune.start(agent, reward, spec, capacity=16, agent_name="td3")


@pytest.mark.skipif(not rendering.egl_available(), reason="no offscreen OpenGL")
def test_the_collector_controller_inserts_on_the_true_tip_and_fails_on_a_coarse_estimate():
  from jaxinsert.training import lotj_rl
  task = lotj_rl.held_out_tasks("dt2", "scenario1")[0]
  exact = lotj_rl.evaluate_noisy_tip(task, 4, 0, 32, noise_m=0.0)
  coarse = lotj_rl.evaluate_noisy_tip(task, 4, 0, 32, noise_m=0.01)
  assert exact == 4 and coarse <= 1, (exact, coarse)


def test_the_bias_probe_sees_a_shifted_pose_with_its_code_and_practises_on_the_true_success():
  # lotj_bias_probe's stand-in for a new connector's perception: the calibrated pose shifted
  # laterally (x, y only), the domain's code appended, in the offline rows and in practice.
  from jaxinsert.agents import iql
  from jaxinsert.envs import factory
  from jaxinsert.training import lotj_rl
  from jaxinsert.types import Spec, Transition
  task = lotj_rl.held_out_tasks("dt2", "scenario1")[0]
  bias, code = np.array([0.002, -0.001]), np.array([0.5, 0.25])
  env = factory.make([task], backend="c", num_envs=2)
  try:
    raw = env.reset(0)
    view = lotj_rl.ShiftedStateEnv(env, bias, code).view(raw)
  finally:
    env.close()
  pose = np.asarray(insertion.split_observation(raw)["tcp_pose_in_socket"])
  np.testing.assert_allclose(view[:, :2], pose[:, :2] + bias, atol=1e-7)
  np.testing.assert_array_equal(view[:, 2:6], pose[:, 2:])
  np.testing.assert_array_equal(view[:, 6:], np.tile(code, (2, 1)).astype(np.float32))

  rng = np.random.default_rng(0)
  rows = 32
  data = Transition(obs=jnp.asarray(rng.normal(0, 0.01, (rows, 6)), jnp.float32),
                    action=jnp.asarray(rng.uniform(-1, 1, (rows, 3)), jnp.float32),
                    reward=jnp.zeros(rows), mask=jnp.ones(rows),
                    next_obs=jnp.asarray(rng.normal(0, 0.01, (rows, 6)), jnp.float32),
                    task_id=jnp.zeros(rows, jnp.int32),
                    domain_id=jnp.asarray(np.arange(rows) % 3, jnp.int32))
  codes = lotj_rl.domain_codes(3, 2, 0.01, seed=0)
  coded, spec = lotj_rl.with_domain_codes(data, Spec((6,), 3), codes)
  assert spec.obs_shape == (8,)
  np.testing.assert_array_equal(coded.obs[:, 6:], codes[np.arange(rows) % 3])
  np.testing.assert_array_equal(coded.next_obs[:, :6], data.next_obs)

  config = iql.get_config()
  config.hidden_dims = (16,)
  agent = iql.create(config, jax.random.PRNGKey(0), spec)
  learner, practice = lotj_rl.finetune_shifted_state(
      agent, spec, coded, task, trials=4, num_envs=2, updates_per_step=1, batch_size=8, seed=0,
      act_noise=0.02, bias_m=bias, code=code)
  assert len(practice) == 4 and set(practice) <= {0, 1}
  stored = int(learner.online.size)
  assert stored > 0
  np.testing.assert_allclose(np.asarray(learner.online.data.obs[:stored, 6:]),
                             np.tile(code, (stored, 1)), rtol=1e-6)
  moved = [not np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(agent.actor.params),
                                                     jax.tree_util.tree_leaves(learner.agent.actor.params))]
  assert any(moved)
  with pytest.raises(ValueError, match="multiple of num_envs"):
    lotj_rl.finetune_shifted_state(agent, spec, coded, task, trials=3, num_envs=2,
                                   updates_per_step=1, batch_size=8, seed=0, act_noise=0.02,
                                   bias_m=bias, code=code)
