"""Simulated robot servers on loopback: the insertion simulator behind the robots' own protocols.

`TopicRobotServer(SawyerProfile())` speaks intera's topics, `TopicRobotServer(IiwaRosProfile())`
iiwa_stack's, `FriRobotServer` the FRI-style fixed-rate exchange; all over UDP on 127.0.0.1 with
an ephemeral port (`server.address`). Faults (`faults.Faults`) are injected on the way out.

Pace. Topic servers run lock-step by default: the simulated clock stands still after a state is
published until the command answering it arrives (at most `lockstep_wait_s` of wall time, 2 s;
without one the robot holds for that period), so a loaded CPU cannot change an episode.
`realtime=True` ticks every policy period of wall time instead (the benchmark's 10 Hz loop),
and a command older than `command_timeout_s` (intera's joint command timeout, 0.2 s) is not
used: the robot holds. The FRI server always runs on its own clock: one packet every
`cycle_s`, physics advancing one policy period every `cycles_per_step` cycles (20 x 5 ms is real
time; fewer runs the robot's clock faster than the wall clock, for tests).

Bounds. Every server thread stops on `stop()`, after `max_seconds` of wall time, or after
`max_steps` physics steps, whichever comes first; use it as a context manager.
Records: `robot.records` (what the robot measured and applied, per step) and `commands` (every
joint target received, with the TCP position measured when it arrived).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Dict, List, Optional

import numpy as np

from jaxinsert.robots import faults as faults_lib
from jaxinsert.robots.iiwa import (COMMANDING_ACTIVE, COMMANDING_WAIT, MONITORING_READY, FriPackets,
                                   FriState)
from jaxinsert.robots.sim_robot import Measurement, SimulatedInsertionRobot
from jaxinsert.robots.topic_robot import SIM_RESET_TOPIC, SIM_STATUS_TOPIC, TopicProfile
from jaxinsert.robots.transport import UdpTopicTransport


class _ServerBase:
  def __init__(self, robot: Optional[SimulatedInsertionRobot], task: str, faults: faults_lib.Faults,
               max_seconds: float, max_steps: int):
    self.robot = robot or SimulatedInsertionRobot(task)
    self.faults = faults
    self.max_seconds = max_seconds
    self.max_steps = max_steps
    self.commands: List[Dict[str, Any]] = []
    self.missed_deadlines = 0
    self.missed_at: List[tuple] = []    # (episode, step) of every period without a command
    self.steps = 0
    self.disconnected = False
    self._frozen: Optional[Measurement] = None
    self._stop = threading.Event()
    self._thread: Optional[threading.Thread] = None
    self.started_s = 0.0
    self.error: Optional[BaseException] = None

  def start(self):
    if self._thread is not None:
      return self   # started already (connect.serve starts; `with` must not start twice)
    self.started_s = time.monotonic()
    self._thread = threading.Thread(target=self._guarded, name=type(self).__name__, daemon=True)
    self._thread.start()
    return self

  def _guarded(self):
    try:
      self._run()
    except BaseException as error:  # surfaced by stop(); a test must see a crashed server
      self.error = error

  def _running(self) -> bool:
    return (not self._stop.is_set() and time.monotonic() - self.started_s < self.max_seconds
            and self.steps < self.max_steps)

  def stop(self) -> None:
    self._stop.set()
    if self._thread is not None:
      self._thread.join(timeout=5.0)
    self._close()
    if self.error is not None:
      raise RuntimeError(f"{type(self).__name__} crashed: {self.error!r}") from self.error

  def _close(self) -> None:
    pass

  def __enter__(self):
    return self.start()

  def __exit__(self, *exc):
    self.stop()
    return False

  def observed(self, m: Measurement) -> Measurement:
    """What the (possibly faulty) sensors report for the true measurement `m`."""
    f = self.faults
    if f.stuck_sensor_from_step >= 0 and m.step >= f.stuck_sensor_from_step and not m.done:
      if self._frozen is None or self._frozen.step > m.step:
        self._frozen = m
      m = self._frozen.replace(stamp_s=m.stamp_s, step=m.step)
    if f.nan_state_at_step >= 0 and m.step >= f.nan_state_at_step:
      m = m.replace(wrench_at_tcp=np.full(6, np.nan))
    return m

  def _check_disconnect(self) -> None:
    at = self.faults.disconnect_at_step
    if at >= 0 and self.robot.current is not None and self.robot.current.step >= at:
      self.disconnected = True

  def _step(self, target: Optional[np.ndarray]) -> None:
    self.robot.step(target)
    self.steps += 1
    self._check_disconnect()

  def _log_command(self, target: np.ndarray, source: str) -> None:
    current = self.robot.current
    reference = self.robot._last_target
    self.commands.append({"received_s": time.monotonic(), "target": np.asarray(target, np.float64),
                          "increment": None if reference is None else np.asarray(target) - reference,
                          "tcp_position_m": None if current is None else current.tcp_position_m.copy(),
                          "step": None if current is None else current.step,
                          "episode": self.robot.episode, "source": source})


class TopicRobotServer(_ServerBase):
  """The simulated robot behind a `TopicProfile` (Sawyer/intera or iiwa_stack topics)."""

  def transport_codec(self):
    from jaxinsert.robots.messages import Codec
    return Codec(self.profile.generation)

  def __init__(self, profile: TopicProfile, task: str = "lotj/dt12@robot0",
               faults: faults_lib.Faults = faults_lib.Faults(), command_timeout_s: float = 0.2,
               realtime: bool = False, max_seconds: float = 60.0, max_steps: int = 100_000,
               robot: Optional[SimulatedInsertionRobot] = None, lockstep_wait_s: float = 2.0):
    super().__init__(robot, task, faults, max_seconds, max_steps)
    self.lockstep_wait_s = lockstep_wait_s
    self.republish_s = 0.05      # the state is sent again every 50 ms while no command came
    self.profile = profile
    self.command_timeout_s = command_timeout_s
    profile.warm_up(self.transport_codec())
    self.realtime = realtime
    self.link: Optional[faults_lib.FaultyLink] = None
    self.transport = UdpTopicTransport(profile.generation)
    self.link = faults_lib.FaultyLink(faults, self.transport.send_raw)
    self.transport._send_filter = self.link
    self.address = self.transport.address
    self._commands: List[tuple] = []
    self._resets: List[int] = []
    self._wake = threading.Condition()
    self._seq = 0
    self._has_episode = False
    topic, msgtype = profile.command_topic
    self.transport.subscribe(topic, msgtype, self._on_command)
    self.transport.subscribe(SIM_RESET_TOPIC, "std_msgs/msg/Int32", self._on_reset)
    self.transport.subscribe("/robot/limb/right/joint_command_timeout", "std_msgs/msg/Float64",
                             self._on_timeout)
    self.impedance: Optional[Any] = None
    self.transport.subscribe("/robot/limb/right/interaction_control_command",
                             "intera_core_msgs/msg/InteractionControlCommand",
                             lambda message: setattr(self, "impedance", message))

  def _on_command(self, message) -> None:
    target = self.profile.decode_command(message)
    if target is None:
      return
    with self._wake:
      self._commands.append((time.monotonic(), target))
      self._wake.notify_all()

  def _on_reset(self, message) -> None:
    with self._wake:
      self._resets.append(int(message.data))
      self._wake.notify_all()

  def _on_timeout(self, message) -> None:
    self.command_timeout_s = float(message.data)

  def publish(self) -> None:
    m = self.robot.current
    if m is None or self.disconnected or not self._has_episode:
      return  # a shared robot's last state belongs to an earlier server's client
    self._seq += 1
    codec = self.transport.codec
    status = codec.types["std_msgs/msg/Float64MultiArray"](
        layout=codec.types["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0),
        data=np.array([m.stamp_s, m.step, m.success, m.done], np.float64))
    self.transport.publish(SIM_STATUS_TOPIC, "std_msgs/msg/Float64MultiArray", status)
    for topic, msgtype, message in self.profile.encode_state(codec, self.observed(m), self._seq):
      self.transport.publish(topic, msgtype, message)

  def _take_command(self, since: float) -> Optional[np.ndarray]:
    """The newest command received after `since` (host time), dropping older ones."""
    fresh = [target for received, target in self._commands if received > since]
    self._commands.clear()
    return fresh[-1] if fresh else None

  def _run(self) -> None:
    period = self.robot.period_s
    published_at = time.monotonic()
    next_tick = published_at + period
    while self._running():
      with self._wake:
        if self._resets:
          seed = self._resets[-1]
          self._resets.clear()
          self._commands.clear()
          self.robot.reset(seed)
          self._frozen = None
          self.disconnected = False
          self._has_episode = True
          reset_now = True
        else:
          reset_now = False
      if reset_now:
        published_at = time.monotonic()
        self.publish()
        next_tick = published_at + period
        continue
      if self.robot.done or self.robot.current is None or self.disconnected:
        with self._wake:
          self._wake.wait(timeout=period)
        self.publish()  # a repeat: the final state and status survive a lost datagram
        continue
      if self.realtime:
        with self._wake:
          while time.monotonic() < next_tick and not self._resets and not self._stop.is_set():
            self._wake.wait(timeout=max(next_tick - time.monotonic(), 0.0))
          if self._resets:
            continue
          received = [(r, t) for r, t in self._commands if r > published_at - period]
          target = received[-1][1] if received and time.monotonic() - received[-1][0] <= self.command_timeout_s else None
          self._commands.clear()
        next_tick = max(next_tick + period, time.monotonic())  # late: skip, never burst
      else:
        deadline = published_at + self.lockstep_wait_s
        republish_at = published_at + self.republish_s
        with self._wake:
          while (not any(r > published_at for r, _ in self._commands) and not self._resets
                 and time.monotonic() < deadline and not self._stop.is_set()):
            if time.monotonic() >= republish_at:  # as a robot streams its state: a lost copy recovers
              self.publish()
              republish_at += self.republish_s
            self._wake.wait(timeout=max(min(deadline, republish_at) - time.monotonic(), 0.0))
          if self._resets:
            continue
          target = self._take_command(published_at)
      if target is None:
        self.missed_deadlines += 1
        self.missed_at.append((self.robot.episode, self.robot.step_index))
      else:
        self._log_command(target, "topic")
      self._step(target)
      published_at = time.monotonic()
      self.publish()

  def _close(self) -> None:
    self.link.close()
    self.transport.close()


class FriRobotServer(_ServerBase):
  """The simulated robot behind the FRI-style exchange (see iiwa.py and the module docstring)."""

  def __init__(self, task: str = "lotj/dt12@robot0", faults: faults_lib.Faults = faults_lib.Faults(),
               cycle_s: float = 0.005, cycles_per_step: int = 20, max_missed_cycles: int = 20,
               max_seconds: float = 60.0, max_steps: int = 100_000,
               robot: Optional[SimulatedInsertionRobot] = None):
    super().__init__(robot, task, faults, max_seconds, max_steps)
    self.cycle_s = cycle_s
    self.cycles_per_step = cycles_per_step
    self.max_missed_cycles = max_missed_cycles
    self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    self.socket.bind(("127.0.0.1", 0))
    self.address = self.socket.getsockname()
    self.link = faults_lib.FaultyLink(faults, self._send_raw)
    self.client: Optional[tuple] = None
    self.session = MONITORING_READY
    self.cycles = 0
    self.on_time = 0
    self.cycle_times: List[float] = []
    self._resetting = False

  def _send_raw(self, data: bytes, address) -> None:
    try:
      self.socket.sendto(data, address)
    except OSError:
      pass

  def _packet(self, seq: int, cycles_since_step: int) -> bytes:
    m = self.observed(self.robot.current)
    target = self.robot._last_target
    now = m.stamp_s + cycles_since_step * self.robot.period_s / self.cycles_per_step
    return FriPackets.pack_state(FriState(
        seq=seq, sample=m.step, episode=self.robot.episode, sample_time_s=m.stamp_s, send_time_s=now,
        session_state=self.session, success=m.success, done=m.done,
        joint_position_rad=m.joint_position_rad, commanded_joint_position_rad=target,
        joint_velocity_rad_per_s=m.joint_velocity_rad_per_s, external_torque_nm=m.joint_torque_nm,
        tcp_position_m=m.tcp_position_m, tcp_quaternion_xyzw=m.tcp_quaternion_xyzw, tcp_twist=m.tcp_twist,
        wrench_at_tcp=m.wrench_at_tcp))

  def _run(self) -> None:
    # Wait for the client's hello, then reset to a first episode so there is a state to send.
    while self._running() and self.client is None:
      self.socket.settimeout(0.05)
      try:
        _, self.client = self.socket.recvfrom(4096)
      except socket.timeout:
        continue
    if self.client is None:
      return
    self.robot.reset(0)
    seq, missed_in_a_row, cycles_since_step = 0, 0, 0
    target: Optional[np.ndarray] = None
    next_cycle = time.monotonic()
    while self._running():
      seq += 1
      self.cycles += 1
      self.cycle_times.append(time.monotonic())
      if not self.disconnected:
        self.link(self._packet(seq, cycles_since_step), self.client)
      deadline = next_cycle + self.cycle_s
      answered = False
      while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
          break
        self.socket.settimeout(remaining)
        try:
          data, _ = self.socket.recvfrom(4096)
        except (socket.timeout, BlockingIOError):
          break
        except OSError:
          return
        command = FriPackets.unpack_command(data)
        if command is None or self.disconnected:
          continue
        answered_seq, flags, seed, joint_target = command
        if answered_seq != seq:
          continue  # late: an answer to an earlier cycle does not count
        answered = True
        if flags & FriPackets.FLAG_RESET:
          if not self._resetting:  # the client repeats the flag until it sees the new episode
            self.robot.reset(seed)
            self._frozen = None
            self.disconnected = False
            self.session, target, cycles_since_step = COMMANDING_WAIT, None, 0
            self._resetting = True
          continue
        self._resetting = False
        if flags & FriPackets.FLAG_COMMAND and self.session in (COMMANDING_WAIT, COMMANDING_ACTIVE):
          if self.session == COMMANDING_WAIT:
            self.session, cycles_since_step = COMMANDING_ACTIVE, 0
          if target is None or not np.array_equal(target, joint_target):
            self._log_command(joint_target, "fri")
          target = joint_target
      if answered:
        self.on_time += 1
        missed_in_a_row = 0
      else:
        self.missed_deadlines += 1
        missed_in_a_row += 1
        if missed_in_a_row >= self.max_missed_cycles and self.session == COMMANDING_ACTIVE:
          self.session = MONITORING_READY   # FRI drops out of commanding: the robot holds
      if self.session == COMMANDING_ACTIVE and not self.robot.done and not self.disconnected:
        cycles_since_step += 1
        if cycles_since_step >= self.cycles_per_step:
          self._step(target)
          cycles_since_step = 0
      next_cycle = deadline
      lag = time.monotonic() - next_cycle
      if lag > self.cycle_s:  # far behind (a loaded CPU): skip, do not burst to catch up
        next_cycle = time.monotonic()

  def _close(self) -> None:
    self.link.close()
    self.socket.close()
