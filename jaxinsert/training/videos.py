"""Rollout videos: the frames of a recorded episode, written as mp4 (ffmpeg) or gif."""

from __future__ import annotations

import os
from typing import Dict, Optional

import numpy as np


def first_episode_frames(rollouts: Dict[str, np.ndarray], env_index: int = 0,
                         hold: int = 0) -> np.ndarray:
  """Frames (T+1, H, W, C) of environment `env_index`'s first episode in `run_policy` output.

  The last frame is the state the final action led to (before any autoreset); `hold` repeats
  it so that a looping viewer rests on the outcome.
  """
  ended = rollouts["terminal"][:, env_index] | rollouts["truncated"][:, env_index]
  done = np.flatnonzero(ended)
  end = int(done[0]) if len(done) else len(rollouts["image"]) - 1
  frames = np.concatenate([rollouts["image"][:end + 1, env_index],
                           rollouts["final_image"][end:end + 1, env_index]])
  return np.concatenate([frames, np.repeat(frames[-1:], hold, axis=0)])


def save_video(path: str, frames: np.ndarray, fps: float = 10.0) -> str:
  """Writes uint8 frames (T, H, W, C) to `path`: a gif if it ends in .gif, else mp4."""
  import imageio

  frames = list(np.asarray(frames))
  if path.endswith(".gif"):
    imageio.mimsave(path, frames, duration=1.0 / fps, loop=0)
    return path
  # imageio-ffmpeg starts ffmpeg with preexec_fn=os.setpgrp, which forces a real fork of this
  # multithreaded (JAX, MuJoCo) process; without it Python spawns ffmpeg without forking.
  os.environ.setdefault("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")
  imageio.mimsave(path, frames, fps=fps, macro_block_size=1)
  return path


def record_policy(tasks, policy, output_path: str, seed: int, size: int = 128,
                  residual_base: str = "") -> Optional[str]:
  """One episode of `policy(obs) -> actions` on `tasks[0]` saved as a video (None without EGL)."""
  from jaxinsert.envs import episodes, rendering
  from jaxinsert.training import insertion_tasks

  if not rendering.egl_available():
    return None
  env = insertion_tasks.make_env(list(tasks)[:1], 1, residual_base, image_size=size)
  try:
    rollouts = episodes.run_policy(env, lambda keys, obs, context: policy(np.asarray(obs)),
                                   env.spec.max_episode_steps, seed, record_images=True)
  finally:
    env.close()
  return save_video(output_path, first_episode_frames(rollouts, hold=5), fps=10)

