"""Rollout videos: frame selection and writing without forking the JAX process."""

import warnings

import imageio
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.training import videos


def _rollouts():
  # Two environments, 4 steps; environment 0's first episode ends at step 2.
  images = np.arange(4 * 2, dtype=np.uint8).reshape(4, 2, 1, 1, 1).repeat(3, axis=-1)
  final = images + 100
  terminal = np.zeros((4, 2), bool)
  terminal[2, 0] = True
  return {"image": images, "final_image": final, "terminal": terminal,
          "truncated": np.zeros((4, 2), bool)}


def test_first_episode_frames_end_on_the_state_the_last_action_reached():
  frames = videos.first_episode_frames(_rollouts(), env_index=0, hold=2)
  # Observations of steps 0..2, then the final image of step 2 (held twice more).
  assert [int(f[0, 0, 0]) for f in frames] == [0, 2, 4, 104, 104, 104]


def test_an_episode_that_never_ends_uses_every_step():
  frames = videos.first_episode_frames(_rollouts(), env_index=1)
  assert [int(f[0, 0, 0]) for f in frames] == [1, 3, 5, 7, 107]


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_save_video_writes_a_readable_file_without_forking(tmp_path, suffix):
  jnp.ones((64, 64)).dot(jnp.ones((64, 64))).block_until_ready()  # JAX's threads are running
  frames = np.random.default_rng(0).integers(0, 255, (6, 32, 32, 3), dtype=np.uint8)
  path = str(tmp_path / f"episode{suffix}")
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    videos.save_video(path, frames, fps=10)
  assert not [w for w in caught if "fork" in str(w.message)]
  read = imageio.mimread(path)
  assert len(read) == len(frames) and np.asarray(read[0]).shape[:2] == (32, 32)
