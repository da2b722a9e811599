"""Renders one episode of a scripted policy to an mp4 or gif.

  MUJOCO_GL=egl python -m experiments.render --task=oda/rect-10x10 --policy=collector \
      --output=/tmp/episode.mp4 --size=128
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from absl import app, flags  # noqa: E402
import numpy as np  # noqa: E402

from jaxinsert.envs import controllers, episodes, factory, rendering  # noqa: E402
from jaxinsert.training import videos  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("task", "oda/rect-10x10", "Task: suite/task or a bare task name.")
flags.DEFINE_string("policy", "collector", f"Scripted policy: {sorted(controllers.SCRIPTED)}.")
flags.DEFINE_string("output", "/tmp/insertion_episode.mp4", "Output file (.mp4 or .gif).")
flags.DEFINE_integer("size", 128, "Image side in pixels.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_integer("fps", 10, "Frames per second (the policy rate is 10 Hz).")


def render_episode(task, policy_name: str, size: int, seed: int) -> np.ndarray:
  """Frames (T+1, H, W, 3) of the first episode of `policy_name` on `task`."""
  env = factory.make(task, backend="c", num_envs=1, image_size=size)
  policy = controllers.batched(controllers.make_policy(policy_name, env.config))
  rollouts = episodes.run_policy(env, policy, env.config.max_episode_steps, seed,
                                 record_images=True)
  env.close()
  return videos.first_episode_frames(rollouts)


def main(argv):
  del argv
  if not rendering.egl_available():
    raise SystemExit("no offscreen OpenGL: install libegl1 libgl1 and set MUJOCO_GL=egl")
  frames = render_episode(FLAGS.task, FLAGS.policy, FLAGS.size, FLAGS.seed)
  videos.save_video(FLAGS.output, frames, fps=FLAGS.fps)
  print(f"wrote {len(frames)} frames to {FLAGS.output}")


if __name__ == "__main__":
  app.run(main)
