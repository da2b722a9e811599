"""LOTJ-3: the DAIB bottleneck and the reward classifier (gradient reversal, KL, mean mode)."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxinsert.agents import reward_classifier
from jaxinsert.networks import vision


def _config(variant: str, **changes) -> ml_collections.ConfigDict:
  config = reward_classifier.get_config()
  config.variant = variant
  config.invariant_dim = 4
  config.specific_dim = 4
  config.head_hidden_dims = (8,)
  config.batch_size = 8
  config.update(changes)
  return config


def _images(n=6, size=8, seed=0):
  return jnp.asarray(np.random.default_rng(seed).integers(0, 256, (n, size, size, 3)), jnp.uint8)


def test_gradient_reversal_is_identity_forward_and_negates_backward():
  x = jnp.array([0.5, -1.0, 2.0])
  f = lambda v: jnp.sum(jnp.sin(v) * v)
  assert np.allclose(vision.gradient_reversal(x, 1.0), x)
  plain = jax.grad(f)(x)
  reversed_grad = jax.grad(lambda v: f(vision.gradient_reversal(v, 0.5)))(x)
  np.testing.assert_allclose(reversed_grad, -0.5 * plain, rtol=1e-6)


def test_domain_loss_gradient_reaching_the_encoder_has_the_reversed_sign(variant="daib"):
  """With the reversal layer the domain loss pushes the encoder (conv and z_I) the other way,
  while the domain classifier itself still descends its own loss."""
  config = _config(variant)
  images, domains = _images(), jnp.array([0, 1, 2, 0, 1, 2])
  state = reward_classifier.create(config, jax.random.PRNGKey(0), images.shape[1:], 3)
  plain_module = reward_classifier._module(config, 3, reverse=False)

  def domain_loss(params, module):
    _, aux = module.apply({"params": params}, images, True)
    return jnp.mean(-jax.nn.log_softmax(aux["domain_logits"])[jnp.arange(6), domains])

  grads = jax.jit(lambda p: (jax.grad(domain_loss)(p, state.network.module),
                             jax.grad(domain_loss)(p, plain_module)))
  reversed_grads, plain_grads = grads(state.network.params)
  encoder_rev = jax.tree_util.tree_leaves(reversed_grads["backbone"])
  encoder_plain = jax.tree_util.tree_leaves(plain_grads["backbone"])
  assert max(float(jnp.max(jnp.abs(g))) for g in encoder_plain) > 0, "no domain gradient reached the encoder"
  for rev, plain in zip(encoder_rev, encoder_plain):
    np.testing.assert_allclose(rev, -plain, rtol=1e-5, atol=1e-8,
                               err_msg="encoder gradient of L_domain is not reversed")
  head = "bottleneck"
  classifier_rev = reversed_grads[head]["domain_classifier"]
  classifier_plain = plain_grads[head]["domain_classifier"]
  for rev, plain in zip(jax.tree_util.tree_leaves(classifier_rev), jax.tree_util.tree_leaves(classifier_plain)):
    np.testing.assert_allclose(rev, plain, rtol=1e-6, err_msg="domain classifier gradient changed sign")


def test_kl_matches_the_closed_form_and_a_monte_carlo_estimate():
  mean = jnp.array([[0.0, 0.0], [1.0, -2.0]])
  log_std = jnp.array([[0.0, 0.0], [np.log(0.5), np.log(2.0)]])
  kl = vision.gaussian_kl_to_standard(mean, log_std)
  assert float(kl[0]) == pytest.approx(0.0, abs=1e-7)
  by_hand = sum(0.5 * (m**2 + s**2 - 1 - 2 * np.log(s)) for m, s in ((1.0, 0.5), (-2.0, 2.0)))
  assert float(kl[1]) == pytest.approx(by_hand, rel=1e-6)
  # Monte-Carlo E_q[log q - log p] agrees with the closed form.
  samples = mean[1] + jnp.exp(log_std[1]) * jax.random.normal(jax.random.PRNGKey(0), (200_000, 2))
  log_q = jnp.sum(-0.5 * ((samples - mean[1]) / jnp.exp(log_std[1]))**2 - log_std[1], -1)
  log_p = jnp.sum(-0.5 * samples**2, -1)
  assert float(jnp.mean(log_q - log_p)) == pytest.approx(by_hand, rel=0.02)


def test_mean_mode_is_deterministic_and_returns_the_mean_while_training_mode_samples():
  config = _config("daib")
  images = _images()
  state = reward_classifier.create(config, jax.random.PRNGKey(1), images.shape[1:], 3)
  module, params = state.network.module, state.network.params
  probability = jax.jit(reward_classifier.probability)
  first, second = probability(state, images), probability(state, images)
  np.testing.assert_array_equal(first, second)

  @jax.jit
  def encodings(params, key):
    z, aux = module.apply({"params": params}, images, True,
                          method=lambda m, x, d: m.bottleneck(m.backbone(x), d))
    sampled = [module.apply({"params": params}, images, False, rngs={"bottleneck": k})[0]
               for k in jax.random.split(key)]
    return z, aux["mean"], sampled

  z, mean, sampled = encodings(params, jax.random.PRNGKey(0))
  np.testing.assert_array_equal(z[:, config.invariant_dim:], mean)
  assert not np.allclose(sampled[0], sampled[1]), "training mode did not sample z_S"


def test_variants_have_their_parts_and_lambda0_drops_only_the_kl():
  images = _images()
  for variant, has_domain, has_kl in (("erm", False, False), ("dann", True, False),
                                      ("vib", False, True), ("daib", True, True),
                                      ("daib_lambda0", True, True)):
    module = reward_classifier._module(_config(variant), 3)
    # Shapes only (traced, not compiled): which parts each variant builds.
    (_, aux), variables = jax.eval_shape(
        lambda: module.init_with_output(jax.random.PRNGKey(0), images, True))
    assert (aux["domain_logits"] is not None) == has_domain, variant
    assert ("mean" in aux) == has_kl, variant
    assert ("domain_classifier" in variables["params"]["bottleneck"]) == has_domain, variant
  assert reward_classifier.kl_weight(_config("daib")) == 0.01
  assert reward_classifier.kl_weight(_config("daib_lambda0")) == 0.0
  with pytest.raises(ValueError, match="unknown reward-classifier variant"):
    reward_classifier.create(_config("vicreg"), jax.random.PRNGKey(0), images.shape[1:], 3)


def test_balanced_batches_are_half_positive_and_cover_every_domain():
  labels = np.array([0] * 30 + [1] * 3 + [0] * 10 + [1] * 1, np.float32)
  domains = np.array([5] * 33 + [9] * 11)
  index, domain_ids = reward_classifier.balanced_index(labels, domains)
  assert domain_ids.tolist() == [5, 9]
  rows = np.asarray(reward_classifier.balanced_batch(index, jax.random.PRNGKey(0), 400))
  assert labels[rows[:200]].min() == 1 and labels[rows[200:]].max() == 0
  assert 0.4 < np.mean(domains[rows] == 9) < 0.6, "domains are not drawn uniformly"
  with pytest.raises(ValueError, match="domain 3 has no positive"):
    reward_classifier.balanced_index(np.zeros(4), np.array([3, 3, 3, 3]))


@pytest.mark.slow
def test_reward_classifier_learns_a_separable_image_cue():
  """A bright patch means success: a few hundred balanced DAIB updates must find it."""
  rng = np.random.default_rng(0)
  images = rng.integers(0, 60, (64, 8, 8, 3)).astype(np.uint8)
  labels = np.zeros(64, np.float32)
  labels[::2] = 1
  images[::2, 2:5, 2:5] = 250
  domains = jnp.asarray(np.arange(64) % 4, jnp.int32)
  config = _config("daib", learning_rate=3e-3)
  state = reward_classifier.create(config, jax.random.PRNGKey(0), (8, 8, 3), 4)
  train = jax.jit(lambda state: jax.lax.scan(
      lambda s, k: reward_classifier.update(s, jnp.asarray(images), jnp.asarray(labels), domains, k),
      state, jax.random.split(jax.random.PRNGKey(0), 150))[0])
  state = train(state)
  accuracy = reward_classifier.balanced_accuracy(reward_classifier.probability(state, jnp.asarray(images)), labels)
  assert accuracy > 0.95, f"balanced accuracy {accuracy}"


def test_encoders_take_uint8_and_resnet18_has_its_depth():
  images = _images(2, 32)
  encoder = vision.make_encoder("patch_conv")
  out = jax.jit(encoder.init)(jax.random.PRNGKey(0), images)
  assert jax.jit(encoder.apply)(out, images).shape == (2, 128)
  small = vision.make_encoder("small_conv")
  assert jax.eval_shape(lambda: small.init_with_output(jax.random.PRNGKey(0), images))[0].shape == (2, 128)
  with pytest.raises(ValueError, match="not a multiple of the patch size"):
    vision.make_encoder("patch_conv").init(jax.random.PRNGKey(0), _images(1, 10))
  resnet = vision.make_encoder("resnet18")
  variables = jax.eval_shape(resnet.init, jax.random.PRNGKey(0), images)
  convs = [k for k in jax.tree_util.tree_flatten_with_path(variables)[0]
           if "Conv" in jax.tree_util.keystr(k[0]) and "kernel" in jax.tree_util.keystr(k[0])]
  assert len(convs) == 1 + 16 + 3, f"ResNet-18 has 17 weighted convs plus 3 projections, got {len(convs)}"
  with pytest.raises(KeyError, match="unknown image encoder"):
    vision.make_encoder("vit")


def test_adversarial_ramp_goes_from_zero_to_the_weight():
  config = _config("daib", adversarial_ramp_steps=100, adversarial_weight=1.0)
  scale = lambda step: float(reward_classifier.adversarial_scale(config, jnp.asarray(step)))
  assert scale(0) == pytest.approx(0.0, abs=1e-6)
  assert 0.0 < scale(10) < scale(50) < scale(100) == pytest.approx(1.0, abs=1e-4)
  assert float(reward_classifier.adversarial_scale(_config("daib"), jnp.asarray(0))) == 1.0
