"""Builders for the small input files the data tests convert (h5py, numpy, rosbags writers).

Every test builds its own inputs here instead of downloading: D4RL/Minari/robomimic layouts with
h5py, rlkit paths with numpy, ROS 1 and ROS 2 bags with rosbags' writers. No tests in this file.
"""

from __future__ import annotations

import io
import json
import pathlib
from typing import Dict, List, Optional, Sequence, Tuple

import h5py
import numpy as np


def d4rl_arrays(ends: Sequence[Tuple[int, str]], obs_dim: int = 11, action_dim: int = 3, *, seed: int = 0,
                next_observations: bool = True, infos: bool = True) -> Dict[str, np.ndarray]:
  """A D4RL-layout dict: episodes of (length, "terminal" | "timeout" | "open") back to back.

  Observations drift smoothly within an episode and jump between episodes, like real rollouts.
  """
  rng = np.random.default_rng(seed)
  observations, next_obs, terminals, timeouts = [], [], [], []
  for length, end in ends:
    states = np.cumsum(rng.normal(size=(length + 1, obs_dim)), axis=0).astype(np.float32) + rng.normal(
        size=obs_dim).astype(np.float32) * 10
    observations.append(states[:-1])
    next_obs.append(states[1:])
    flags = np.zeros(length, bool)
    terminals.append(flags | (end == "terminal") & (np.arange(length) == length - 1))
    timeouts.append(flags | (end == "timeout") & (np.arange(length) == length - 1))
  rows = sum(length for length, _ in ends)
  data = {"observations": np.concatenate(observations),
          "actions": rng.uniform(-1, 1, (rows, action_dim)).astype(np.float32),
          "rewards": rng.normal(1.0, 0.5, rows).astype(np.float32),
          "terminals": np.concatenate(terminals), "timeouts": np.concatenate(timeouts)}
  if next_observations:
    data["next_observations"] = np.concatenate(next_obs)
  if infos:
    data["infos/qpos"] = rng.normal(size=(rows, obs_dim + 1)).astype(np.float32)
    data["infos/action_log_probs"] = rng.normal(size=rows).astype(np.float32)
    data["metadata/algorithm"] = np.bytes_(b"SAC")
  return data


def write_hdf5(path: pathlib.Path, data: Dict[str, np.ndarray]) -> pathlib.Path:
  with h5py.File(path, "w") as handle:
    for key, value in data.items():
      handle.create_dataset(key, data=value)
  return path


def _write_nested(group: h5py.Group, arrays: Dict) -> None:
  """Arrays as datasets, dicts of arrays as sub-groups."""
  for key, value in arrays.items():
    if isinstance(value, dict):
      _write_nested(group.create_group(key), value)
    else:
      group.create_dataset(key, data=value)


def write_minari(root: pathlib.Path, episodes: List[Dict[str, np.ndarray]]) -> pathlib.Path:
  """Minari's HDF5 layout: root/data/main_data.hdf5 (episode_<i> groups) + root/data/metadata.json."""
  data_dir = root / "data"
  data_dir.mkdir(parents=True)
  with h5py.File(data_dir / "main_data.hdf5", "w") as handle:
    for index, episode in enumerate(episodes):
      group = handle.create_group(f"episode_{index}")
      group.attrs["id"] = index
      group.attrs["total_steps"] = len(episode["actions"])
      group.attrs["seed"] = 100 + index
      _write_nested(group, episode)
  (data_dir / "metadata.json").write_text(json.dumps(
      {"dataset_id": "test/pointmass/simple-v0", "total_episodes": len(episodes),
       "total_steps": int(sum(len(e["actions"]) for e in episodes)), "minari_version": "0.5.4"}))
  return root


def minari_episode(length: int, rng: np.random.Generator, *, terminated: bool, dict_obs: bool = False
                   ) -> Dict[str, np.ndarray]:
  observation = rng.normal(size=(length + 1, 4)).astype(np.float32)
  episode = {"observations": observation, "actions": rng.uniform(-1, 1, (length, 2)).astype(np.float32),
             "rewards": rng.normal(size=length), "terminations": np.arange(length) == length - 1 if terminated
             else np.zeros(length, bool), "truncations": np.zeros(length, bool) if terminated
             else np.arange(length) == length - 1, "infos": {"success": np.zeros(length + 1, bool)}}
  if dict_obs:
    episode["observations"] = {"observation": observation, "desired_goal": observation[:, :2] + 1.0}
  return episode


