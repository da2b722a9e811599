"""The one error type of the data layer: bad input, reported with where it was found.

Every check in the data layer (spec validation, converters, readers) raises `DataError` with
the file, episode, step and field it concerns, so that a bad value in a million-step log can be
found without a debugger. The CLI prints the message and exits non-zero.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional, Union


@dataclasses.dataclass(frozen=True)
class Location:
  """Where in the input a problem sits; every part is optional."""

  file: Optional[str] = None
  episode: Optional[int] = None
  step: Optional[int] = None
  field: Optional[str] = None

  def replace(self, **changes: Any) -> "Location":
    return dataclasses.replace(self, **changes)

  def describe(self) -> str:
    parts = [f"file {self.file}" if self.file is not None else "file <in memory>"]
    parts.append(f"episode {self.episode}" if self.episode is not None else "episode -")
    parts.append(f"step {self.step}" if self.step is not None else "step -")
    parts.append(f"field '{self.field}'" if self.field is not None else "field -")
    return ", ".join(parts)


LocationLike = Union[Location, Mapping[str, Any], None]


def as_location(where: LocationLike) -> Location:
  if where is None:
    return Location()
  if isinstance(where, Location):
    return where
  unknown = set(where) - {"file", "episode", "step", "field"}
  if unknown:
    raise TypeError(f"unknown location keys {sorted(unknown)}")
  return Location(**dict(where))


class DataError(ValueError):
  """Bad or inconsistent data. `str(error)` names file, episode, step and field."""

  def __init__(self, message: str, where: LocationLike = None, **location: Any):
    self.location = as_location(where).replace(**location) if location else as_location(where)
    self.detail = message
    super().__init__(f"{self.location.describe()}: {message}")

  @property
  def file(self) -> Optional[str]:
    return self.location.file

  @property
  def episode(self) -> Optional[int]:
    return self.location.episode

  @property
  def step(self) -> Optional[int]:
    return self.location.step

  @property
  def field(self) -> Optional[str]:
    return self.location.field
