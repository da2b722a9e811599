"""Where a zero-shot ODA policy's failures end, and whether they are the socket's yaw: on a
finished ODA pipeline's workdir, per seed and task, the final plug pose of every trial (xy
error to the true socket, nearest fixture slot, yaw error), and the success when the socket's
yaw is replaced by other values while z stays the one read from the task's own demonstrations.

  python experiments/oda_diagnose.py --config=experiments/configs/oda_default.py \
      --workdir=runs/oda_slots_full --tasks=rect-14x6,multipin-2-wide --yaws=own,neighbour,0

"neighbour": the yaw of the training task in the same fixture slot (the nearest socket offset;
the first such task). A policy that reads the slot from z but reproduces the yaw its slot's
training task had succeeds at "neighbour" and fails at "own" when the two differ by more than
the part's clearance allows. Writes workdir/diagnose.json.
"""

import json
import os

import numpy as np
from absl import app, flags

from jaxinsert.training import cli

_CONFIG, _WORKDIR = cli.define_config_and_workdir_flags()
_TASKS = flags.DEFINE_list("tasks", ["rect-14x6", "multipin-2-wide"], "test or OOD task names")
_YAWS = flags.DEFINE_list("yaws", ["own", "neighbour", "0"], "socket yaws: own, neighbour or degrees")
_TRIALS = flags.DEFINE_integer("trials", 40, "episodes per seed, task and yaw")
_METHOD = flags.DEFINE_string("method", "oda", "oda or awac")


def rollout_final_poses(pipeline, state, task, trials: int, seed: int):
  """(successes [trials], final tcp_pose_in_socket [trials, 6]) of the deterministic policy,
  z from the task's own demonstrations (read before the socket is changed)."""
  from jaxinsert.training import insertion_tasks

  policy = pipeline.oda_policy(state, [task])
  env = insertion_tasks.make_env([task], trials)
  try:
    obs = env.reset(seed)
    done = np.zeros(trials, bool)
    success = np.zeros(trials, bool)
    final = np.zeros((trials, 6))
    for _ in range(task.max_episode_steps):
      obs, _, terminal, truncated, info = env.step(policy(obs))
      ended = np.logical_or(terminal, truncated) & ~done
      success |= np.asarray(info.get("success", terminal), bool) & ~done
      final[ended] = np.asarray(info["final_obs"])[ended, :6]
      done |= ended
      if done.all():
        break
    final[~done] = obs[~done, :6]
  finally:
    env.close()
  return success, final


def latent_neighbours(pipeline, tasks, slots):
  """Per seed and task: the training task whose demo z is nearest to the task's demo z, and
  that distance over the median distance between two training tasks' z."""
  out = {}
  for seed_index, state in enumerate(pipeline.agent_states("oda")):
    train = np.asarray(pipeline.task_latents(state, pipeline.train_tasks))
    spread = np.median([np.linalg.norm(a - b) for i, a in enumerate(train) for b in train[i + 1:]])
    for task, z in zip(tasks, np.asarray(pipeline.task_latents(state, tasks))):
      distances = np.linalg.norm(train - z[None], axis=1)
      nearest = pipeline.train_tasks[int(np.argmin(distances))]
      same_slot = bool(np.allclose(slots[nearest.name], slots[task.name]))
      out[f"seed {seed_index}, {task.name}"] = {
          "nearest": nearest.name, "nearest_in_same_slot": same_slot,
          "distance_over_train_spread": float(distances.min() / spread)}
      print(f"  z of {task.name:18} seed {seed_index}: nearest training task {nearest.name} "
            f"({'same' if same_slot else 'other'} slot), distance {distances.min() / spread:.2f}"
            " x the median training-task distance", flush=True)
  return out


def _mm(value):
  return "-" if value is None else f"{value:.2f}"


