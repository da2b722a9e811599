"""The stage runner every experiment pipeline is declared on (DESIGN: "experiments as declared
stages").

A pipeline is a list of `Stage`s: a name, the config fields it depends on (dotted paths; a
section name covers all of its fields), the earlier stages whose results it reads, and the
function that does the work and returns a JSON-able record. `StageRunner.run` executes the
stages in order; each finished stage leaves `stages/<name>.json` holding its record and its
fingerprint (a SHA-256 of its config fields' values and of its input stages' fingerprints).
A field added to a config after records were made is declared in the stage's `defaults` with
the value that reproduces the old behaviour: it enters the fingerprint only while it differs
from that value (whether it is a field of its own or sits inside a section the stage depends
on), so the records made before it existed stay valid.
A finished stage is reused only while its fingerprint matches; on a mismatch the runner stops
with a message naming the fields that changed (or, with `redo=True`, deletes the stage's
declared outputs and runs it again, and every stage after it that depends on it). A stage's own resume point (a training checkpoint)
is the stage function's business: an interrupted stage simply runs again and resumes there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

import ml_collections

from jaxinsert.training import logging


class StageMismatchError(RuntimeError):
  """A finished stage was made with other settings than the ones asked for now."""


@dataclasses.dataclass(frozen=True)
class Stage:
  name: str
  body: Callable[[], Dict[str, Any]]
  depends_on: Sequence[str] = ()     # dotted config fields (or whole sections)
  inputs: Sequence[str] = ()         # names of earlier stages whose outputs it reads
  outputs: Sequence[str] = ()        # paths under the workdir it writes (cleared on a redo)
  # dotted fields -> the value at which they stay out of the fingerprint (module docstring)
  defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)


_MISSING = object()


def _field(config: ml_collections.ConfigDict, dotted: str, missing: Any = None) -> Any:
  value: Any = config
  for part in dotted.split("."):
    if part not in value:
      if missing is not None:
        return missing
      raise KeyError(f"stage depends on config.{dotted}, which does not exist")
    value = value[part]
  if isinstance(value, ml_collections.ConfigDict):
    return json.loads(value.to_json_best_effort(sort_keys=True))
  return value


def _as_json(value: Any) -> Any:
  """`value` as the fingerprint sees it (tuples become lists, and so on)."""
  return json.loads(json.dumps(value, sort_keys=True, default=str))


def _apply_defaults(fields: Dict[str, Any], config: ml_collections.ConfigDict,
                    defaults: Mapping[str, Any]) -> Dict[str, Any]:
  """`fields` with each field of `defaults` left out while it holds its default value."""
  for dotted, default in defaults.items():
    value = _field(config, dotted, missing=_MISSING)
    at_default = value is _MISSING or _as_json(value) == _as_json(default)
    section = next((name for name in fields if dotted.startswith(name + ".")), None)
    if section is None:
      if at_default:
        fields.pop(dotted, None)
      else:
        fields[dotted] = value
    elif at_default:
      parent = fields[section]
      parts = dotted[len(section) + 1:].split(".")
      for part in parts[:-1]:
        parent = parent.get(part, {})
      parent.pop(parts[-1], None)
  return fields


class StageRunner:
  """Runs declared stages in `workdir` against `config` (see the module docstring)."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, progress: bool = True,
               redo: bool = False):
    self.config = config
    self.workdir = workdir
    self.progress = progress
    self.redo = redo
    self.fingerprints: Dict[str, str] = {}
    self.records: Dict[str, Dict[str, Any]] = {}

  def record_path(self, name: str) -> str:
    return os.path.join(self.workdir, "stages", f"{name}.json")

  def settings(self, stage: Stage) -> Dict[str, Any]:
    fields = _apply_defaults({name: _field(self.config, name) for name in stage.depends_on},
                             self.config, stage.defaults)
    inputs = {}
    for name in stage.inputs:
      if name not in self.fingerprints:
        raise KeyError(f"stage {stage.name!r} reads stage {name!r}, which has not run before it")
      inputs[name] = self.fingerprints[name]
    return {"fields": fields, "inputs": inputs}

  @staticmethod
  def fingerprint(settings: Dict[str, Any]) -> str:
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()

  def _load(self, name: str) -> Optional[Dict[str, Any]]:
    path = self.record_path(name)
    if not os.path.exists(path):
      return None
    try:
      with open(path) as handle:
        return json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
      raise StageMismatchError(f"stage record {path} is unreadable ({error}); delete it to "
                               "run the stage again") from None

  def _mismatch(self, stage: Stage, old: Dict[str, Any], new: Dict[str, Any]) -> str:
    old_settings = old.get("settings", {"fields": {}, "inputs": {}})
    changed = [f"config.{k}: {old_settings['fields'].get(k)!r} -> {v!r}"
               for k, v in new["fields"].items() if old_settings["fields"].get(k) != v]
    changed += [f"input stage {k!r} was redone" for k, v in new["inputs"].items()
                if old_settings["inputs"].get(k) != v]
    listing = "; ".join(changed) or "the record predates fingerprints"
    return (f"stage {stage.name!r} in {self.workdir} was finished with other settings "
            f"({listing}). Use another --workdir, or --redo to run it (and what depends on it) "
            "again")

  def run_stage(self, stage: Stage) -> Dict[str, Any]:
    settings = self.settings(stage)
    fingerprint = self.fingerprint(settings)
    done = self._load(stage.name)
    if done is not None and done.get("fingerprint") == fingerprint:
      self._say(f"[{stage.name}] done earlier ({done.get('seconds', 0):.0f} s); reused")
    else:
      if done is not None and not self.redo:
        raise StageMismatchError(self._mismatch(stage, done, settings))
      if done is not None:  # a redo: what the old settings made must not be resumed from
        for output in stage.outputs:
          path = os.path.join(self.workdir, output)
          if os.path.exists(path):
            self._say(f"[{stage.name}] removing {path} (made with the old settings)")
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
      self._say(f"[{stage.name}] running")
      started = time.time()
      done = dict(stage.body())
      done["seconds"] = time.time() - started
      done["fingerprint"] = fingerprint
      done["settings"] = settings
      os.makedirs(os.path.dirname(self.record_path(stage.name)), exist_ok=True)
      logging.write_json_atomically(self.record_path(stage.name), done, default=float)
      done = self._load(stage.name)   # what a later run will read: JSON types, not tuples
      self._say(f"[{stage.name}] finished in {done['seconds']:.0f} s")
    self.fingerprints[stage.name] = fingerprint
    self.records[stage.name] = done
    return done

  def run(self, stages: Sequence[Stage]) -> Dict[str, Dict[str, Any]]:
    for stage in stages:
      self.run_stage(stage)
    return self.records

  def _say(self, message: str) -> None:
    if self.progress:
      print(message, flush=True)
