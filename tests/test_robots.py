"""Adapters against the simulated robot servers: the same episodes as in process, and the
logged bag back to RLDS. Every server runs in a `with` block with a wall-time bound, every loop
is bounded in steps, and every test has a timeout."""

import atexit
import functools

import numpy as np
import pytest

from jaxinsert.robots import bag_log, connect, messages, runner, safety
from jaxinsert.robots.sim_robot import SimulatedInsertionRobot

pytestmark = pytest.mark.timeout(240)
TASK = "lotj/dt12@robot0"
SEEDS = (0, 1, 2)
MAX_STEPS = 50


def centre_then_down(obs):
  """A scripted policy (normalised 3-D moves): centre over the nominal socket, then descend."""
  xy = obs[:2]
  action = np.zeros(3, np.float32)
  action[:2] = np.clip(-xy / 0.01, -1, 1)
  action[2] = -1.0 if np.abs(xy).max() < 0.001 else 0.0
  return action


@functools.lru_cache(maxsize=None)
def shared_sim_robot(task=TASK):
  """One simulated robot per process (its environment compiles once, ~30 s on a loaded CI CPU),
  shared by every server in both robot test files."""
  robot = SimulatedInsertionRobot(task)
  atexit.register(robot.close)
  return robot


@pytest.fixture(scope="module")
def sim_robot():
  return shared_sim_robot()


@pytest.fixture(scope="module")
def in_process(sim_robot):
  """The same policy on the same seeds, straight on the environment (the reference): the very
  environment behind the servers, reset with the same seeds."""
  env = sim_robot.env
  episodes = {}
  for seed in SEEDS:
    obs, observations, success = env.reset(seed), [], False
    for _ in range(MAX_STEPS):
      observations.append(obs[0].copy())
      obs, _, terminal, truncated, info = env.step(centre_then_down(obs[0])[None])
      if info["success"][0]:
        success = True
      if terminal[0] or truncated[0]:
        break
    episodes[seed] = (success, np.stack(observations))
  return episodes


@pytest.mark.parametrize("kind", connect.KINDS)
def test_adapter_episodes_match_in_process_episodes(sim_robot, in_process, kind):
  limits = safety.SafetyLimits()
  with connect.serve(kind, robot=sim_robot, max_seconds=120) as server:
    robot = safety.SafeRobot(connect.connect(kind, server.address), limits)
    try:
      results = [runner.run_episode(centre_then_down, robot, runner.TaskFrame(), runner.ActionSemantics(),
                                    seed, MAX_STEPS) for seed in SEEDS]
    finally:
      robot.close()
  for result in results:
    expected_success, expected_obs = in_process[result.seed]
    assert result.success == expected_success, f"{kind} seed {result.seed}: {result.status}"
    observed = np.stack(result.observations[:len(expected_obs)])
    np.testing.assert_allclose(observed, expected_obs[:len(observed)], atol=2e-5,
                               err_msg=f"{kind}: observations through the robot differ from in-process")
  assert not robot.events, f"no guard should act on a clean run: {robot.events}"


