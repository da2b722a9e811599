"""Converter for robot logs in ROS 1 (.bag) and ROS 2 (sqlite3 or MCAP directory) bags, read with
the pure-Python `rosbags` library (no ROS install). The spec's `topics` section says which topic
fills which feature and how it is resampled onto the control clock (converters/resample.py);
its `clock` section says how episodes are cut (an episode-number topic, else gaps between
commands) and how old a held value may get. Input: one bag, or a directory of bags.
"""

from __future__ import annotations

import dataclasses
import io
import pathlib
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from jaxinsert.data.converters import resample
from jaxinsert.data.converters.common import ConvertOptions, finish_episode, rlds_steps
from jaxinsert.data.errors import DataError, Location
from jaxinsert.data.specs import DatasetSpec

DEFAULT_SPEC = None
NEEDS_SPEC = True  # the spec's topics section is the mapping from topics to features
ROLES = ("observation", "action", "reward", "terminal", "episode")


@dataclasses.dataclass(frozen=True)
class Entry:
  key: str
  topic: str
  msgtype: str
  role: str
  resample: str
  fields: Dict[str, List[str]]
  names: Optional[List[str]]
  time: str  # "header": the message's own stamp, "log": when the recorder received it
  optional: bool
  resize: bool


def _normalise_type(msgtype: str) -> str:
  return msgtype.replace("/msg/", "/")


def parse_entries(spec: DatasetSpec) -> List[Entry]:
  """The topics section, checked: known roles and modes, one action entry, every feature filled once."""
  where = Location(file=spec.source)
  default_time = spec.raw.get("clock", {}).get("time", "header")
  entries = []
  filled: Dict[str, str] = {}
  for key, raw in spec.topics.items():
    role = raw.get("role")
    if role not in ROLES:
      raise DataError(f"role {role!r} not in {ROLES}", where, field=f"topics/{key}")
    mode = raw.get("resample", {"action": "command", "reward": "sum", "terminal": "any"}.get(role, "latest"))
    if mode not in resample.RESAMPLE_MODES:
      raise DataError(f"resample {mode!r} not in {resample.RESAMPLE_MODES}", where, field=f"topics/{key}")
    fields = {name: [paths] if isinstance(paths, str) else list(paths) for name, paths in raw.get("fields", {}).items()}
    if not fields:
      raise DataError("entry maps no fields", where, field=f"topics/{key}")
    if role == "observation":
      for name in fields:
        if name not in spec.observation:
          raise DataError(f"fills '{name}', which is not an observation feature of the spec", where,
                          field=f"topics/{key}")
        if name in filled:
          raise DataError(f"'{name}' is filled by both {filled[name]} and {key}", where, field=f"topics/{key}")
        filled[name] = key
    entries.append(Entry(key=key, topic=raw.get("topic", key), msgtype=raw["type"], role=role, resample=mode,
                         fields=fields, names=raw.get("names"), time=raw.get("time", default_time),
                         optional=bool(raw.get("optional", False)), resize=bool(raw.get("resize", False))))
  unfilled = [name for name in spec.observation if name not in filled]
  if unfilled:
    raise DataError(f"no topic fills observation '{unfilled[0]}'", where, field=f"observation/{unfilled[0]}")
  for role in ("action", "reward", "terminal", "episode"):
    count = sum(entry.role == role for entry in entries)
    if count > 1 or (role == "action" and count != 1):
      raise DataError(f"the topics section needs {'exactly' if role == 'action' else 'at most'} one {role} entry",
                      where, field="topics")
  return entries


def bag_inputs(path: pathlib.Path) -> List[pathlib.Path]:
  """A .bag file, a ROS 2 bag directory, or a directory of those (sorted by name)."""
  if path.is_file():
    return [path]
  if (path / "metadata.yaml").exists():
    return [path]
  found = sorted(p for p in path.iterdir() if p.suffix == ".bag" or (p / "metadata.yaml").exists())
  if not found:
    raise DataError("no ROS bags here (.bag files or directories with metadata.yaml)", file=str(path))
  return found


