"""PTP's baselines and ablations as planning modes (jaxinsert/planning/modes.py), on the synthetic
latent space of test_ptp_planner (g(s, z) = s + 0.1 z, V(s, s') = -||s - s'|| / 0.1), the GCP
midpoint model, and the image VAE option."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.planning import buffer as plan_buffer
from jaxinsert.planning import gcp, image_vae, modes, mppi

STEP, LATENT_DIM = 0.1, 2
START, GOAL = jnp.zeros(LATENT_DIM), jnp.array([0.8, 0.0])
SHAPE = modes.PlanShape(top_subgoals=2, multiplier=2, levels=3, buffer_capacity=8,
                        buffer_min_size=1, buffer_prior_probability=0.0)   # 2 -> 4 -> 8
CONFIG = mppi.MPPIConfig(num_samples=64, noise_levels=(1.0, 0.5), values_weight=0.01)


def generator(state, latent):
  return state + STEP * latent


def value(state, goal):
  return -jnp.linalg.norm(state - goal) / STEP


def exploding(state, latent):
  raise AssertionError("a conditional generator was called")


def tanh_decoder(z):
  return jnp.tanh(z)


def chord_midpoint(start, goal):
  return 0.5 * (start + goal)


def _models(**overrides):
  fields = dict(generators=(generator,) * 3, value=value, generator_z_dim=LATENT_DIM,
                prior_decoder=tanh_decoder, prior_dim=LATENT_DIM, midpoint=chord_midpoint)
  fields.update(overrides)
  return modes.PlanningModels(**fields)


_PLANNERS = {}


def _plan(mode, models=None, buffers=None, key=0, config=CONFIG):
  """One plan, jitted whole, one compilation per (mode, models, config) and buffer structure."""
  models = models or _models()
  if buffers is None:
    buffers = modes.empty_buffers(mode, SHAPE, models.generator_z_dim)
  cache_key = (mode, models, config)
  if cache_key not in _PLANNERS:
    _PLANNERS[cache_key] = jax.jit(
        lambda k, b: modes.plan_subgoals(mode, k, START, GOAL, models, SHAPE, config, b))
  return _PLANNERS[cache_key](jax.random.PRNGKey(key), buffers)


@pytest.mark.timeout(120)
def test_gcp_bisection_puts_each_predicted_midpoint_between_its_neighbours():
  # A straight-line midpoint gives evenly spaced subgoals, the last one the goal.
  subgoals, latents = _plan("gcp")
  assert latents is None and subgoals.shape == (SHAPE.num_subgoals, LATENT_DIM) == (8, 2)
  np.testing.assert_allclose(subgoals, jnp.linspace(0.0, 1.0, 9)[1:, None] * GOAL, atol=1e-6)
  # A curved midpoint (lifted by half the span): the top-level midpoint sits in the middle of the
  # plan, and every finer one is the midpoint of its two neighbours.
  lifted = lambda s, g: 0.5 * (s + g) + jnp.array([0.0, 0.5]) * jnp.linalg.norm(g - s)
  subgoals, _ = _plan("gcp", _models(midpoint=lifted))
  np.testing.assert_allclose(subgoals[3], lifted(START, GOAL), rtol=1e-6)
  points = np.concatenate([np.asarray(START)[None], np.asarray(subgoals)])
  for index in (1, 3, 5, 7):   # the last level's midpoints
    np.testing.assert_allclose(points[index], lifted(points[index - 1], points[index + 1]),
                               rtol=1e-5, err_msg=f"subgoal {index} is not its neighbours' midpoint")
  np.testing.assert_array_equal(subgoals[-1], GOAL)
  with pytest.raises(ValueError, match="power of 2"):
    modes.PlanShape(top_subgoals=3).gcp_depth()
  with pytest.raises(ValueError, match="needs PlanningModels.midpoint"):
    _plan("gcp", _models(midpoint=None))


@pytest.mark.timeout(120)
def test_trained_gcp_predicts_the_midpoint_of_curved_play_better_than_a_straight_line():
  # Parabolic trajectories: the true midpoint of (s_t, s_t+2k) lies below the chord.
  times = jnp.linspace(-1.0, 1.0, 41)
  offsets = jax.random.uniform(jax.random.PRNGKey(0), (64, 1), minval=-0.5, maxval=0.5)
  trajectories = jnp.stack([times[None] + offsets, (times[None] + offsets) ** 2], -1)
  config = gcp.GCPConfig(min_half_span=2, max_half_span=10, hidden_dims=(64, 64), num_steps=600,
                         batch_size=128)
  model, _ = gcp.train_gcp(jax.random.PRNGKey(1), trajectories, config)
  triplets = gcp.sample_triplets(trajectories, jax.random.PRNGKey(2), 512, config)
  start, middle, goal = triplets[:, 0], triplets[:, 1], triplets[:, 2]
  predicted_error = float(jnp.mean(jnp.linalg.norm(model.midpoint(start, goal) - middle, axis=-1)))
  chord_error = float(jnp.mean(jnp.linalg.norm(0.5 * (start + goal) - middle, axis=-1)))
  assert predicted_error < 0.5 * chord_error, (
      f"GCP's midpoints ({predicted_error:.4f}) are not much nearer than the chord's "
      f"({chord_error:.4f})")
  # The triplets are evenly spaced in time (x grows linearly along a trajectory).
  np.testing.assert_allclose(middle[:, 0] - start[:, 0], goal[:, 0] - middle[:, 0], atol=1e-5)


@pytest.mark.timeout(120)
def test_leap_never_calls_the_conditional_generators_and_plans_from_the_prior_decoder():
  models = _models(generators=(exploding,) * 3)
  subgoals, latents = _plan("leap", models)
  assert latents is None and subgoals.shape == (8, LATENT_DIM)
  # Every subgoal but the last (replaced by the goal) is a decoded prior sample: |tanh| < 1.
  assert np.all(np.abs(np.asarray(subgoals[:-1])) < 1.0)
  np.testing.assert_array_equal(subgoals[-1], GOAL)
  with pytest.raises(AssertionError, match="conditional generator was called"):
    _plan("ptp", models)   # the exploding generators do catch a call


@pytest.mark.timeout(120)
def test_flat_mode_plans_all_subgoals_on_one_level_with_the_finest_generator():
  models = _models(generators=(exploding, exploding, generator))
  buffers = modes.empty_buffers("ptp_flat", SHAPE, LATENT_DIM)
  assert [b.latents.shape for b in buffers] == [(8, 8, LATENT_DIM)]
  subgoals, latents = _plan("ptp_flat", models, buffers)
  assert subgoals.shape == (8, LATENT_DIM)
  assert len(latents) == 1 and latents[0].shape == (1, 8, LATENT_DIM)
  # The flat plan is one MPPI plan of 8 subgoals decoded recursively by the finest generator.
  np.testing.assert_allclose(subgoals[:-1],
                             mppi.decode_subgoals(generator, START, latents[0][0])[:-1], rtol=1e-6)
  hierarchical = modes.empty_buffers("ptp", SHAPE, LATENT_DIM)
  assert [b.latents.shape[1] for b in hierarchical] == [2, 2, 2]
  assert modes.empty_buffers("ptp_no_buffer", SHAPE, LATENT_DIM) == ()


def _buffers_holding(mode, plans):
  """The mode's buffers with every level holding `plans[level]` (segments, K, z) repeated."""
  buffers = modes.empty_buffers(mode, SHAPE, LATENT_DIM)
  return tuple(plan_buffer.add(b, jnp.broadcast_to(p[0], b.latents.shape))
               for b, p in zip(buffers, plans))


