"""Run a trained policy on a simulated environment or a robot, through the safety layer.

  python experiments/run_policy.py --policy=runs/insertion --target=sim --episodes=50
  python experiments/run_policy.py --policy=runs/insertion --target=sawyer --episodes=50
      --robot_config=experiments/configs/robots/sawyer.py --log_bag=/tmp/sawyer_run.bag   (one line)
  python experiments/run_policy.py --policy=runs/insertion --target=iiwa_fri --address=10.0.0.5:30200

`--target=sim` steps the insertion environment in process (the reference); a robot target
(`sawyer`, `iiwa_ros`, `iiwa_fri`) goes policy -> safety layer -> adapter -> robot. Without
`--address` the simulated robot server of that kind is started on loopback (and stopped at the
end). Episodes use seeds seed, seed + 1, ...: the simulated server's episode i starts where the
in-process episode i does. Prints a JSON summary: success k/N with a 95% Wilson interval, episode
statuses, policy latency. `--policy` also takes `controller:centre_then_down` (a scripted check).
"""

import json
import os
import time

from absl import app, flags
import numpy as np

TARGETS = ("sim", "sawyer", "iiwa_ros", "iiwa_fri")


def centre_then_down(obs):
  """Scripted check: centre over the nominal socket, then descend (3-D normalised moves)."""
  action = np.zeros(3, np.float32)
  action[:2] = np.clip(-obs[:2] / 0.01, -1, 1)
  action[2] = -1.0 if np.abs(obs[:2]).max() < 0.001 else 0.0
  return action


CONTROLLERS = {"centre_then_down": centre_then_down}


def load_actor(spec: str):
  """(act(obs) -> action, action semantics dict, description) of a policy or a controller."""
  if spec.startswith("controller:"):
    name = spec.split(":", 1)[1]
    if name not in CONTROLLERS:
      raise ValueError(f"unknown controller {name!r}; known: {sorted(CONTROLLERS)}")
    return CONTROLLERS[name], {"mode": "move", "move_m": 0.01, "policy_dt_s": 0.1}, {"controller": name}
  import jaxinsert
  from jaxinsert.training import policy_api

  policy = jaxinsert.load_policy(spec)
  return policy.act, policy.action_semantics or {}, policy_api.describe(policy)


def robot_config(target: str, path: str):
  import importlib.util

  path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "robots",
                              "sawyer.py" if target == "sawyer" else "iiwa.py")
  loader = importlib.util.spec_from_file_location("robot_config", path)
  module = importlib.util.module_from_spec(loader)
  loader.loader.exec_module(module)
  return module.get_config()


def run_in_process(act, task, episodes: int, seed: int, max_steps: int, env=None):
  from jaxinsert.envs import factory

  own = env is None
  env = factory.make(task, backend="c", num_envs=1) if own else env
  outcomes, latencies = [], []
  for index in range(episodes):
    obs, success = env.reset(seed + index), False
    for _ in range(max_steps):
      started = time.perf_counter()
      action = np.asarray(act(obs[0]))
      latencies.append(time.perf_counter() - started)
      obs, _, terminal, truncated, info = env.step(action[None])
      success = success or bool(info["success"][0])
      if terminal[0] or truncated[0]:
        break
    outcomes.append({"seed": seed + index, "success": success, "status": "success" if success else "time_limit"})
  if own:
    env.close()
  return outcomes, latencies


