"""Puts asynchronous timestamped streams (robot topics) onto one control clock.

A stream is the messages of one topic entry of a spec: times in nanoseconds and, per feature, one
value per message. An episode is a time span; its steps sit at start + k * period. How a stream
becomes one value per step is the entry's `resample` mode, chosen so that step k holds what the
policy saw at t_k and what it did until t_{k+1}:

  latest   last message at or before t_k (zero-order hold; observations)
  mean     mean of the messages in (t_{k-1}, t_k], else latest (high-rate force/torque)
  command  last message before t_{k+1}: the command issued during step k (actions)
  sum      sum over (t_k, t_{k+1}] (reward earned by step k's action)
  any      true if any message in (t_k, t_{k+1}] is nonzero (success -> the next step is terminal)

A hold older than the staleness limit is an error: a topic that stopped is missing data, and
quietly repeating its last value would hide that.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Tuple

import numpy as np

from jaxinsert.data.errors import DataError, Location

RESAMPLE_MODES = ("latest", "mean", "command", "sum", "any")
NANOSECONDS = 1_000_000_000


@dataclasses.dataclass
class Stream:
  name: str  # the spec's entry key (usually the topic)
  topic: str
  role: str  # observation | action | reward | terminal | episode
  resample: str
  times: np.ndarray  # int64 ns, message order (checked non-decreasing before use)
  values: Dict[str, np.ndarray]  # feature -> [messages, ...]


def first_backwards_step(times: np.ndarray) -> int:
  """Index of the first message whose time is earlier than its predecessor's, or -1."""
  backwards = np.flatnonzero(np.diff(times) < 0)
  return int(backwards[0] + 1) if backwards.size else -1


def spans_from_gaps(times: np.ndarray, gap_ns: int) -> List[Tuple[int, int]]:
  """[first, last] time of each run of messages with no gap longer than `gap_ns`."""
  if times.size == 0:
    return []
  cuts = np.flatnonzero(np.diff(times) > gap_ns)
  starts = np.concatenate([[0], cuts + 1])
  ends = np.concatenate([cuts, [times.size - 1]])
  return [(int(times[s]), int(times[e])) for s, e in zip(starts, ends)]


def spans_from_markers(marker_times: np.ndarray, marker_values: np.ndarray,
                       action_times: np.ndarray) -> List[Tuple[int, int]]:
  """Episodes from an episode-number topic: a new value starts an episode; each ends at the last
  action before the next one starts."""
  if marker_times.size == 0:
    return []
  changes = np.flatnonzero(np.concatenate([[True], marker_values[1:] != marker_values[:-1]]))
  starts = marker_times[changes]
  spans = []
  for i, start in enumerate(starts):
    stop = starts[i + 1] if i + 1 < len(starts) else np.iinfo(np.int64).max
    inside = action_times[(action_times >= start) & (action_times < stop)]
    if inside.size:
      spans.append((int(max(start, inside[0])), int(inside[-1])))
  return spans


def step_times(span: Tuple[int, int], streams: List[Stream], period_ns: int, staleness_ns: int) -> np.ndarray:
  """Step clock of one span. It starts once every observation stream has a fresh message and
  runs one period past the last command, so the final step observes the last command's effect."""
  start, end = span
  for stream in streams:
    if stream.role == "observation" and stream.times.size:
      fresh = stream.times[stream.times >= start - staleness_ns]
      if fresh.size:
        start = max(start, int(fresh[0]))
  if start > end:
    return np.zeros(0, np.int64)
  count = (end - start) // period_ns + 2
  return start + period_ns * np.arange(count, dtype=np.int64)


def resample(stream: Stream, clock: np.ndarray, period_ns: int, staleness_ns: int,
             where: Location) -> Dict[str, np.ndarray]:
  """One value per step of `clock` for every feature of `stream` (see the module docstring)."""
  times = stream.times
  steps = clock.size
  mode = stream.resample
  next_clock = np.append(clock[1:], clock[-1] + period_ns)
  if mode in ("latest", "mean", "command"):
    reference = next_clock if mode == "command" else clock
    side = "left" if mode == "command" else "right"
    held = np.searchsorted(times, reference, side=side) - 1
    last_valid = steps - 1 if mode == "command" else steps  # the final step has no command
    for step in range(last_valid):
      if held[step] < 0:
        raise DataError(f"no {stream.role} message from {stream.topic} before this step", where,
                        step=step, field=stream.topic)
      age = clock[step] - times[held[step]]
      if age > staleness_ns:
        raise DataError(f"{stream.topic} is stale: last message {age / NANOSECONDS:.3f} s before the step "
                        f"(limit {staleness_ns / NANOSECONDS:.3f} s); did the topic stop?", where, step=step,
                        field=stream.topic)
    out = {}
    held = np.maximum(held, 0)
    for feature, values in stream.values.items():
      resampled = values[held].astype(values.dtype, copy=True)
      if mode == "mean" and values.dtype.kind == "f":
        lower = np.searchsorted(times, clock - period_ns, side="right")
        upper = np.searchsorted(times, clock, side="right")
        cumulative = np.concatenate([np.zeros((1,) + values.shape[1:]), np.cumsum(values, axis=0, dtype=np.float64)])
        counts = (upper - lower).reshape((-1,) + (1,) * (values.ndim - 1))
        window = (cumulative[upper] - cumulative[lower]) / np.maximum(counts, 1)
        resampled = np.where(counts > 0, window, resampled).astype(values.dtype)
      if mode == "command":
        resampled[-1] = 0
      out[feature] = resampled
    return out
  if mode in ("sum", "any"):
    lower = np.searchsorted(times, clock, side="right")
    upper = np.searchsorted(times, next_clock, side="right")
    out = {}
    for feature, values in stream.values.items():
      flat = values.reshape(len(values), -1).astype(np.float64)
      cumulative = np.concatenate([np.zeros((1, flat.shape[1])), np.cumsum(flat, axis=0)])
      total = cumulative[upper] - cumulative[lower]
      if mode == "any":
        hits = np.concatenate([np.zeros((1, flat.shape[1])), np.cumsum(flat != 0, axis=0)])
        total = (hits[upper] - hits[lower]) > 0
      total[-1] = 0
      out[feature] = total.reshape((steps,) + values.shape[1:])
    return out
  raise DataError(f"unknown resample mode {mode!r} (one of {RESAMPLE_MODES})", where, field=stream.name)