@pytest.mark.timeout(120)
def test_ptp_seeds_its_samples_from_the_plan_buffer_and_the_no_buffer_mode_replans_from_the_prior():
  one_sample = mppi.MPPIConfig(num_samples=2, noise_levels=(1.0,), values_weight=0.0,
                               prior_weight=0.0)
  # Buffers holding the exact plan, level by level (steps of 0.4, 0.2, 0.1 along x), whose cost
  # (final distance only here) is 0: no prior draw matches it.
  exact = [jnp.broadcast_to(jnp.array([z, 0.0]), (1, 2, LATENT_DIM)) for z in (4.0, 2.0, 1.0)]
  full = _buffers_holding("ptp", exact)
  # With one iteration of 2 samples, sample 0 is a buffer plan (half the samples come from it).
  _, chosen = _plan("ptp", buffers=full, config=one_sample)
  for level, (picked, plan) in enumerate(zip(chosen, exact)):
    np.testing.assert_allclose(picked, jnp.broadcast_to(plan[0], picked.shape), atol=1e-6,
                               err_msg=f"PTP did not take level {level}'s plan from its buffer")
  _, chosen_empty = _plan("ptp", config=one_sample)
  assert not np.allclose(chosen_empty[0], exact[0][0], atol=1e-3)
  # Without the buffer the plan is the same whatever the buffer holds: it plans from scratch.
  empty = modes.empty_buffers("ptp", SHAPE, LATENT_DIM)
  with_full, none = _plan("ptp_no_buffer", buffers=full, config=one_sample)
  with_empty, _ = _plan("ptp_no_buffer", buffers=empty, config=one_sample)
  assert none is None
  np.testing.assert_array_equal(with_full, with_empty)
  with pytest.raises(ValueError, match="plans from plan buffers"):
    _plan("ptp", buffers=(), config=one_sample)
  with pytest.raises(ValueError, match="unknown planning mode"):
    _plan("bisect")


