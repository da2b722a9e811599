"""Robot-loop benchmark: policy latency, the jitter of the 10 Hz loop, the FRI-style loop rate.

  python -m experiments.benchmarks.robots [--policy=RUN_DIR] [--seconds=10]

1. Policy latency: `Policy.act` on one observation (the robot loop's call), after the first
   (compiling) call; median and p99 over --calls calls. Without --policy, an insertion-shaped
   IQL policy with random weights is saved and loaded the same way (same network sizes as the
   main job's config: 18 -> (128, 128) -> 3).
2. 10 Hz loop: the Sawyer adapter + safety layer against the simulated server in real-time mode
   (one physics step per 0.1 s of wall clock); the interval between consecutive states the
   loop acts on, and how late each is against the ideal 0.1 s grid.
3. FRI-style exchange: the simulated iiwa server sending a packet every --fri_cycle_ms with
   physics in real time (20 cycles per 0.1 s step at 5 ms), the adapter answering every packet;
   the achieved packet rate, the share of cycles answered before the next one, and the cycle
   interval spread. Every server and loop is bounded by --seconds and stopped at the end.
Figures, not assertions. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np


def random_insertion_policy(workdir: str) -> str:
  """An IQL run directory with random weights in the main job's shapes (no training)."""
  import jax

  from jaxinsert.agents import get_agent
  from jaxinsert.training import checkpoints, config as run_config, offline
  from jaxinsert.training.logging import write_json_atomically
  from jaxinsert.types import Spec

  config = run_config.offline_run_config("iql")
  config.agent.hidden_dims = (128, 128)
  spec = Spec((18,), 3)
  shapes = jax.eval_shape(lambda: offline.init_run_state(get_agent("iql"), config.agent, spec, 0, 1))
  rng = np.random.default_rng(0)
  state = jax.tree_util.tree_map(lambda x: (0.1 * rng.standard_normal(x.shape)).astype(x.dtype)
                                 if np.issubdtype(x.dtype, np.floating) else np.zeros(x.shape, x.dtype), shapes)
  saver = checkpoints.Checkpointer(os.path.join(workdir, "checkpoints"), offline.run_description(config, spec))
  saver.save(1, state)
  saver.close()
  record = {"config": {"tasks": {"train": "lotj/dt12@robot0", "held_out": "lotj/dt12@robot0", "goal_noise_m": 0.002}}}
  write_json_atomically(os.path.join(workdir, "provenance.json"), record)
  return workdir


def policy_latency(policy, calls: int):
  obs = np.zeros(policy.spec.obs_shape, np.float32)
  policy.act(obs)
  times = []
  for _ in range(calls):
    started = time.perf_counter()
    policy.act(obs)
    times.append(time.perf_counter() - started)
  times = np.asarray(times) * 1e3
  return {"act_ms_median": float(np.median(times)), "act_ms_p99": float(np.percentile(times, 99)),
          "calls": calls}


def ten_hz_loop(policy, seconds: float):
  from jaxinsert.robots import connect, runner, safety

  robot_state = None
  with connect.serve("sawyer", realtime=True, max_seconds=seconds + 60) as server:
    robot = safety.SafeRobot(connect.connect("sawyer", server.address), safety.SafetyLimits(deadline_s=0.1))
    intervals, lateness = [], []
    try:
      deadline = time.monotonic() + seconds
      seed = 0
      while time.monotonic() < deadline:
        result = runner.run_episode(policy.act, robot, runner.TaskFrame(), runner.ActionSemantics.from_dict(
            policy.action_semantics), seed, 50)
        seed += 1
        times = np.asarray(result.loop_times_s[1:])  # the first state follows the reset
        if times.size > 2:
          intervals.extend(np.diff(times))
          grid = times[0] + 0.1 * np.arange(times.size)
          lateness.extend(times - grid)
        robot_state = result.status
    finally:
      robot.close()
    missed = server.missed_deadlines
  intervals = np.asarray(intervals) * 1e3
  lateness = np.asarray(lateness) * 1e3
  return {"period_ms_mean": float(intervals.mean()), "period_ms_std": float(intervals.std()),
          "period_ms_p1": float(np.percentile(intervals, 1)), "period_ms_p99": float(np.percentile(intervals, 99)),
          "drift_ms_max": float(np.abs(lateness).max()), "loops": int(intervals.size),
          "server_missed_deadlines": missed, "last_status": robot_state}