def run_on_robot(act, semantics, target: str, task: str, episodes: int, seed: int, max_steps: int,
                 address: str = "", config_path: str = "", log_bag: str = "", server_options=None):
  from jaxinsert.robots import bag_log, connect, runner, safety

  config = robot_config(target, config_path)
  limits = safety.SafetyLimits.from_dict(config.limits.to_dict())
  server = None
  if address:
    host, port = address.rsplit(":", 1)
    where = (host, int(port))
  else:
    options = dict(server_options or {})
    if "robot" not in options:
      options["task"] = task
    server = connect.serve(target, max_seconds=60 + episodes * max_steps * 0.5, **options)
    where = server.address
  logger = bag_log.EpisodeLogger(log_bag, connect.LOG_SPECS[target]) if log_bag else None
  robot = safety.SafeRobot(connect.connect(target, where), limits)
  frame = runner.TaskFrame(tuple(config.socket_in_base_m))
  outcomes, latencies, loop_times = [], [], []
  act(np.zeros(18, np.float32))  # compile before the first deadline, not inside it
  try:
    for index in range(episodes):
      result = runner.run_episode(act, robot, frame, runner.ActionSemantics.from_dict(semantics),
                                  seed + index, max_steps, logger=logger)
      outcomes.append({"seed": result.seed, "success": result.success, "status": result.status,
                       "steps": result.steps})
      latencies.extend(result.act_latency_s)
      loop_times.append(result.loop_times_s)
  finally:
    robot.close()
    if logger is not None:
      logger.close()
    if server is not None:
      server.stop()
  extra = {"safety_events": len(robot.events),
           "server_missed_deadlines": None if server is None else server.missed_deadlines}
  return outcomes, latencies, loop_times, extra


def run(policy: str, target: str, episodes: int, seed: int, task: str = "", address: str = "",
        config_path: str = "", log_bag: str = "", server_options=None):
  from jaxinsert.training import evaluation

  from jaxinsert.training import insertion_tasks

  act, semantics, description = load_actor(policy)
  task_name = task or semantics.get("task") or "lotj/dt12@robot0"
  # The task as the run evaluated it (its goal noise), in process and behind the server alike.
  task = insertion_tasks.resolve(task_name, semantics.get("goal_noise_m", -1.0))[0]
  max_steps = int(semantics.get("max_episode_steps", 50))
  started = time.time()
  extra = {}
  if target == "sim":
    outcomes, latencies = run_in_process(act, task, episodes, seed, max_steps)
  else:
    outcomes, latencies, _, extra = run_on_robot(act, semantics, target, task, episodes, seed, max_steps,
                                                 address, config_path, log_bag, server_options)
  k = sum(o["success"] for o in outcomes)
  statuses = {}
  for outcome in outcomes:
    key = outcome["status"].split(":")[0]
    statuses[key] = statuses.get(key, 0) + 1
  latencies = np.asarray(latencies[1:] if len(latencies) > 1 else latencies)  # first call compiles
  return {"policy": description, "target": target, "task": task_name,
          "goal_noise_m": float(task.goal_noise_m), "episodes": len(outcomes),
          "success_k": k, "success_rate": k / max(len(outcomes), 1),
          "success_ci95": evaluation.wilson_interval(k, len(outcomes)), "statuses": statuses,
          "outcomes": [int(o["success"]) for o in outcomes],
          "act_latency_ms_median": float(np.median(latencies) * 1e3) if latencies.size else None,
          "act_latency_ms_p99": float(np.percentile(latencies, 99) * 1e3) if latencies.size else None,
          "wall_clock_s": round(time.time() - started, 1), **extra}


def define_flags():
  """The CLI's flags (defined only when run as a script, so importing this module is free)."""
  flags.DEFINE_string("policy", None, "run workdir / checkpoints dir, or controller:NAME")
  flags.DEFINE_enum("target", "sim", TARGETS, "where to run")
  flags.DEFINE_integer("episodes", 10, "episodes")
  flags.DEFINE_integer("seed", 10_000, "seed of the first episode")
  flags.DEFINE_string("task", "", "insertion task (default: the policy's first held-out task)")
  flags.DEFINE_string("address", "", "host:port of a robot; empty = start the simulated server")
  flags.DEFINE_string("robot_config", "", "safety/connection config (default per target)")
  flags.DEFINE_string("log_bag", "", "write every episode to this rosbag (sawyer-log / iiwa-log)")
  flags.DEFINE_string("json_out", "", "also write the summary here")


def main(argv):
  del argv
  from jaxinsert.training import cli

  values = flags.FLAGS

  def body():
    if not values.policy:
      raise ValueError("--policy is required (a run directory, or controller:centre_then_down)")
    summary = run(values.policy, values.target, values.episodes, values.seed, values.task,
                  values.address, values.robot_config, values.log_bag)
    text = json.dumps(summary, indent=2, default=float)
    print(text)
    if values.json_out:
      with open(values.json_out, "w") as handle:
        handle.write(text + "\n")

  cli.run_main(body)


if __name__ == "__main__":
  define_flags()
  app.run(main)