@pytest.mark.parametrize("kind", ["sawyer", "iiwa_ros"])
def test_logged_bag_converts_back_to_what_the_server_recorded(sim_robot, tmp_path, kind):
  from jaxinsert.data import rlds
  from jaxinsert.data.converters import convert

  spec = connect.LOG_SPECS[kind]
  bag_path = tmp_path / ("run.bag" if spec == "sawyer-log" else "run")
  logger = bag_log.EpisodeLogger(bag_path, spec)
  with connect.serve(kind, robot=sim_robot, max_seconds=120) as server:
    robot = safety.SafeRobot(connect.connect(kind, server.address), safety.SafetyLimits())
    try:
      results = [runner.run_episode(centre_then_down, robot, runner.TaskFrame(), runner.ActionSemantics(),
                                    seed, MAX_STEPS, logger=logger) for seed in (3, 4)]
    finally:
      robot.close()
      logger.close()
    first_episode = sim_robot.episode - 1
  out = convert("rosbag", bag_path, tmp_path / "rlds", spec=spec)
  episodes = list(rlds.read_episodes(out))
  assert len(episodes) == 2
  for index, (episode, result) in enumerate(zip(episodes, results)):
    records = [r for r in sim_robot.episode_records(first_episode + index)]
    steps = episode["steps"]
    assert len(steps["is_first"]) == len(records) == result.steps + 1
    truth = [r["measurement"] for r in records]
    observation = steps["observation"]
    pose_key = "tcp_pose_in_base"
    wrench_key = "wrench_at_tcp_in_base" if spec == "sawyer-log" else "wrench_at_tcp"
    np.testing.assert_allclose(observation[pose_key][:, :3], [m.tcp_position_m for m in truth], atol=1e-6)
    np.testing.assert_allclose(observation[pose_key][:, 3:], [m.tcp_quaternion_xyzw for m in truth], atol=1e-6)
    np.testing.assert_allclose(observation[wrench_key], [m.wrench_at_tcp for m in truth], atol=1e-4, rtol=1e-6)
    np.testing.assert_allclose(observation["joint_position_rad"], [m.joint_position_rad for m in truth], atol=1e-6)
    applied = np.stack([r["action"] for r in records[:-1]])
    np.testing.assert_allclose(steps["action"][:-1, :3], applied, atol=1e-4,
                               err_msg="logged actions must be what the robot applied")
    assert bool(steps["is_terminal"][-1]) == result.success


def test_messages_round_trip_through_both_serialisations():
  for generation in ("ros1", "ros2"):
    codec = messages.Codec(generation)
    command = codec.types["intera_core_msgs/msg/JointCommand"](
        header=codec.header(123), mode=1, names=["right_j0"], position=np.array([0.5]),
        velocity=np.zeros(0), acceleration=np.zeros(0), effort=np.zeros(0))
    decoded = codec.deserialize(codec.serialize(command, "intera_core_msgs/msg/JointCommand"),
                                "intera_core_msgs/msg/JointCommand")
    assert decoded.mode == 1 and decoded.position[0] == 0.5 and messages.stamp_ns(decoded.header) == 123


def test_a_loaded_policy_through_run_policy_matches_in_process(sim_robot, tmp_path):
  """The acceptance chain in small: load_policy -> run_policy -> safety layer -> Sawyer adapter
  -> simulated server, against the same policy in process (an insertion-shaped IQL policy with
  random weights here; the full-size run with the main job's policy is the slow test below)."""
  from experiments import run_policy
  from experiments.benchmarks.robots import random_insertion_policy

  path = random_insertion_policy(str(tmp_path))
  act, semantics, _ = run_policy.load_actor(path)
  reference, _ = run_policy.run_in_process(act, TASK, 3, 0, 20, env=sim_robot.env)
  outcomes, latencies, _, extra = run_policy.run_on_robot(
      act, semantics, "sawyer", TASK, 3, 0, 20, server_options={"robot": sim_robot})
  assert [o["status"] for o in outcomes] == [o["status"] for o in reference], (outcomes, reference)
  assert extra["server_missed_deadlines"] == 0 and latencies


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("kind", connect.KINDS)
def test_trained_policy_on_each_adapter_reaches_the_in_process_success_rate(kind):
  """Full size: JAXINSERT_POLICY=<an insertion pipeline's workdir> (runs/insertion), 100 episodes."""
  import os
  from experiments import run_policy
  path = os.environ.get("JAXINSERT_POLICY")
  if not path:
    pytest.skip("set JAXINSERT_POLICY to a trained insertion run (e.g. runs/insertion)")
  episodes = int(os.environ.get("JAXINSERT_EPISODES", "100"))
  reference = run_policy.run(path, "sim", episodes, 10_000)
  robot = run_policy.run(path, kind, episodes, 10_000)
  low, high = reference["success_ci95"]
  assert low <= robot["success_rate"] <= high, (reference["success_rate"], robot["success_rate"])