def fri_loop(seconds: float, cycle_ms: float):
  from jaxinsert.robots import connect, iiwa

  cycles_per_step = max(1, int(round(100.0 / cycle_ms)))
  with connect.serve("iiwa_fri", cycle_s=cycle_ms / 1e3, cycles_per_step=cycles_per_step,
                     max_missed_cycles=10**9, max_seconds=seconds + 30) as server:
    client = iiwa.IiwaFriRobot(server.address)
    try:
      client.reset(0)
      first_cycles, first_on_time, started = server.cycles, server.on_time, time.monotonic()
      time.sleep(seconds)
      cycles, on_time, elapsed = server.cycles - first_cycles, server.on_time - first_on_time, time.monotonic() - started
      stamps = np.asarray(server.cycle_times[first_cycles:first_cycles + cycles])
    finally:
      client.close()
  gaps = np.diff(stamps) * 1e3
  return {"cycle_ms_target": cycle_ms, "rate_hz_target": 1e3 / cycle_ms, "rate_hz_achieved": cycles / elapsed,
          "answered_in_time": on_time / max(cycles, 1), "cycle_ms_p50": float(np.median(gaps)),
          "cycle_ms_p99": float(np.percentile(gaps, 99)), "cycle_ms_max": float(gaps.max()), "cycles": cycles}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--policy", default="")
  parser.add_argument("--seconds", type=float, default=10.0)
  parser.add_argument("--calls", type=int, default=1000)
  parser.add_argument("--fri_cycle_ms", type=float, nargs="+", default=[5.0, 2.0, 1.0])
  args = parser.parse_args()
  import jaxinsert

  with tempfile.TemporaryDirectory() as scratch:
    path = args.policy or random_insertion_policy(scratch)
    policy = jaxinsert.load_policy(path)
    results = {"policy": path if args.policy else "random-weights IQL 18->(128,128)->3",
               "cpu_count": os.cpu_count(), "latency": policy_latency(policy, args.calls)}
    print(f"policy latency: median {results['latency']['act_ms_median']:.3f} ms, "
          f"p99 {results['latency']['act_ms_p99']:.3f} ms over {args.calls} calls", flush=True)
    results["loop_10hz"] = ten_hz_loop(policy, args.seconds)
    loop = results["loop_10hz"]
    print(f"10 Hz loop: period {loop['period_ms_mean']:.2f} +- {loop['period_ms_std']:.2f} ms "
          f"(p1 {loop['period_ms_p1']:.2f}, p99 {loop['period_ms_p99']:.2f}) over {loop['loops']} periods, "
          f"max drift from the 0.1 s grid {loop['drift_ms_max']:.2f} ms", flush=True)
    results["fri"] = []
    for cycle_ms in args.fri_cycle_ms:
      fri = fri_loop(args.seconds, cycle_ms)
      results["fri"].append(fri)
      print(f"FRI-style at {cycle_ms:g} ms: {fri['rate_hz_achieved']:.1f} Hz of {fri['rate_hz_target']:.0f}, "
            f"answered in time {100 * fri['answered_in_time']:.1f}%, cycle p50 {fri['cycle_ms_p50']:.2f} ms "
            f"p99 {fri['cycle_ms_p99']:.2f} ms max {fri['cycle_ms_max']:.2f} ms", flush=True)
  print(json.dumps(results, default=float))


if __name__ == "__main__":
  main()