def _decode_image(message: Any, shape: Tuple[int, ...], resize: bool, where: Location) -> np.ndarray:
  from PIL import Image

  height, width, channels = shape
  mode = "RGB" if channels == 3 else ("RGBA" if channels == 4 else "L")
  try:
    if hasattr(message, "encoding"):  # sensor_msgs/Image: raw pixels, rows `step` bytes apart
      encoding = message.encoding.lower()
      depth = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}.get(encoding)
      if depth is None:
        raise DataError(f"unsupported raw image encoding {message.encoding!r}", where)
      rows = np.asarray(message.data, np.uint8).reshape(message.height, message.step)
      pixels = rows[:, :message.width * depth].reshape(message.height, message.width, depth)
      if encoding.startswith("bgr"):
        pixels = pixels[..., [2, 1, 0] + ([3] if depth == 4 else [])]
      image = Image.fromarray(pixels[..., 0] if depth == 1 else pixels)
    else:  # sensor_msgs/CompressedImage: JPEG or PNG bytes
      image = Image.open(io.BytesIO(np.asarray(message.data, np.uint8).tobytes()))
      image.load()
  except (ValueError, OSError) as error:
    raise DataError(f"image does not decode: {error}", where) from None
  image = image.convert(mode)
  if image.size != (width, height):
    if not resize:
      raise DataError(f"image is {image.size[1]}x{image.size[0]}, spec wants {height}x{width} (set \"resize\": true)",
                      where)
    image = image.resize((width, height), Image.BILINEAR)
  return np.asarray(image, np.uint8).reshape(shape)


def _extract(entry: Entry, message: Any, spec: DatasetSpec, where: Location) -> Dict[str, np.ndarray]:
  out = {}
  for name, paths in entry.fields.items():
    feature = spec.observation.get(name) if entry.role == "observation" else None
    if paths == ["@image"]:
      if feature is None or not feature.is_image:
        raise DataError(f"'@image' needs an image feature, '{name}' is not one", where)
      out[name] = _decode_image(message, tuple(feature.shape), entry.resize, where)
      continue
    parts = []
    for path in paths:
      value = message
      for attribute in path.split("."):
        if not hasattr(value, attribute):
          raise DataError(f"message {entry.msgtype} has no field '{path}'", where)
        value = getattr(value, attribute)
      array = np.asarray(value, np.float64).reshape(-1)
      if entry.names is not None and hasattr(message, "name") and array.size == len(message.name):
        missing = [joint for joint in entry.names if joint not in message.name]
        if missing:
          raise DataError(f"joint '{missing[0]}' not in the message's names {list(message.name)}", where)
        array = array[[list(message.name).index(joint) for joint in entry.names]]
      parts.append(array)
    vector = np.concatenate(parts)
    expected = feature.size if feature is not None else (spec.action.size if entry.role == "action" else 1)
    if vector.size != expected:
      raise DataError(f"{paths} give {vector.size} values, feature '{name}' needs {expected}", where)
    out[name] = vector
  return out


def _stamp(message: Any) -> Optional[int]:
  header = getattr(message, "header", None)
  stamp = getattr(header, "stamp", None)
  if stamp is None:
    return None
  return int(stamp.sec) * resample.NANOSECONDS + int(stamp.nanosec)


