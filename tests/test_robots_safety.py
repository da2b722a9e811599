"""Each guard of the safety layer holds under its fault, and the same test with that guard
removed (`SafeRobot(disabled=(guard,))`) sees the violation: the guard is what holds it."""

import time

import numpy as np
import pytest

from jaxinsert.robots import connect, faults, protocol, runner, safety

pytestmark = pytest.mark.timeout(240)
TASK = "lotj/dt12@robot0"
SOCKET = np.array(runner.TaskFrame().socket_in_base_m)


@pytest.fixture(scope="module")
def sim_robot():
  from test_robots import shared_sim_robot
  return shared_sim_robot(TASK)


def episode(sim_robot, act, limits, disabled=(), kind="sawyer", fault=faults.Faults(), max_steps=20,
            seed=0, timeout_s=1.0):
  """Runs one bounded episode; returns (result, server commands of it, safe robot)."""
  with connect.serve(kind, robot=sim_robot, faults=fault, max_seconds=60) as server:
    robot = safety.SafeRobot(connect.connect(kind, server.address), limits, disabled=disabled)
    try:
      result = runner.run_episode(act, robot, runner.TaskFrame(), runner.ActionSemantics(), seed,
                                  max_steps, state_timeout_s=timeout_s)
    finally:
      robot.close()
  return result, [c for c in server.commands if c["episode"] == sim_robot.episode], robot


def push(direction):
  return lambda obs: np.asarray(direction, np.float32)


BOX = safety.SafetyLimits(workspace_min_m=tuple(SOCKET + [-0.004, -0.004, -0.03]),
                          workspace_max_m=tuple(SOCKET + [0.004, 0.004, 0.02]), max_step_m=0.02)


@pytest.mark.parametrize("disabled", [(), ("workspace",)])
def test_no_command_outside_the_box_reaches_the_server(sim_robot, disabled):
  _, commands, _ = episode(sim_robot, push([1.0, 0.0, 0.5]), BOX, disabled)
  targets = np.array([c["tcp_position_m"] + c["increment"][:3] for c in commands])
  outside = np.any((targets < np.array(BOX.workspace_min_m) - 1e-9) | (targets > np.array(BOX.workspace_max_m) + 1e-9), axis=1)
  if disabled:
    assert outside.any(), "without the workspace guard the push leaves the box (the test can see it)"
  else:
    assert commands and not outside.any(), f"{outside.sum()} commands outside the box reached the server"


STEP = safety.SafetyLimits(max_step_m=0.004)


@pytest.mark.parametrize("disabled", [(), ("step_limit",)])
def test_no_step_above_the_limit_reaches_the_server(sim_robot, disabled):
  _, commands, _ = episode(sim_robot, push([1.0, -1.0, 0.0]), STEP, disabled, max_steps=5)
  steps = np.array([np.max(np.abs(c["increment"][:3])) for c in commands])
  if disabled:
    assert np.any(steps > STEP.max_step_m + 1e-12)
  else:
    assert commands and np.all(steps <= STEP.max_step_m + 1e-12), f"steps {steps} above {STEP.max_step_m}"


FORCE = safety.SafetyLimits(max_force_n=5.0, hard_force_n=1e6, retreat_m=0.002, max_step_m=0.02)


@pytest.mark.parametrize("disabled", [(), ("force_limit",)])
def test_above_the_force_limit_only_retreats_reach_the_server(sim_robot, disabled):
  # Straight down off-centre: the plug lands on the socket face and presses.
  _, commands, robot = episode(sim_robot, push([0.0, 0.0, -1.0]), FORCE, disabled, max_steps=15)
  records = {r["step"]: r for r in sim_robot.episode_records(sim_robot.episode)}
  pressing = []
  for c in commands:
    wrench = records[c["step"]]["measurement"].wrench_at_tcp
    if np.linalg.norm(wrench[:3]) > FORCE.max_force_n:
      pressing.append(float(np.dot(c["increment"][:3], wrench[:3])))  # > 0: along the force = away
  assert pressing, "the episode must reach the force limit for this test to mean anything"
  if disabled:
    assert min(pressing) < 0, "without the guard the policy keeps pushing into the contact"
  else:
    assert min(pressing) > 0, "above the force limit a command must retreat along the measured force"


def test_hard_force_limit_is_an_estop(sim_robot):
  limits = safety.SafetyLimits(max_force_n=1e6, hard_force_n=3.0)
  result, _, robot = episode(sim_robot, push([0.0, 0.0, -1.0]), limits, max_steps=15)
  assert robot.estopped and "e-stop" in result.status
  with pytest.raises(safety.CommandRefused):
    robot.send(protocol.CartesianMove(np.zeros(3)))


