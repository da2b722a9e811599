"""Minimal transports for ROS-style topics over UDP on the loopback interface.

Not TCPROS or DDS: one datagram is one message, `b"JXT1" | topic | type | serialised bytes`,
the bytes being the real ROS 1 (or CDR) serialisation from `rosbags`. That is enough to run the
adapters against the simulated robot server with real message layouts; on a lab machine the
same adapters take a rospy/rclpy transport with the same three methods (`publish`,
`subscribe`, `close`). Datagrams are never retried: loss shows as a stale topic, which the
safety layer's watchdog handles.
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple

from jaxinsert.robots.messages import Codec

MAGIC = b"JXT1"
MAX_DATAGRAM = 65_000
Address = Tuple[str, int]


class TopicTransport(Protocol):
  def publish(self, topic: str, msgtype: str, message: Any) -> None: ...

  def subscribe(self, topic: str, msgtype: str, callback: Callable[[Any], None]) -> None: ...

  def close(self) -> None: ...


def pack(topic: str, msgtype: str, payload: bytes) -> bytes:
  topic_b, type_b = topic.encode(), msgtype.encode()
  return MAGIC + struct.pack("<HH", len(topic_b), len(type_b)) + topic_b + type_b + payload


def unpack(datagram: bytes) -> Optional[Tuple[str, str, bytes]]:
  if len(datagram) < 8 or datagram[:4] != MAGIC:
    return None
  topic_len, type_len = struct.unpack_from("<HH", datagram, 4)
  start = 8
  topic = datagram[start:start + topic_len].decode()
  msgtype = datagram[start + topic_len:start + topic_len + type_len].decode()
  return topic, msgtype, datagram[start + topic_len + type_len:]


class UdpTopicTransport:
  """Topics between two UDP endpoints on loopback (see the module docstring).

  `peer` is where publications go; a server leaves it None and learns it from the first
  datagram it receives (the client's subscription hello). A receive thread deserialises and
  calls the subscribers; it stops on `close()` (socket timeout 50 ms bounds every wait).
  """

  def __init__(self, generation: str = "ros1", port: int = 0, peer: Optional[Address] = None,
               send_filter: Optional[Callable[[bytes, Address], None]] = None):
    self.codec = Codec(generation)
    self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    self.socket.bind(("127.0.0.1", port))
    self.socket.settimeout(0.05)
    self.address: Address = self.socket.getsockname()
    self.peer = peer
    self._send_filter = send_filter
    self._subscribers: Dict[str, List[Tuple[str, Callable[[Any], None]]]] = {}
    self._closed = threading.Event()
    self._lock = threading.Lock()
    self.errors: List[str] = []
    self._thread = threading.Thread(target=self._receive_loop, name="udp-topics", daemon=True)
    self._thread.start()
    if peer is not None:
      self.publish("/jaxinsert/hello", "std_msgs/msg/String", self.codec.scalar("std_msgs/msg/String", "hello"))

  def publish(self, topic: str, msgtype: str, message: Any) -> None:
    if self._closed.is_set() or self.peer is None:
      return
    datagram = pack(topic, msgtype, self.codec.serialize(message, msgtype))
    if self._send_filter is not None:
      self._send_filter(datagram, self.peer)
    else:
      self.send_raw(datagram, self.peer)

  def send_raw(self, datagram: bytes, address: Address) -> None:
    try:
      self.socket.sendto(datagram, address)
    except OSError as error:  # the peer is gone; the watchdog on the other side notices
      self.errors.append(str(error))

  def subscribe(self, topic: str, msgtype: str, callback: Callable[[Any], None]) -> None:
    with self._lock:
      self._subscribers.setdefault(topic, []).append((msgtype, callback))

  def _receive_loop(self) -> None:
    while not self._closed.is_set():
      try:
        datagram, sender = self.socket.recvfrom(MAX_DATAGRAM)
      except socket.timeout:
        continue
      except OSError:
        return
      if self.peer is None:
        self.peer = sender
      parsed = unpack(datagram)
      if parsed is None:
        continue
      topic, msgtype, payload = parsed
      with self._lock:
        callbacks = list(self._subscribers.get(topic, ()))
      for expected_type, callback in callbacks:
        if expected_type != msgtype:
          self.errors.append(f"{topic}: type {msgtype}, subscribed as {expected_type}")
          continue
        try:
          callback(self.codec.deserialize(payload, msgtype))
        except Exception as error:  # a malformed message must not kill the receive thread
          self.errors.append(f"{topic}: {error}")

  def close(self) -> None:
    self._closed.set()
    self._thread.join(timeout=1.0)
    self.socket.close()