def read_streams(bag: pathlib.Path, entries: List[Entry], spec: DatasetSpec, allow_duplicates: bool = False,
                 duplicates: Optional[Dict[str, int]] = None
                 ) -> Tuple[Dict[str, resample.Stream], List[Tuple[int, DataError]]]:
  """Every entry's messages as a Stream, plus per-message problems keyed by log time (raised once
  the episodes are known, so the error can say which episode and step they fall in). Two
  messages of one entry with the same stamp are a problem unless `allow_duplicates` (then the
  later one is kept); `duplicates` counts them per entry."""
  duplicates = {} if duplicates is None else duplicates
  from rosbags.highlevel import AnyReader
  from rosbags.typesys import Stores, get_typestore

  file = str(bag)
  problems: List[Tuple[int, DataError]] = []
  try:
    reader = AnyReader([bag], default_typestore=get_typestore(Stores.LATEST))
    reader.open()
  except Exception as error:  # rosbags raises its own error types for damaged bags
    raise DataError(f"cannot open bag (truncated or corrupt?): {error}", file=file) from None
  try:
    available = {connection.topic: connection.msgtype for connection in reader.connections}
    by_topic: Dict[str, List[Entry]] = {}
    for entry in entries:
      if entry.topic not in available:
        if entry.optional:
          continue
        raise DataError(f"required topic is missing from the bag (it has {sorted(available)})", file=file,
                        field=entry.topic)
      if _normalise_type(available[entry.topic]) != _normalise_type(entry.msgtype):
        raise DataError(f"topic has type {available[entry.topic]}, the spec expects {entry.msgtype}", file=file,
                        field=entry.topic)
      by_topic.setdefault(entry.topic, []).append(entry)
    times: Dict[str, List[int]] = {entry.key: [] for entries_ in by_topic.values() for entry in entries_}
    values: Dict[str, Dict[str, List[np.ndarray]]] = {key: {} for key in times}
    connections = [c for c in reader.connections if c.topic in by_topic]
    counts: Dict[str, int] = {}
    for connection, log_time, raw in reader.messages(connections=connections):
      index = counts.get(connection.topic, 0)
      counts[connection.topic] = index + 1
      where = Location(file=file, field=connection.topic)
      try:
        message = reader.deserialize(raw, connection.msgtype)
      except Exception as error:
        problems.append((log_time, DataError(f"message {index} does not deserialize: {error}", where)))
        continue
      for entry in by_topic[connection.topic]:
        try:
          extracted = _extract(entry, message, spec, where)
        except DataError as error:
          problems.append((log_time, DataError(f"message {index}: {error.detail}", where)))
          continue
        stamp = _stamp(message) if entry.time == "header" else None
        stamp = log_time if stamp is None else stamp
        if stamp < 0:
          problems.append((log_time, DataError(f"negative timestamp {stamp} ns at message {index}", where)))
        if times[entry.key] and stamp < times[entry.key][-1]:
          problems.append((log_time, DataError(
              f"timestamps go backwards at message {index}: {stamp} ns after {times[entry.key][-1]} ns", where)))
        if times[entry.key] and stamp == times[entry.key][-1]:
          duplicates[entry.key] = duplicates.get(entry.key, 0) + 1
          if not allow_duplicates:
            problems.append((log_time, DataError(
                f"message {index} has the same stamp ({stamp} ns) as the one before it; which one holds "
                "is ambiguous (pass --allow_duplicate_stamps to keep the later one)", where)))
            continue
          times[entry.key].pop()  # the later message replaces the earlier one, counted in the report
          for name in extracted:
            values[entry.key][name].pop()
        times[entry.key].append(stamp)
        for name, value in extracted.items():
          values[entry.key].setdefault(name, []).append(value)
  except DataError:
    raise
  except Exception as error:
    raise DataError(f"bag cannot be read to the end (truncated or corrupt?): {error}", file=file) from None
  finally:
    reader.close()
  streams = {}
  for entries_ in by_topic.values():
    for entry in entries_:
      stacked = {name: np.stack(items) for name, items in values[entry.key].items()}
      if not times[entry.key] and not entry.optional:
        raise DataError("topic has no messages", file=file, field=entry.topic)
      streams[entry.key] = resample.Stream(name=entry.key, topic=entry.topic, role=entry.role,
                                           resample=entry.resample, times=np.asarray(times[entry.key], np.int64),
                                           values=stacked)
  return streams, problems


def _spans(streams: Dict[str, resample.Stream], gap_ns: int) -> List[Tuple[int, int]]:
  action = next(stream for stream in streams.values() if stream.role == "action")
  marker = next((stream for stream in streams.values() if stream.role == "episode"), None)
  ordered = np.maximum.accumulate(action.times)
  if marker is not None and marker.times.size:
    return resample.spans_from_markers(marker.times, next(iter(marker.values.values())).reshape(-1), ordered)
  return resample.spans_from_gaps(ordered, gap_ns)