@pytest.mark.parametrize("disabled", [(), ("watchdog",)])
def test_watchdog_stops_within_one_period_of_a_missed_deadline(sim_robot, disabled):
  limits = safety.SafetyLimits(deadline_s=0.1)
  calls = []

  def slow(obs):
    calls.append(time.monotonic())
    if len(calls) == 3:
      time.sleep(0.35)   # misses its deadline
    return np.array([0.2, 0.0, 0.0], np.float32)  # moving: a plug at rest reads as a stuck sensor

  result, commands, robot = episode(sim_robot, slow, limits, disabled, max_steps=6)
  if disabled:
    assert robot.stop_time_s is None and result.steps == 6, f"without the watchdog nothing stops: {robot.stopped_reason}"
    return
  assert robot.stop_time_s is not None and "missed deadline" in robot.stopped_reason
  state_time = robot.latest_state().received_s
  assert robot.stop_time_s - state_time <= limits.deadline_s + 0.1, "stop later than one period after the deadline"
  assert result.status.startswith("stopped") and result.steps == 2
  late = [c for c in commands if c["received_s"] > robot.stop_time_s + 1e-3 and np.any(c["increment"] != 0)]
  assert not late, "no motion command may reach the robot after the watchdog stopped it"


@pytest.mark.parametrize("disabled", [(), ("finite_command",)])
def test_nan_command_never_leaves_the_process(sim_robot, disabled):
  seen = []

  def nan_on_third(obs):
    seen.append(1)
    return np.array([np.nan, 0, 0], np.float32) if len(seen) == 3 else np.zeros(3, np.float32)

  result, commands, robot = episode(sim_robot, nan_on_third, safety.SafetyLimits(), disabled, max_steps=5,
                                    timeout_s=0.5)
  has_nan = any(not np.all(np.isfinite(c["target"])) for c in commands)
  if disabled:
    assert has_nan or robot.robot.sent_commands >= 3, "without the guard the NaN goes out"
  else:
    assert not has_nan and "NaN" in result.status and result.steps == 2


def test_out_of_range_action_is_refused(sim_robot):
  result, commands, _ = episode(sim_robot, push([3.0, 0.0, 0.0]), safety.SafetyLimits(), max_steps=3)
  assert "outside [-1, 1]" in result.status
  assert not [c for c in commands if np.any(c["increment"] != 0)], "only the hold may reach the robot"


@pytest.mark.parametrize("fault,word", [(faults.Faults(nan_state_at_step=2), "NaN"),
                                        (faults.Faults(stuck_sensor_from_step=1), "stuck")])
def test_bad_state_stops_the_robot(sim_robot, fault, word):
  result, commands, robot = episode(sim_robot, push([0.1, 0.0, -0.2]), safety.SafetyLimits(stuck_samples=3),
                                    fault=fault, max_steps=10)
  assert result.status.startswith("stopped") and word in result.status, result.status
  assert robot.stopped_reason is not None


@pytest.mark.parametrize("kind", ["sawyer", "iiwa_fri"])
def test_disconnect_mid_episode_stops_without_hanging(sim_robot, kind):
  started = time.monotonic()
  result, _, robot = episode(sim_robot, push([0.1, 0.0, -0.2]), safety.SafetyLimits(), kind=kind,
                             fault=faults.Faults(disconnect_at_step=3), max_steps=20, timeout_s=0.5)
  assert result.status.startswith("stopped") and result.steps <= 4, result.status
  assert robot.stopped_reason is not None
  assert time.monotonic() - started < 30


def test_lossy_jittery_link_still_runs_and_stays_in_the_box(sim_robot):
  fault = faults.Faults(drop_probability=0.1, late_probability=0.1, late_s=0.05, jitter_s=0.01, seed=3)
  result, commands, _ = episode(sim_robot, push([1.0, 0.0, 0.5]), BOX, fault=fault, max_steps=15,
                                timeout_s=0.5)
  targets = np.array([c["tcp_position_m"] + c["increment"][:3] for c in commands]) if commands else np.zeros((0, 3))
  excess = np.maximum(targets - np.array(BOX.workspace_max_m), np.array(BOX.workspace_min_m) - targets).max()
  # The box is checked against the newest state the client has; a lost state packet makes that
  # one period old, so the server may see the target beyond the box by what moved meanwhile.
  assert excess <= 5e-4, f"target {excess * 1000:.3f} mm beyond the box under a lossy link"


def test_limits_come_from_each_robot_config():
  from experiments.configs.robots import iiwa, sawyer
  for module in (sawyer, iiwa):
    limits = safety.SafetyLimits.from_dict(module.get_config().limits.to_dict())
    assert limits.max_step_m == 0.02 and limits.deadline_s == 0.1
  with pytest.raises(ValueError, match="unknown safety limit"):
    safety.SafetyLimits.from_dict({"max_speed": 1.0})
