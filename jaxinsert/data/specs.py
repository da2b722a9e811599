"""Dataset feature specs: load the versioned JSON files in data_specs/ and check episodes against them.

A spec names every feature of a dataset family (shape, dtype, units, frame), the action bounds,
the control rate and, for robot logs, which ROS topics fill which feature. Writers call
`DatasetSpec.validate_episode` on every episode, so a dataset on disk always matches its spec.
The file format is described in data_specs/README.md.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import pathlib
import re
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from jaxinsert.data.errors import DataError, Location, LocationLike, as_location

SPEC_FILE_IN_DATASET = "jaxinsert_spec.json"
STEP_KEYS = ("observation", "action", "reward", "discount", "is_first", "is_last", "is_terminal")
FEATURE_DTYPES = ("float32", "uint8", "int32", "int64", "bool")
METADATA_DTYPES = ("int32", "int64", "float32", "bool", "string")
_FLAG_KEYS = ("is_first", "is_last", "is_terminal")


def data_specs_root() -> pathlib.Path:
  """The data_specs/ directory: $JAXINSERT_DATA_SPECS, else the one beside the package."""
  override = os.environ.get("JAXINSERT_DATA_SPECS")
  if override:
    return pathlib.Path(override)
  return pathlib.Path(__file__).resolve().parents[2] / "data_specs"


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
  """One named array per step. `None` in `shape` = fixed per dataset, set by its first episode."""

  name: str
  shape: Tuple[Optional[int], ...]
  dtype: str
  units: str = ""
  frame: Optional[str] = None
  description: str = ""
  low: Any = None
  high: Any = None
  required: bool = True  # infos only: family specs list optional extras, a dataset's spec the ones it has

  @property
  def is_image(self) -> bool:
    return self.dtype == "uint8" and len(self.shape) == 3 and self.shape[-1] in (1, 3, 4)

  @property
  def is_concrete(self) -> bool:
    return all(dim is not None for dim in self.shape)

  @property
  def size(self) -> int:
    return math.prod(self.shape)

  def to_dict(self) -> Dict[str, Any]:
    out = {"shape": list(self.shape), "dtype": self.dtype, "units": self.units, "frame": self.frame,
           "description": self.description}
    if self.low is not None or self.high is not None:
      out.update(low=self.low, high=self.high)
    return out


def _feature_from_dict(name: str, raw: Mapping[str, Any], where: Location, required: bool = True) -> FeatureSpec:
  if not isinstance(raw, Mapping):
    raise DataError(f"feature spec must be an object, got {type(raw).__name__}", where)
  dtype = raw.get("dtype")
  if dtype not in FEATURE_DTYPES:
    raise DataError(f"dtype {dtype!r} is not one of {FEATURE_DTYPES}", where)
  shape = raw.get("shape", [])
  if not isinstance(shape, (list, tuple)) or not all(d is None or (isinstance(d, int) and d > 0) for d in shape):
    raise DataError(f"shape must be a list of positive ints or null, got {shape!r}", where)
  return FeatureSpec(name=name, shape=tuple(shape), dtype=dtype, units=str(raw.get("units", "")),
                     frame=raw.get("frame"), description=str(raw.get("description", "")),
                     low=raw.get("low"), high=raw.get("high"), required=bool(raw.get("required", required)))


def _deep_merge(base: Dict[str, Any], overlay: Mapping[str, Any]) -> Dict[str, Any]:
  merged = copy.deepcopy(base)
  for key, value in overlay.items():
    if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
      merged[key] = _deep_merge(merged[key], value)
    else:
      merged[key] = copy.deepcopy(value)
  return merged


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """A parsed spec. `raw` keeps the JSON (topics, clock, variants) for the converters that need it."""

  name: str
  version: str
  description: str
  control_rate_hz: Optional[float]
  observation: Dict[str, FeatureSpec]
  action: FeatureSpec
  reward: FeatureSpec
  episode_metadata: Dict[str, str]
  infos: Dict[str, FeatureSpec]
  raw: Dict[str, Any]
  source: Optional[str] = None

  # ----------------------------------------------------------------------------------- parsing
  @classmethod
  def from_dict(cls, raw: Mapping[str, Any], source: Optional[str] = None) -> "DatasetSpec":
    where = Location(file=source)
    for key in ("name", "version", "observation", "action", "reward", "episode_metadata"):
      if key not in raw:
        raise DataError(f"spec is missing the key '{key}'", where, field=key)
    if not re.fullmatch(r"\d+\.\d+\.\d+", str(raw["version"])):
      raise DataError(f"version must be MAJOR.MINOR.PATCH, got {raw['version']!r}", where, field="version")
    if not raw["observation"]:
      raise DataError("spec declares no observation feature", where, field="observation")
    observation = {name: _feature_from_dict(name, feature, where.replace(field=f"observation/{name}"))
                   for name, feature in raw["observation"].items()}
    action = _feature_from_dict("action", raw["action"], where.replace(field="action"))
    reward = _feature_from_dict("reward", {"shape": [], **raw["reward"]}, where.replace(field="reward"))
    metadata = dict(raw["episode_metadata"])
    for name, dtype in metadata.items():
      if dtype not in METADATA_DTYPES:
        raise DataError(f"metadata dtype {dtype!r} not in {METADATA_DTYPES}", where,
                        field=f"episode_metadata/{name}")
    metadata.setdefault("task_id", "int32")
    metadata.setdefault("domain_id", "int32")
    infos = {name: _feature_from_dict(name, feature, where.replace(field=f"infos/{name}"), required=False)
             for name, feature in raw.get("infos", {}).items()}
    rate = raw.get("control_rate_hz")
    return cls(name=str(raw["name"]), version=str(raw["version"]), description=str(raw.get("description", "")),
               control_rate_hz=None if rate is None else float(rate), observation=observation, action=action,
               reward=reward, episode_metadata=metadata, infos=infos, raw=copy.deepcopy(dict(raw)),
               source=source)

  def to_dict(self) -> Dict[str, Any]:
    """JSON form with the (possibly resolved) feature shapes; round-trips through `from_dict`."""
    out = copy.deepcopy(self.raw)
    out["observation"] = {name: feature.to_dict() for name, feature in self.observation.items()}
    out["action"] = self.action.to_dict()
    out["infos"] = {name: {**feature.to_dict(), "required": feature.required} for name, feature in self.infos.items()}
    out["control_rate_hz"] = self.control_rate_hz
    out.pop("variants", None)
    return out

  def with_variant(self, variant: str) -> "DatasetSpec":
    variants = self.raw.get("variants", {})
    if variant not in variants:
      raise DataError(f"spec {self.name} has no variant {variant!r} (known: {sorted(variants)})",
                      file=self.source, field="variants")
    merged = _deep_merge({k: v for k, v in self.raw.items() if k != "variants"}, variants[variant])
    merged["variant"] = variant
    return DatasetSpec.from_dict(merged, source=self.source)

  # -------------------------------------------------------------------------------- properties
  @property
  def topics(self) -> Dict[str, Any]:
    return self.raw.get("topics", {})

  @property
  def is_concrete(self) -> bool:
    features = list(self.observation.values()) + [self.action] + list(self.infos.values())
    return all(feature.is_concrete for feature in features)

  def step_features(self) -> Dict[str, FeatureSpec]:
    """Flat map "observation/<name>", "action", "infos/<name>" -> feature spec."""
    flat = {f"observation/{name}": feature for name, feature in self.observation.items()}
    flat["action"] = self.action
    flat.update({f"infos/{name}": feature for name, feature in self.infos.items()})
    return flat

  def resolve(self, episode: Mapping[str, Any], where: LocationLike = None) -> "DatasetSpec":
    """Fills `None` dims from `episode` and drops declared infos the episode does not carry."""
    location = as_location(where)
    steps = _steps_of(episode, location)
    raw = self.to_dict()
    for key, feature in self.step_features().items():
      group, _, name = key.partition("/")
      array = _lookup(steps, key)
      if group == "infos":
        if array is None:
          if not feature.required:
            raw["infos"].pop(name)
          continue
        raw["infos"][name]["required"] = True
      if array is None:
        continue
      if feature.is_concrete:
        continue
      shape = np.shape(array)[1:]
      if len(shape) != len(feature.shape):
        raise DataError(f"rank {len(shape)} does not match spec shape {list(feature.shape)}",
                        location, field=f"steps/{key}")
      resolved = [given if given is not None else int(actual) for given, actual in zip(feature.shape, shape)]
      target = raw[group][name] if name else raw[group]
      target["shape"] = resolved
    return DatasetSpec.from_dict(raw, source=self.source)

  # -------------------------------------------------------------------------------- validation
  def validate_episode(self, episode: Mapping[str, Any], where: LocationLike = None) -> Dict[str, Any]:
    """Checks one episode; returns it with arrays cast to the spec dtypes (float64 -> float32 etc.).

    Raises DataError naming the file/episode (from `where`), the step and the field at fault.
    """
    location = as_location(where)
    steps = _steps_of(episode, location)
    missing = [key for key in STEP_KEYS if key not in steps]
    if missing:
      raise DataError(f"missing step keys {missing}", location, field=f"steps/{missing[0]}")
    if not isinstance(steps["observation"], Mapping):
      raise DataError("observation must be a dict of named features", location, field="steps/observation")
    extra = sorted(set(steps["observation"]) - set(self.observation))
    if extra:
      raise DataError(f"observation features {extra} are not in spec {self.name}", location,
                      field=f"steps/observation/{extra[0]}")
    length = len(np.asarray(steps["is_first"]))
    if length < 1:
      raise DataError("episode has no steps", location, field="steps/is_first")

    out_steps: Dict[str, Any] = {"observation": {}}
    for key, feature in self.step_features().items():
      array = _lookup(steps, key)
      if array is None:
        if not feature.required:
          continue
        if key.startswith("infos/"):
          raise DataError(f"this dataset has infos '{feature.name}' in every episode", location, field=f"steps/{key}")
        raise DataError("feature declared by the spec is missing", location, field=f"steps/{key}")
      checked = _check_array(array, feature, length, location.replace(field=f"steps/{key}"))
      group, _, name = key.partition("/")
      if name:
        out_steps.setdefault(group, {})[name] = checked
      else:
        out_steps[group] = checked
    out_steps["reward"] = _check_array(steps["reward"], self.reward, length, location.replace(field="steps/reward"))
    discount_spec = FeatureSpec("discount", (), "float32")
    out_steps["discount"] = _check_array(steps["discount"], discount_spec, length,
                                         location.replace(field="steps/discount"))
    bad = np.flatnonzero((out_steps["discount"] < 0) | (out_steps["discount"] > 1))
    if bad.size:
      raise DataError(f"discount {out_steps['discount'][bad[0]]} outside [0, 1]", location, step=int(bad[0]),
                      field="steps/discount")
    for key in _FLAG_KEYS:
      out_steps[key] = _check_flags(steps[key], length, location.replace(field=f"steps/{key}"))
    _check_episode_structure(out_steps, length, location)

    out = {"steps": out_steps}
    metadata = dict(episode.get("metadata") or {})
    for key in ("task_id", "domain_id"):
      value = episode.get(key, metadata.pop(key, 0))
      try:
        out[key] = int(value)
      except (TypeError, ValueError):
        raise DataError(f"{key} must be an int, got {value!r}", location, field=key) from None
      if not np.iinfo(np.int32).min <= out[key] <= np.iinfo(np.int32).max:
        raise DataError(f"{key}={out[key]} does not fit int32", location, field=key)
    out["metadata"] = metadata
    return out

  def agent_obs_keys(self, obs_keys: Optional[Sequence[str]] = None) -> Tuple[str, ...]:
    keys = tuple(obs_keys) if obs_keys else tuple(self.observation)
    unknown = [key for key in keys if key not in self.observation]
    if unknown:
      raise DataError(f"obs_keys {unknown} not in spec {self.name} ({list(self.observation)})",
                      file=self.source, field=f"observation/{unknown[0]}")
    return keys


def _steps_of(episode: Mapping[str, Any], location: Location) -> Mapping[str, Any]:
  if not isinstance(episode, Mapping) or not isinstance(episode.get("steps"), Mapping):
    raise DataError("an episode must be a dict with a 'steps' dict", location, field="steps")
  return episode["steps"]


def _lookup(steps: Mapping[str, Any], key: str) -> Any:
  group, _, name = key.partition("/")
  value = steps.get(group)
  if name:
    return value.get(name) if isinstance(value, Mapping) else None
  return value


def _check_array(value: Any, feature: FeatureSpec, length: int, location: Location) -> np.ndarray:
  array = np.asarray(value)
  if array.dtype == object or array.dtype.kind in "USV":
    raise DataError(f"values of dtype {array.dtype} are not numeric", location)
  if array.ndim == 0 or array.shape[0] != length:
    raise DataError(f"has {array.shape[0] if array.ndim else 0} steps, the episode has {length}", location)
  step_shape = array.shape[1:]
  if len(step_shape) != len(feature.shape) or any(
      want is not None and want != got for want, got in zip(feature.shape, step_shape)):
    shown = ["any" if dim is None else dim for dim in feature.shape]
    raise DataError(f"shape per step {list(step_shape)} does not match spec {shown}", location, step=0)
  target = np.dtype(feature.dtype)
  if array.dtype != target:
    lossless_bool = array.dtype == np.bool_ and target.kind in "iuf"
    if not (lossless_bool or np.can_cast(array.dtype, target, casting="same_kind")):
      raise DataError(f"dtype {array.dtype} cannot be stored as spec dtype {feature.dtype}", location)
    if target.kind in "iu" and array.dtype.kind in "iu":
      info = np.iinfo(target)
      per_step = array.reshape(length, -1)
      bad_rows = np.flatnonzero(((per_step < info.min) | (per_step > info.max)).any(axis=1))
      if bad_rows.size:
        raise DataError(f"values do not fit {feature.dtype}", location, step=int(bad_rows[0]))
    array = array.astype(target)
  if target.kind == "f":
    finite = np.isfinite(array.reshape(length, -1)).all(axis=1)
    if not finite.all():
      step = int(np.flatnonzero(~finite)[0])
      bad_value = array.reshape(length, -1)[step][~np.isfinite(array.reshape(length, -1)[step])][0]
      raise DataError(f"non-finite value {bad_value}", location, step=step)
  return array


def _check_flags(value: Any, length: int, location: Location) -> np.ndarray:
  array = np.asarray(value)
  if array.shape != (length,):
    raise DataError(f"shape {list(array.shape)} should be [{length}]", location)
  if array.dtype != np.bool_:
    if array.dtype.kind not in "iuf" or not np.isin(array, (0, 1)).all():
      bad = np.flatnonzero(~np.isin(array, (0, 1))) if array.dtype.kind in "iuf" else np.array([0])
      raise DataError(f"flags must be booleans or 0/1, got {array.dtype}", location, step=int(bad[0]))
    array = array.astype(bool)
  return array


def _check_episode_structure(steps: Mapping[str, np.ndarray], length: int, location: Location) -> None:
  """RLDS invariants: is_first only at 0, is_last only at the end, is_terminal only on the last step."""
  expected_first = np.arange(length) == 0
  for key, expected in (("is_first", expected_first), ("is_last", expected_first[::-1])):
    wrong = np.flatnonzero(steps[key] != expected)
    if wrong.size:
      raise DataError(f"{key} must be true exactly at step {0 if key == 'is_first' else length - 1}", location,
                      step=int(wrong[0]), field=f"steps/{key}")
  early_terminal = np.flatnonzero(steps["is_terminal"][:-1])
  if early_terminal.size:
    raise DataError("is_terminal before the last step (split the episode there)", location,
                    step=int(early_terminal[0]), field="steps/is_terminal")


def load_spec(name_or_path: Any) -> DatasetSpec:
  """Loads a spec by family name ("d4rl-locomotion", "d4rl-locomotion@1", "d4rl-locomotion:hopper")
  or path (a spec JSON file, a family directory, or a dataset directory holding its spec)."""
  if isinstance(name_or_path, DatasetSpec):
    return name_or_path
  text = os.fspath(name_or_path)
  path = pathlib.Path(text)
  variant = None
  if not path.exists() and ":" in text:
    text, variant = text.rsplit(":", 1)
    path = pathlib.Path(text)
  if path.is_dir() and (path / SPEC_FILE_IN_DATASET).exists():
    path = path / SPEC_FILE_IN_DATASET
  elif path.is_dir():
    path = _newest_version(path)
  elif not path.exists():
    family, _, major = text.partition("@")
    family_dir = data_specs_root() / family
    if not family_dir.is_dir():
      known = sorted(p.name for p in data_specs_root().glob("*") if p.is_dir())
      raise DataError(f"unknown spec {text!r}; known families: {known}", file=str(family_dir))
    path = family_dir / f"v{major}.json" if major else _newest_version(family_dir)
  try:
    raw = json.loads(path.read_text())
  except FileNotFoundError:
    raise DataError("spec file not found", file=str(path)) from None
  except json.JSONDecodeError as error:
    raise DataError(f"spec is not valid JSON: {error}", file=str(path)) from None
  spec = DatasetSpec.from_dict(raw, source=str(path))
  return spec.with_variant(variant) if variant else spec


def _newest_version(family_dir: pathlib.Path) -> pathlib.Path:
  versions = sorted(family_dir.glob("v*.json"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
  if not versions:
    raise DataError("no v<MAJOR>.json spec in this directory", file=str(family_dir))
  return versions[-1]