def episodes(path: Any, spec: DatasetSpec, options: ConvertOptions,
             report: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
  entries = parse_entries(spec)
  clock_config = spec.raw.get("clock", {})
  rate = options.rate_hz if options.rate_hz is not None else spec.control_rate_hz
  if rate is None:
    raise DataError("no control rate: set control_rate_hz in the spec or pass --rate_hz", file=spec.source,
                    field="control_rate_hz")
  gap_s = options.episode_gap_s if options.episode_gap_s is not None else clock_config.get("episode_gap_s", 1.0)
  for name, value in (("rate_hz", rate), ("episode_gap_s", gap_s)):
    if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
      raise DataError(f"{name}={value!r}: allowed values are numbers > 0", file=spec.source, field=name)
  period_ns = int(round(resample.NANOSECONDS / rate))
  gap_ns = int(gap_s * resample.NANOSECONDS)
  staleness_ns = int(clock_config.get("max_staleness_s", 0.5) * resample.NANOSECONDS)
  min_steps = int(clock_config.get("min_episode_steps", 2))
  report.update(rate_hz=rate, bags=[], skipped_short_spans=0)
  number = 0
  for bag in bag_inputs(pathlib.Path(path)):
    duplicates: Dict[str, int] = {}
    streams, problems = read_streams(bag, entries, spec, options.allow_duplicate_stamps, duplicates)
    if duplicates:
      report.setdefault("duplicate_stamps_replaced", {})[str(bag)] = duplicates
    spans = _spans(streams, gap_ns)
    report["bags"].append({"bag": str(bag), "topics": {s.topic: int(s.times.size) for s in streams.values()},
                           "spans": len(spans)})
    if problems:
      log_time, error = problems[0]
      episode, step = _locate(log_time, spans, period_ns)
      raise DataError(error.detail, error.location.replace(episode=None if episode is None else number + episode,
                                                           step=step))
    for span in spans:
      where = Location(file=str(bag), episode=number)
      clock = resample.step_times(span, list(streams.values()), period_ns, staleness_ns)
      if clock.size < min_steps:
        report["skipped_short_spans"] += 1
        continue
      yield finish_episode(spec, _episode(streams, clock, period_ns, staleness_ns, where), where, options)
      number += 1


def _locate(log_time: int, spans: List[Tuple[int, int]], period_ns: int) -> Tuple[Optional[int], Optional[int]]:
  for episode, (start, end) in enumerate(spans):
    if start - period_ns <= log_time <= end + period_ns:
      return episode, max(int((log_time - start) // period_ns), 0)
  return None, None


def _episode(streams: Dict[str, resample.Stream], clock: np.ndarray, period_ns: int, staleness_ns: int,
             where: Location) -> Dict[str, Any]:
  terminal_stream = next((s for s in streams.values() if s.role == "terminal"), None)
  terminal = False
  if terminal_stream is not None and terminal_stream.times.size:
    hits = next(iter(resample.resample(terminal_stream, clock, period_ns, staleness_ns, where).values()))
    first = np.flatnonzero(hits.reshape(len(clock), -1).any(axis=1))
    if first.size:
      clock, terminal = clock[:first[0] + 2], True  # success during step k: step k + 1 is the terminal state
  observation: Dict[str, np.ndarray] = {}
  action = reward = None
  for stream in streams.values():
    if stream.role == "observation":
      observation.update(resample.resample(stream, clock, period_ns, staleness_ns, where))
    elif stream.role == "action":
      action = next(iter(resample.resample(stream, clock, period_ns, staleness_ns, where).values()))
    elif stream.role == "reward" and stream.times.size:
      reward = next(iter(resample.resample(stream, clock, period_ns, staleness_ns, where).values())).reshape(-1)
  rows = clock.size - 1  # the last clock tick is the final observation
  reward = np.zeros(rows, np.float32) if reward is None else reward[:rows].astype(np.float32)
  steps = rlds_steps({name: value[:rows] for name, value in observation.items()}, action[:rows].astype(np.float32),
                     reward, final_observation={name: value[-1] for name, value in observation.items()},
                     terminal=terminal)
  return {"steps": steps, "metadata": {"start_time_ns": int(clock[0])}}