def _run():
  from jaxinsert.envs import suites
  from jaxinsert.training import oda_pipeline

  config = _CONFIG.value
  with oda_pipeline.ODAPipeline(config, _WORKDIR.value, progress=False) as pipeline:
    everything = pipeline.test_tasks + pipeline.ood_tasks + pipeline.train_tasks
    by_name = {t.name: t for t in everything}
    slots = {t.name: np.round(np.asarray(t.socket_offset_m) * 1e3, 2) for t in everything}
    results = {}
    for name in _TASKS.value:
      task = by_name[name]
      neighbours = [t for t in pipeline.train_tasks if np.allclose(slots[t.name], slots[name])]
      yaw_values = {}
      for yaw in _YAWS.value:
        if yaw == "own":
          yaw_values[yaw] = task.socket_yaw_rad
        elif yaw == "neighbour":
          if neighbours:
            yaw_values[f"neighbour ({neighbours[0].name})"] = neighbours[0].socket_yaw_rad
        else:
          yaw_values[f"{float(yaw):g} deg"] = float(np.deg2rad(float(yaw)))
      print(f"{name}: socket offset {slots[name]} mm, yaw {np.rad2deg(task.socket_yaw_rad):.2f} deg;"
            f" training tasks in its slot: {[t.name for t in neighbours]}", flush=True)
      results[name] = {}
      for seed_index, state in enumerate(pipeline.agent_states(_METHOD.value)):
        for label, yaw in yaw_values.items():
          # z is read from the task's own demos (oda_policy uses task.task_id), the socket moved.
          success, final = rollout_final_poses(pipeline, state, task.replace(socket_yaw_rad=yaw),
                                               _TRIALS.value, config.seed + 20_000)
          xy_error_mm = np.linalg.norm(final[:, :2] * 1e3 - slots[name][None], axis=1)
          yaw_error_deg = np.rad2deg(final[:, 5] - yaw)
          failed = ~success
          # Where the failures end: the nearest of the 4 fixture slots or the nominal socket.
          places = {"nominal": np.zeros(2)} | {f"slot {k}": suites.ODA_SLOT_RADIUS_M * 1e3 * np.array(
              [np.cos(np.pi / 4 + np.pi * k / 2), np.sin(np.pi / 4 + np.pi * k / 2)]) for k in range(4)}
          ends = [min(places, key=lambda p: np.linalg.norm(xy - places[p]))
                  for xy in final[~success, :2] * 1e3]
          cell = {"failures_end_near": {p: ends.count(p) for p in sorted(set(ends))},
                  "success": float(success.mean()),
                  "failed_xy_error_mm_median": float(np.median(xy_error_mm[failed])) if failed.any() else None,
                  "failed_depth_mm_median": float(np.median(final[failed, 2] * 1e3)) if failed.any() else None,
                  "yaw_error_deg_median": float(np.median(yaw_error_deg)),
                  "final_yaw_deg_median": float(np.median(np.rad2deg(final[:, 5])))}
          results[name][f"seed {seed_index}, socket yaw {label}"] = cell
          print(f"  seed {seed_index} socket yaw {label:28} ({np.rad2deg(yaw):+.2f} deg): success "
                f"{cell['success']:.2f}; plug yaw at the end {cell['final_yaw_deg_median']:+.2f} deg"
                f" (error {cell['yaw_error_deg_median']:+.2f}); failures end "
                f"{cell['failed_xy_error_mm_median']} mm from the socket axis at depth "
                f"{cell['failed_depth_mm_median']} mm, nearest {cell['failures_end_near']}",
                flush=True)
    if _METHOD.value == "oda":
      results["latent_neighbours"] = latent_neighbours(
          pipeline, [by_name[name] for name in _TASKS.value], slots)
    with open(os.path.join(_WORKDIR.value, f"diagnose_{_METHOD.value}.json"), "w") as handle:
      json.dump(results, handle, indent=1)


def main(argv):
  del argv
  cli.run_main(_run)


if __name__ == "__main__":
  app.run(main)
