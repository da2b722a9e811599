"""Checkpoints of a whole run (train state, sampler key, step) with orbax.

A checkpoint holds two items: `state` (every array of the train pytree, including the data
sampler's key) and `meta` (JSON: step, run fingerprint, versions). Restoring fills a template
built by the same `create(config, ...)`, so static fields come from code and arrays from disk.

Refusals are loud by design: a checkpoint from another run (different agent, spec or
shape-changing hyper-parameter) raises `CheckpointError` naming the directory and the fields
that differ; jaxinsert never silently starts from scratch next to an existing checkpoint.
Orbax writes each step into a temporary directory and renames it when complete, so an
interrupted save leaves the previous checkpoint as the latest one.

Integrity: `meta` holds a SHA-256 of every array (by key path), written at save and compared at
restore, so flipped bytes or an emptied step directory are caught instead of resumed. A damaged
newest checkpoint is moved to `.damaged/` and the newest intact one is restored, with a warning
that names both; only when no checkpoint is intact does restoring fail. Checkpoints written
before digests existed restore unverified.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
  """A checkpoint exists but cannot be used for this run."""


class _Damaged(CheckpointError):
  """One checkpoint is damaged (an older one may still be intact)."""


def fingerprint(description: Dict[str, Any]) -> str:
  """A short stable hash of what must match for a checkpoint to belong to a run."""
  text = json.dumps(description, sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def _structure_signature(tree: Any) -> Dict[str, Any]:
  """Where every array sits in the state (its key path) and its shape and dtype.

  Static fields (configs, module definitions) are left out: the run fingerprint already covers
  the config, and their printed form depends on object identity (a tuple shared by two config
  fields prints as a YAML anchor), so a config rebuilt from JSON would not match its own run.
  """
  with_paths = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {
      "paths": fingerprint({"paths": [jax.tree_util.keystr(path) for path, _ in with_paths]}),
      "shapes": fingerprint({"shapes": [(np.shape(x), str(np.result_type(x)))
                                        for _, x in with_paths]}),
  }


def _same_structure(saved: Dict[str, Any], current: Dict[str, Any]) -> bool:
  """Checkpoints written before session 5 hold a printed-treedef hash instead of key paths:
  for those the shapes (and the run fingerprint) decide."""
  return (saved.get("shapes") == current["shapes"]
          and saved.get("paths", current["paths"]) == current["paths"])


def array_digests(tree: Any) -> Dict[str, str]:
  """SHA-256 of every array of `tree` (its bytes, shape and dtype), keyed by key path."""
  digests = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    array = np.asarray(jax.device_get(leaf))
    if jax.dtypes.issubdtype(array.dtype, jax.dtypes.prng_key):
      array = np.asarray(jax.random.key_data(leaf))
    digest = hashlib.sha256(f"{array.shape}{array.dtype}".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    digests[jax.tree_util.keystr(path)] = digest.hexdigest()
  return digests


def describe_difference(saved: Any, current: Any, prefix: str = "", limit: int = 8) -> str:
  """The fields that differ between two run descriptions, as 'a.b: saved -> now; ...'."""
  changes: List[str] = []

  def walk(old: Any, new: Any, where: str) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
      for key in sorted(set(old) | set(new), key=str):
        walk(old.get(key, "<absent>"), new.get(key, "<absent>"), f"{where}.{key}" if where else str(key))
    elif json.dumps(old, sort_keys=True, default=str) != json.dumps(new, sort_keys=True, default=str):
      changes.append(f"{where}: {_short(old)} -> {_short(new)}")

  walk(saved, current, prefix)
  more = f"; and {len(changes) - limit} more" if len(changes) > limit else ""
  return "; ".join(changes[:limit]) + more if changes else "(no field differs; fingerprint format changed?)"


def _short(value: Any, width: int = 40) -> str:
  text = json.dumps(value, default=str)
  return text if len(text) <= width else text[:width - 3] + "..."


class Checkpointer:
  """Saves and restores run checkpoints under `directory` (one sub-directory per step)."""

  def __init__(self, directory: str, run_description: Dict[str, Any], keep: int = 2):
    self.directory = os.path.abspath(directory)
    self.run_fingerprint = fingerprint(run_description)
    self.run_description = run_description
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, enable_async_checkpointing=False)
    self._manager = ocp.CheckpointManager(self.directory, options=options)

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def save(self, step: int, state: Any) -> None:
    meta = {"step": int(step), "run_fingerprint": self.run_fingerprint,
            "run": self.run_description, "structure": _structure_signature(state),
            "array_sha256": array_digests(state)}
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)
    self._manager.wait_until_finished()

  def restore_latest(self, template: Any,
                     warn: Optional[Callable[[str], None]] = None) -> Optional[Tuple[int, Any]]:
    """Returns (step, state) of the newest intact checkpoint, or None when there is none at all.

    A damaged checkpoint (unreadable, or an array whose digest differs from the one written at
    save) is moved to `.damaged/` and the next older one is tried; `warn` (default: a line on
    stderr) says which step was skipped and which one was restored. A checkpoint of another run
    or another state structure is refused outright: an older step would not fit either.
    """
    warn = warn or (lambda message: print(f"warning: {message}", file=sys.stderr))
    steps = sorted(self._manager.all_steps(), reverse=True)
    if not steps:
      self._refuse_stray_files()
      return None
    problems: List[str] = []
    damaged: List[int] = []
    for step in steps:
      where = os.path.join(self.directory, str(step))
      try:
        restored = self._restore_step(step, template)
      except _Damaged as damage:
        problems.append(str(damage))
        damaged.append(step)
        continue
      if damaged:
        moved = self._set_aside(damaged)
        warn(f"skipped damaged checkpoint(s) {'; '.join(problems)}; moved to {moved}. "
             f"Restored step {step} from {where}, the newest intact checkpoint.")
      return restored
    raise CheckpointError(f"every checkpoint in {self.directory} is damaged: {'; '.join(problems)}. "
                          "Delete the directory to start a new run.")

  def _restore_step(self, step: int, template: Any) -> Tuple[int, Any]:
    where = os.path.join(self.directory, str(step))
    try:
      meta = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    except Exception as error:  # orbax raises several types for damaged files
      raise _Damaged(f"checkpoint {where} is damaged: cannot read its metadata ({error})") from error
    if meta.get("run_fingerprint") != self.run_fingerprint:
      raise CheckpointError(
          f"checkpoint {where} belongs to a different run; changed: "
          f"{describe_difference(meta.get('run') or {}, self.run_description)}. "
          "Use a new --workdir, restore the old values, or delete the checkpoint.")
    if not _same_structure(meta.get("structure") or {}, _structure_signature(template)):
      raise CheckpointError(f"checkpoint {where} has a different state structure than this run's "
                            "agent builds (code changed since it was saved?)")
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, template)
    try:
      restored = self._manager.restore(
          step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))["state"]
    except Exception as error:
      raise _Damaged(f"checkpoint {where} is damaged: cannot read its arrays ({error})") from error
    expected = meta.get("array_sha256")
    if expected is not None:
      actual = array_digests(restored)
      wrong = [path for path in expected if actual.get(path) != expected[path]]
      if wrong or set(actual) != set(expected):
        raise _Damaged(f"checkpoint {where} is damaged: {len(wrong)} array(s) differ from their "
                       f"digest at save (first: {(wrong or ['<key set>'])[0]})")
    return int(meta["step"]), restored

  def _set_aside(self, steps: List[int]) -> str:
    """Moves damaged step directories to `.damaged/` (kept for inspection, out of orbax's way)."""
    aside = os.path.join(self.directory, ".damaged")
    os.makedirs(aside, exist_ok=True)
    for step in steps:
      source = os.path.join(self.directory, str(step))
      if os.path.exists(source):
        shutil.move(source, os.path.join(aside, f"{step}-{time.strftime('%Y%m%dT%H%M%S')}"))
    self._manager.reload()
    return aside

  def _refuse_stray_files(self) -> None:
    """No finished checkpoint, but files: a foreign directory or a torn first save."""
    stray = [name for name in os.listdir(self.directory) if not name.startswith(".")
             and "tmp" not in name]
    if stray:
      raise CheckpointError(
          f"{self.directory} holds {sorted(stray)[:5]} but no complete checkpoint; refusing to "
          "start from scratch over it. Delete the directory to start a new run.")

  def close(self) -> None:
    self._manager.close()