def write_robomimic(path: pathlib.Path, demos: List[Dict[str, np.ndarray]], filter_key: Optional[str] = None
                    ) -> pathlib.Path:
  with h5py.File(path, "w") as handle:
    data = handle.create_group("data")
    data.attrs["total"] = int(sum(len(d["actions"]) for d in demos))
    data.attrs["env_args"] = json.dumps({"env_name": "Lift", "type": 1, "env_kwargs": {}})
    for index, demo in enumerate(demos):
      group = data.create_group(f"demo_{index}")
      group.attrs["num_samples"] = len(demo["actions"])
      _write_nested(group, demo)
    if filter_key:
      handle.create_dataset(f"mask/{filter_key}", data=np.array([b"demo_0"]))
  return path


def robomimic_demo(length: int, rng: np.random.Generator, image: bool = True) -> Dict[str, np.ndarray]:
  states = rng.normal(size=(length + 1, 3)).astype(np.float32)
  obs = {"robot0_eef_pos": states[:-1]}
  next_obs = {"robot0_eef_pos": states[1:]}
  if image:
    frames = rng.integers(0, 255, (length + 1, 8, 8, 3), dtype=np.uint8)
    obs["agentview_image"], next_obs["agentview_image"] = frames[:-1], frames[1:]
  return {"obs": obs, "next_obs": next_obs, "actions": rng.uniform(-1, 1, (length, 7)).astype(np.float32),
          "rewards": (np.arange(length) == length - 1).astype(np.float64),
          "dones": (np.arange(length) == length - 1).astype(np.int64)}


# ------------------------------------------------------------------------------------- ROS bags
ENDPOINT_STATE = """std_msgs/Header header
geometry_msgs/Pose pose
geometry_msgs/Twist twist
geometry_msgs/Wrench wrench
bool valid
"""
SAWYER_JOINTS = ["head_pan", "right_j0", "right_j1", "right_j2", "right_j3", "right_j4", "right_j5", "right_j6"]


