"""Collects scripted-policy episodes in the simulator and writes them as an RLDS dataset.

  python -m experiments.collect --suite=oda --task=train --policy=collector --episodes=200 \
      --output_dir=/tmp/oda_train

--task is a task name or a split of the suite. Prints the success rate (last line: JSON).
--obs=vision adds camera images (insertion-vision spec); rewards are binary success unless
--reward=dense (thesis eq. 48) or image_l1.
"""

from __future__ import annotations

import json
import math
import time

from absl import app, flags
import numpy as np

from jaxinsert.envs import controllers, episodes as episodes_lib, factory, suites, tasks

FLAGS = flags.FLAGS
flags.DEFINE_string("suite", "oda", "Suite: oda, lotj, ch9.")
flags.DEFINE_string("task", "train", "Task name or split name in the suite.")
flags.DEFINE_string("policy", "collector", f"Scripted policy: {sorted(controllers.SCRIPTED)}.")
flags.DEFINE_integer("episodes", 100, "Number of finished episodes to write.")
flags.DEFINE_string("output_dir", None, "Dataset directory.")
flags.DEFINE_integer("num_envs", 32, "Environments stepped in one batch.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_enum("obs", "state", ["state", "vision"], "Observation features to store.")
flags.DEFINE_integer("image_size", 64, "Image side for --obs=vision (32, 48 or 64).")
flags.DEFINE_bool("grayscale", False, "Grayscale images (chapter 9 uses 32x32 gray).")
flags.DEFINE_enum("start", "default", ["default", "nominal", "scenario2"], "Start distribution.")
flags.DEFINE_enum("reward", "sparse", ["sparse", "dense", "image_l1"], "Reward.")
flags.DEFINE_float("action_noise", 0.0, "Stddev of Gaussian noise on executed actions (eq. 46).")
flags.DEFINE_bool("overwrite", False, "Replace an existing dataset.")


def _tasks():
  suite = suites.get_suite(FLAGS.suite)
  chosen = suite.split(FLAGS.task) if FLAGS.task in suite.splits else [suite.task(FLAGS.task)]
  if FLAGS.start == "nominal":
    chosen = [t.replace(start=tasks.nominal_start(t.start)) for t in chosen]
  elif FLAGS.start == "scenario2":
    chosen = suites.with_start(chosen, tasks.lotj_scenario_2())
  return chosen


def _spec_name(action_dim: int) -> str:
  if FLAGS.obs == "state":
    return "insertion-state" if action_dim == 6 else "insertion-state:move"
  if FLAGS.grayscale or FLAGS.image_size == 32:
    return "insertion-vision:gray32"
  return "insertion-vision:rgb48" if FLAGS.image_size == 48 else "insertion-vision"


def collect(task_list, num_episodes, num_envs, seed, policy_name, record_images=False, **env_kwargs):
  """(episodes, success flags) of `num_episodes` finished episodes."""
  env = factory.make(task_list, backend="c", num_envs=num_envs, **env_kwargs)
  policy = controllers.make_policy(policy_name, env.config)
  if FLAGS.action_noise > 0:
    policy = controllers.with_action_noise(policy, 0.0, FLAGS.action_noise)
  rounds = math.ceil(num_episodes / num_envs) + 1
  rollouts = episodes_lib.run_policy(env, controllers.batched(policy),
                                     env.config.max_episode_steps * rounds, seed, record_images)
  episodes = episodes_lib.rollouts_to_episodes(rollouts)
  # Interleave environments so that every task is represented when cutting to num_episodes.
  by_env = {}
  for episode in episodes:
    by_env.setdefault((episode["task_id"], episode["domain_id"]), []).append(episode)
  ordered = [e for group in zip(*by_env.values()) for e in group] if by_env else []
  ordered += [e for e in episodes if not any(e is o for o in ordered)]
  episodes = ordered[:num_episodes]
  env.close()
  return episodes, np.array([bool(e["steps"]["is_terminal"][-1]) for e in episodes])


def main(argv):
  del argv
  started = time.time()
  task_list = _tasks()
  vision = FLAGS.obs == "vision"
  episodes, success = collect(task_list, FLAGS.episodes, FLAGS.num_envs, FLAGS.seed, FLAGS.policy,
                              record_images=vision, image_size=FLAGS.image_size,
                              grayscale=FLAGS.grayscale, reward=FLAGS.reward)
  if vision and FLAGS.grayscale:
    for e in episodes:
      assert e["steps"]["observation"]["image"].shape[-1] == 1
  summary = {"suite": FLAGS.suite, "task": FLAGS.task, "policy": FLAGS.policy,
             "episodes": len(episodes), "success_rate": float(success.mean()) if len(success) else 0.0,
             "seconds": round(time.time() - started, 1)}
  if FLAGS.output_dir:
    from jaxinsert.data import rlds  # the data layer (imports TFDS only when writing)
    provenance = {"generator": "experiments/collect.py", "suite": FLAGS.suite, "task": FLAGS.task,
                  "policy": FLAGS.policy, "seed": FLAGS.seed, "start": FLAGS.start,
                  "reward": FLAGS.reward, "action_noise": FLAGS.action_noise,
                  "tasks": [t.name for t in task_list]}
    path = rlds.write_dataset(FLAGS.output_dir, episodes, _spec_name(episodes[0]["steps"]["action"].shape[-1]),
                              provenance=provenance, overwrite=FLAGS.overwrite)
    summary["output_dir"] = str(path)
  print(f"success rate {summary['success_rate']:.3f} over {len(episodes)} episodes")
  print(json.dumps(summary))


if __name__ == "__main__":
  app.run(main)
