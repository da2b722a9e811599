"""Adapters and simulated servers by name: "sawyer", "iiwa_ros" (iiwa_stack topics), "iiwa_fri"."""

from __future__ import annotations

from jaxinsert.robots import faults as faults_lib, iiwa, sawyer, sim_server

KINDS = ("sawyer", "iiwa_ros", "iiwa_fri")
LOG_SPECS = {"sawyer": "sawyer-log", "iiwa_ros": "iiwa-log", "iiwa_fri": "iiwa-log"}


def serve(kind: str, robot=None, task: str = "lotj/dt12@robot0", faults=faults_lib.Faults(),
          max_seconds: float = 60.0, **options):
  """A started simulated server of `kind` (stop it: `server.stop()` or a `with` block)."""
  if kind == "sawyer":
    server = sim_server.TopicRobotServer(sawyer.SawyerProfile(), task, faults, robot=robot,
                                         max_seconds=max_seconds, **options)
  elif kind == "iiwa_ros":
    server = sim_server.TopicRobotServer(iiwa.IiwaRosProfile(), task, faults, robot=robot,
                                         max_seconds=max_seconds, **options)
  elif kind == "iiwa_fri":
    options.setdefault("cycles_per_step", 10)
    server = sim_server.FriRobotServer(task, faults, robot=robot, max_seconds=max_seconds, **options)
  else:
    raise ValueError(f"robot kind {kind!r}; expected one of {KINDS}")
  return server.start()


def connect(kind: str, address, control_period_s: float = 0.1):
  """The adapter of `kind` talking to the robot (or simulated server) at `address`."""
  if kind == "sawyer":
    return sawyer.SawyerRobot(address, control_period_s)
  if kind == "iiwa_ros":
    return iiwa.IiwaRosRobot(address, control_period_s)
  if kind == "iiwa_fri":
    return iiwa.IiwaFriRobot(address, control_period_s)
  raise ValueError(f"robot kind {kind!r}; expected one of {KINDS}")