def _time(typestore, nanoseconds: int):
  Time = typestore.types["builtin_interfaces/msg/Time"]
  return Time(sec=int(nanoseconds // 1_000_000_000), nanosec=int(nanoseconds % 1_000_000_000))


def _header(typestore, nanoseconds: int, frame: str = "base"):
  fields = {"stamp": _time(typestore, nanoseconds), "frame_id": frame}
  if any(name == "seq" for name, _ in typestore.fielddefs["std_msgs/msg/Header"][1]):
    fields["seq"] = 0  # ROS 1 headers carry a sequence number
  return typestore.types["std_msgs/msg/Header"](**fields)


def _vector3(typestore, values):
  return typestore.types["geometry_msgs/msg/Vector3"](x=float(values[0]), y=float(values[1]), z=float(values[2]))


class BagWriter:
  """Writes a ROS 1 .bag or a ROS 2 bag (sqlite3 or mcap) with the message kinds the specs use."""

  def __init__(self, path: pathlib.Path, kind: str = "ros1"):
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    self.kind = kind
    self.typestore = get_typestore(Stores.ROS1_NOETIC if kind == "ros1" else Stores.ROS2_HUMBLE)
    self.typestore.register(get_types_from_msg(ENDPOINT_STATE, "intera_core_msgs/msg/EndpointState"))
    if kind == "ros1":
      from rosbags.rosbag1 import Writer
      self.writer = Writer(path)
    else:
      from rosbags.rosbag2 import StoragePlugin, Writer
      plugin = StoragePlugin.MCAP if kind == "mcap" else StoragePlugin.SQLITE3
      self.writer = Writer(path, version=9, storage_plugin=plugin)
    self.writer.open()
    self.connections = {}

  def _write(self, topic: str, msgtype: str, message, log_ns: int) -> None:
    if topic not in self.connections:
      self.connections[topic] = self.writer.add_connection(topic, msgtype, typestore=self.typestore)
    serialize = self.typestore.serialize_ros1 if self.kind == "ros1" else self.typestore.serialize_cdr
    self.writer.write(self.connections[topic], log_ns, serialize(message, msgtype))

  def _pose(self, pose7):
    """geometry_msgs/Pose from [x, y, z, qx, qy, qz, qw]."""
    types = self.typestore.types
    return types["geometry_msgs/msg/Pose"](
        position=types["geometry_msgs/msg/Point"](x=float(pose7[0]), y=float(pose7[1]), z=float(pose7[2])),
        orientation=types["geometry_msgs/msg/Quaternion"](x=float(pose7[3]), y=float(pose7[4]), z=float(pose7[5]),
                                                          w=float(pose7[6])))

  def joint_state(self, topic: str, names: List[str], position, stamp_ns: int, log_ns: Optional[int] = None):
    JointState = self.typestore.types["sensor_msgs/msg/JointState"]
    position = np.asarray(position, np.float64)
    message = JointState(header=_header(self.typestore, stamp_ns), name=list(names), position=position,
                         velocity=position * 0.1, effort=position * 2.0)
    self._write(topic, "sensor_msgs/msg/JointState", message, log_ns or stamp_ns)

  def endpoint_state(self, topic: str, pose7, twist6, wrench6, stamp_ns: int):
    types = self.typestore.types
    pose = self._pose(pose7)
    twist = types["geometry_msgs/msg/Twist"](linear=_vector3(self.typestore, twist6[:3]),
                                             angular=_vector3(self.typestore, twist6[3:]))
    wrench = types["geometry_msgs/msg/Wrench"](force=_vector3(self.typestore, wrench6[:3]),
                                               torque=_vector3(self.typestore, wrench6[3:]))
    message = types["intera_core_msgs/msg/EndpointState"](header=_header(self.typestore, stamp_ns), pose=pose,
                                                           twist=twist, wrench=wrench, valid=True)
    self._write(topic, "intera_core_msgs/msg/EndpointState", message, stamp_ns)

  def pose_stamped(self, topic: str, pose7, stamp_ns: int):
    message = self.typestore.types["geometry_msgs/msg/PoseStamped"](header=_header(self.typestore, stamp_ns),
                                                                     pose=self._pose(pose7))
    self._write(topic, "geometry_msgs/msg/PoseStamped", message, stamp_ns)

  def wrench_stamped(self, topic: str, wrench6, stamp_ns: int):
    types = self.typestore.types
    wrench = types["geometry_msgs/msg/Wrench"](force=_vector3(self.typestore, wrench6[:3]),
                                               torque=_vector3(self.typestore, wrench6[3:]))
    message = types["geometry_msgs/msg/WrenchStamped"](header=_header(self.typestore, stamp_ns), wrench=wrench)
    self._write(topic, "geometry_msgs/msg/WrenchStamped", message, stamp_ns)

  def twist_stamped(self, topic: str, twist6, stamp_ns: int, log_ns: Optional[int] = None):
    types = self.typestore.types
    twist = types["geometry_msgs/msg/Twist"](linear=_vector3(self.typestore, twist6[:3]),
                                             angular=_vector3(self.typestore, twist6[3:]))
    message = types["geometry_msgs/msg/TwistStamped"](header=_header(self.typestore, stamp_ns), twist=twist)
    self._write(topic, "geometry_msgs/msg/TwistStamped", message, log_ns or stamp_ns)

  def scalar(self, topic: str, msgtype: str, value, log_ns: int):
    message = self.typestore.types[msgtype](data=value)
    self._write(topic, msgtype, message, log_ns)

  def compressed_image(self, topic: str, image: np.ndarray, stamp_ns: int, fmt: str = "png"):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG" if fmt == "png" else "JPEG")
    message = self.typestore.types["sensor_msgs/msg/CompressedImage"](
        header=_header(self.typestore, stamp_ns), format=fmt, data=np.frombuffer(buffer.getvalue(), np.uint8))
    self._write(topic, "sensor_msgs/msg/CompressedImage", message, stamp_ns)

  def raw_image(self, topic: str, image: np.ndarray, stamp_ns: int, encoding: str = "bgr8"):
    pixels = image[..., ::-1] if encoding == "bgr8" else image
    height, width = image.shape[:2]
    message = self.typestore.types["sensor_msgs/msg/Image"](
        header=_header(self.typestore, stamp_ns), height=height, width=width, encoding=encoding, is_bigendian=0,
        step=width * 3, data=np.ascontiguousarray(pixels).reshape(-1))
    self._write(topic, "sensor_msgs/msg/Image", message, stamp_ns)

  def close(self):
    self.writer.close()
