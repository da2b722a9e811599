"""Checkpoints of a whole run (train state, sampler key, step) with orbax.

A checkpoint holds two items: `state` (every array of the train pytree, including the data
sampler's key) and `meta` (JSON: step, run fingerprint, versions). Restoring fills a template
built by the same `create(config, ...)`, so static fields come from code and arrays from disk.

Refusals are loud by design: a checkpoint from another run (different agent, spec or
shape-changing hyper-parameter) or a damaged one raises `CheckpointError` naming the directory;
jaxinsert never silently starts from scratch next to an existing checkpoint. Orbax writes each
step into a temporary directory and renames it when complete, so an interrupted save leaves
the previous checkpoint as the latest one.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, Optional, Tuple

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
  """A checkpoint exists but cannot be used for this run."""


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
            "run": self.run_description, "structure": _structure_signature(state)}
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)
    self._manager.wait_until_finished()

  def restore_latest(self, template: Any) -> Optional[Tuple[int, Any]]:
    """Returns (step, state) of the newest checkpoint, or None when there is none at all."""
    step = self.latest_step()
    if step is None:
      self._refuse_stray_files()
      return None
    where = os.path.join(self.directory, str(step))
    try:
      meta = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    except Exception as error:  # orbax raises several types for damaged files
      raise CheckpointError(f"checkpoint {where} is damaged: cannot read its metadata ({error})") from error
    if meta.get("run_fingerprint") != self.run_fingerprint:
      raise CheckpointError(
          f"checkpoint {where} belongs to a different run: saved for {meta.get('run')}, "
          f"this run is {self.run_description}. Use a new --workdir or delete the checkpoint.")
    if not _same_structure(meta.get("structure") or {}, _structure_signature(template)):
      raise CheckpointError(f"checkpoint {where} has a different state structure than this run's "
                            "agent builds (code changed since it was saved?)")
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, template)
    try:
      restored = self._manager.restore(
          step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))["state"]
    except Exception as error:
      raise CheckpointError(f"checkpoint {where} is damaged: cannot read its arrays ({error})") from error
    return int(meta["step"]), restored

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