@pytest.mark.timeout(120)
def test_final_goal_mode_is_the_goal_alone():
  subgoals, latents = _plan("final_goal")
  np.testing.assert_array_equal(subgoals, GOAL[None])
  assert latents is None


# ------------------------------------------------------------------------------ image VAE
@pytest.mark.timeout(240)
def test_image_vae_shapes_render_round_trip_and_its_loss_falls_on_a_tiny_run():
  # Shapes at the thesis's 48x48 (traced only, nothing compiled).
  config48 = image_vae.ImageVAEConfig(latent_dim=4)
  positions = jnp.array([[-0.15, 0.0, 0.0], [0.15, 0.0, -0.03], [0.0, 0.05, 0.1]])
  images = image_vae.render(positions, config48)
  assert images.shape == (3, 48, 48, 2)
  np.testing.assert_allclose(image_vae.read_position(images, config48), positions, atol=2e-3,
                             err_msg="reading the rendered spot does not give back the position")
  params48 = jax.eval_shape(lambda: image_vae.init_params(jax.random.PRNGKey(0), config48))
  model48 = lambda params: image_vae.TrainedImageVAE(params, config48)
  latents48 = jax.eval_shape(lambda p, x: model48(p).encode(x), params48, positions)
  assert latents48.shape == (3, 4)
  assert jax.eval_shape(lambda p, h: model48(p).decode_image(h), params48,
                        latents48).shape == (3, 48, 48, 2)
  assert jax.eval_shape(lambda p, h: model48(p).decode(h), params48, latents48).shape == (3, 3)
  # The loss falls on a tiny run (16x16 views, one convolution, to stay fast).
  config = image_vae.ImageVAEConfig(image_size=16, spot_sigma_px=1.0, channels=(8,), hidden_dim=32,
                                    latent_dim=4, batch_size=32, num_steps=100,
                                    learning_rate=3e-3)
  states = jax.random.uniform(jax.random.PRNGKey(0), (256, 3), minval=jnp.array([-0.25, -0.1, -0.03]),
                              maxval=jnp.array([0.25, 0.1, 0.15]))
  module = image_vae.ImageVAE(config)
  initial = image_vae.init_params(jax.random.split(jax.random.PRNGKey(1))[0], config)
  probe = image_vae.render(states[:64], config)
  reconstruction = jax.jit(lambda params: image_vae.image_loss(
      module, params, probe, jax.random.PRNGKey(2), 0.0)[1]["reconstruction"])
  loss = lambda params: float(reconstruction(params))
  trained, metrics = image_vae.train_image_vae(jax.random.PRNGKey(1), states, config)
  assert np.isfinite(float(metrics["reconstruction"]))
  assert loss(trained.params) < 0.7 * loss(initial), (
      f"reconstruction loss did not fall: {loss(initial):.2f} -> {loss(trained.params):.2f}")
  with pytest.raises(ValueError, match="divisible"):
    image_vae.ImageVAEConfig(image_size=50)


# ------------------------------------------------------------------------------ video
@pytest.mark.timeout(120)
def test_episode_video_draws_the_planned_subgoals_and_follows_the_plug(tmp_path):
  import imageio

  from jaxinsert.envs.multistage import make_task
  from jaxinsert.training import ptp_report

  env = make_task("walled_socket")
  start = np.array([-0.15, 0.0, 0.0])
  positions = start + np.array([[0.0, 0.0, 0.02 * t] for t in range(1, 5)])
  subgoals = np.array([[-0.15, 0.0, 0.1], [0.15, 0.0, 0.1], [0.15, 0.0, -0.03]])
  episode = tmp_path / "episode.npz"
  np.savez(episode, start=start, positions=positions, subgoals=subgoals,
           subgoal_index=np.array([0, 0, 1, 1]), success=np.array(False))
  frames = ptp_report.episode_frames(env, start, positions, subgoals, [0, 0, 1, 1])
  assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[0] == 5
  red = (frames[..., 0] > 200) & (frames[..., 1] < 80) & (frames[..., 2] < 80)
  assert red[0].sum() > 20, "no subgoal markers drawn"
  assert not np.array_equal(frames[0], frames[-1]), "the frames do not change as the plug moves"
  path = ptp_report.episode_video(env, str(episode), str(tmp_path / "episode.gif"), "test")
  # The 5 frames of the episode (the 5 repeats resting on the end merge into the last one).
  assert len(imageio.mimread(path)) >= 5
