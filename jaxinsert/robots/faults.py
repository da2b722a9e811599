"""Fault injection for the simulated robot server: what a real link and a real sensor do.

Link faults act on the server's outgoing datagrams (state packets): drops, late packets,
latency jitter. State faults act on what the server measures: NaN in the state, a stuck sensor
(values frozen while stamps advance), a disconnect mid-episode (the server falls silent).
Randomness comes from `seed`, so a faulty run is repeatable.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import threading
import time
from typing import Callable, List, Optional, Tuple

import numpy as np


@dataclasses.dataclass(frozen=True)
class Faults:
  drop_probability: float = 0.0         # each state datagram lost with this probability
  late_probability: float = 0.0         # each state datagram delayed by late_s with this probability
  late_s: float = 0.0
  jitter_s: float = 0.0                 # extra latency, uniform in [0, jitter_s]
  nan_state_at_step: int = -1           # the wrench reads NaN from this policy step (-1 = never)
  stuck_sensor_from_step: int = -1      # the state freezes from this step, stamps still advance
  disconnect_at_step: int = -1          # the server stops sending at this step
  seed: int = 0

  @property
  def delays_packets(self) -> bool:
    return self.late_probability > 0 or self.jitter_s > 0


class FaultyLink:
  """Sends datagrams through drops and delays (a timer thread, bounded by `close()`)."""

  def __init__(self, faults: Faults, send: Callable[[bytes, Tuple[str, int]], None]):
    self.faults = faults
    self._send = send
    self._rng = np.random.default_rng(faults.seed)
    self._queue: List[Tuple[float, int, bytes, Tuple[str, int]]] = []
    self._order = itertools.count()
    self._wake = threading.Condition()
    self._closed = False
    self.dropped = 0
    self.delayed = 0
    self._thread: Optional[threading.Thread] = None
    if faults.delays_packets:
      self._thread = threading.Thread(target=self._loop, name="faulty-link", daemon=True)
      self._thread.start()

  def __call__(self, datagram: bytes, address: Tuple[str, int]) -> None:
    faults = self.faults
    if faults.drop_probability and self._rng.random() < faults.drop_probability:
      self.dropped += 1
      return
    delay = 0.0
    if faults.late_probability and self._rng.random() < faults.late_probability:
      delay += faults.late_s
    if faults.jitter_s:
      delay += float(self._rng.uniform(0.0, faults.jitter_s))
    if delay <= 0.0 or self._thread is None:
      self._send(datagram, address)
      return
    self.delayed += 1
    with self._wake:
      heapq.heappush(self._queue, (time.monotonic() + delay, next(self._order), datagram, address))
      self._wake.notify()

  def _loop(self) -> None:
    while True:
      with self._wake:
        if self._closed:
          return
        if not self._queue:
          self._wake.wait(timeout=0.05)
          continue
        due = self._queue[0][0] - time.monotonic()
        if due > 0:
          self._wake.wait(timeout=min(due, 0.05))
          continue
        _, _, datagram, address = heapq.heappop(self._queue)
      self._send(datagram, address)

  def close(self) -> None:
    with self._wake:
      self._closed = True
      self._wake.notify()
    if self._thread is not None:
      self._thread.join(timeout=1.0)
