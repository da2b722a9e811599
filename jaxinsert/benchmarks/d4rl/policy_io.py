"""Committed SAC policies of the D4RL protocol: save, load and act, without the training state.

A policy file is an .npz holding the actor's parameters as float16 (so each file stays near
150 KB; the stored, rounded policy is the one every dataset is generated and scored with) and a
JSON `meta` entry: environment id, SAC env steps trained, hidden sizes, log-std clip, and the
return measured when it was saved. Loading needs only flax and the SAC policy head.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any, Dict

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from jaxinsert.networks.policies import TanhGaussianPolicy, tanh_gaussian_sample

POLICY_DIR = pathlib.Path(__file__).resolve().parent / "policies"


@dataclasses.dataclass(frozen=True)
class StoredPolicy:
  """A SAC actor as stored: parameters (float32 after loading) and its metadata."""

  params: Any
  meta: Dict[str, Any]

  @property
  def module(self) -> TanhGaussianPolicy:
    return TanhGaussianPolicy(tuple(self.meta["hidden_dims"]), int(self.meta["action_dim"]),
                              float(self.meta["log_std_min"]), float(self.meta["log_std_max"]))


def save_policy(path: Any, actor_params: Any, meta: Dict[str, Any]) -> pathlib.Path:
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  flat = traverse_util.flatten_dict(jax.device_get(actor_params), sep="/")
  arrays = {f"params/{name}": np.asarray(value, np.float16) for name, value in flat.items()}
  with open(path, "wb") as handle:
    np.savez(handle, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
  return path


def load_policy(path: Any) -> StoredPolicy:
  with np.load(path) as data:
    meta = json.loads(str(data["meta"]))
    flat = {name[len("params/"):]: jnp.asarray(data[name], jnp.float32)
            for name in data.files if name.startswith("params/")}
  return StoredPolicy(params=traverse_util.unflatten_dict(flat, sep="/"), meta=meta)


def make_act(policy: StoredPolicy):
  """`act(obs_batch, key, deterministic) -> actions in [-1, 1]`, jitted."""
  module = policy.module

  @jax.jit
  def sample(params, obs, key):
    mean, log_std = module.apply({"params": params}, obs)
    return tanh_gaussian_sample(key, mean, log_std)[0]

  @jax.jit
  def mean_action(params, obs):
    return jnp.tanh(module.apply({"params": params}, obs)[0])

  def act(obs: np.ndarray, key: jax.Array, deterministic: bool = False) -> np.ndarray:
    obs = jnp.asarray(obs, jnp.float32)
    out = mean_action(policy.params, obs) if deterministic else sample(policy.params, obs, key)
    return np.asarray(out)

  return act

