"""LOTJ's baselines: the Localize regressor, keypoint encoder, and searches from the start."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.agents import localizer
from jaxinsert.envs import controllers, insertion
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
