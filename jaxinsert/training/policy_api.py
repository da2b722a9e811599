"""A trained policy, anywhere: `load_policy(path)` rebuilds one from a run's own files.

    import jaxinsert
    policy = jaxinsert.load_policy("runs/insertion")      # a workdir or a checkpoints/ dir
    action = policy.act(obs)                                # (obs_dim,) -> (action_dim,)
    actions = policy.act(batch_of_obs)                      # (B, obs_dim) -> (B, action_dim)

Only the run's own files are read: the newest checkpoint's metadata (the run description the
trainer saved: agent name, agent config, spec, seeds) and its arrays, plus `provenance.json`
when present (the full run config, for insertion runs the task list that fixes the action
semantics). No dataset is needed. The restore goes through `training.checkpoints.Checkpointer`,
so a damaged or foreign checkpoint is refused with its checks.

Observations: a flat array of the spec's shape (optionally batched), or, for runs whose
observation features are known (insertion: `tcp_pose_in_socket`, `tcp_velocity`, `wrench`),
a dict of named features. A mismatch raises `ObservationError` naming the field and shapes.
Normalisation: a run that normalises observations (the ODA pipeline) leaves
`normalisation.json` (`obs_mean`, `obs_std`) in its workdir; `act` applies it to raw observations. Actions come
out in the agent's normalised [-1, 1] box; `action_semantics` says what 1 means physically.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxinsert.agents import get_agent
from jaxinsert.training import checkpoints
from jaxinsert.types import Spec


class ObservationError(ValueError):
  """An observation does not fit the policy's spec (the message names field and shapes)."""


@dataclasses.dataclass(frozen=True)
class Normalisation:
  """obs_normalised = (obs - obs_mean) / obs_std; identity when both are None."""

  obs_mean: Optional[np.ndarray] = None
  obs_std: Optional[np.ndarray] = None
  action_low: float = -1.0
  action_high: float = 1.0


@dataclasses.dataclass
class Policy:
  """A deterministic-by-default policy of one trained agent (one seed of its run)."""

  agent_name: str
  spec: Spec
  agent_state: Any
  run: Dict[str, Any]                       # the run description saved with the checkpoint
  step: int                                 # the checkpoint's update (or online step) count
  checkpoint_dir: str
  config: Optional[Dict[str, Any]] = None   # provenance.json's full run config, if present
  features: Optional[Tuple[Tuple[str, int], ...]] = None  # named layout of the flat observation
  action_semantics: Optional[Dict[str, Any]] = None       # e.g. {"mode": "move", "move_m": 0.01}
  normalisation: Normalisation = Normalisation()

  def __post_init__(self):
    agent = get_agent(self.agent_name)
    self._act = jax.jit(lambda state, obs, key, deterministic: agent.act(state, obs, key, deterministic),
                        static_argnums=3)

  def flat_observation(self, obs: Union[np.ndarray, Mapping[str, Any]]) -> Tuple[np.ndarray, bool]:
    """(obs as a (B, *obs_shape) float array, whether the input was batched); checks shapes."""
    shape = tuple(self.spec.obs_shape)
    if isinstance(obs, Mapping):
      if self.features is None:
        raise ObservationError(f"this {self.agent_name} policy has no named observation features; "
                               f"pass a flat array of shape {shape}")
      parts, batched = [], None
      for name, size in self.features:
        if name not in obs:
          raise ObservationError(f"observation field '{name}' is missing (expected fields "
                                 f"{[n for n, _ in self.features]})")
        value = np.asarray(obs[name], np.float32)
        if value.shape[-1:] != (size,) or value.ndim not in (1, 2):
          raise ObservationError(f"observation field '{name}' has shape {value.shape}, expected "
                                 f"({size},) or (batch, {size})")
        batched = value.ndim == 2 if batched is None else batched
        parts.append(value if value.ndim == 2 else value[None])
      flat = np.concatenate(parts, axis=-1)
    else:
      flat = np.asarray(obs, np.float32)
      batched = flat.ndim == len(shape) + 1
      if flat.shape[-len(shape):] != shape or flat.ndim not in (len(shape), len(shape) + 1):
        raise ObservationError(f"observation has shape {flat.shape}, expected {shape} or "
                               f"(batch, {', '.join(map(str, shape))})")
      flat = flat if batched else flat[None]
    if not np.all(np.isfinite(flat)):
      bad = self._name_of(int(np.argwhere(~np.isfinite(flat.reshape(flat.shape[0], -1)))[0, 1]))
      raise ObservationError(f"observation field '{bad}' holds NaN or Inf")
    return flat, batched

  def _name_of(self, index: int) -> str:
    start = 0
    for name, size in self.features or ():
      if start <= index < start + size:
        return f"{name}[{index - start}]"
      start += size
    return f"obs[{index}]"

  def act(self, obs: Union[np.ndarray, Mapping[str, Any]], key: Optional[jax.Array] = None,
          deterministic: bool = True) -> np.ndarray:
    """Action(s) in [-1, 1]; a batch in gives a batch out. Sampling needs `key` when not deterministic."""
    flat, batched = self.flat_observation(obs)
    norm = self.normalisation
    if norm.obs_mean is not None:
      flat = (flat - norm.obs_mean) / norm.obs_std
    if key is None:
      if not deterministic:
        raise ValueError("a stochastic act needs a key")
      key = jax.random.PRNGKey(0)
    action = np.asarray(self._act(self.agent_state, jnp.asarray(flat), key, bool(deterministic)))
    action = np.clip(action, norm.action_low, norm.action_high)
    return action if batched else action[0]


# Loading ---------------------------------------------------------------------------------------

_CHECKPOINT_DIRS = ("checkpoints", "online/checkpoints_online", "checkpoints_online",
                    "offline/checkpoints")


def _is_checkpoint_dir(path: str) -> bool:
  return os.path.isdir(path) and any(
      name.isdigit() and os.path.exists(os.path.join(path, name, "meta"))
      for name in os.listdir(path))


def find_checkpoint_dir(path: str, phase: str = "auto") -> str:
  """The checkpoint directory of a run: `path` itself, or (auto) the online one before the
  offline one, since a finetuned policy is the run's final policy."""
  path = os.path.abspath(path)
  if _is_checkpoint_dir(path):
    return path
  names = {"auto": _CHECKPOINT_DIRS, "online": _CHECKPOINT_DIRS[1:3],
           "offline": (_CHECKPOINT_DIRS[0], _CHECKPOINT_DIRS[3])}[phase]
  for name in names:
    if _is_checkpoint_dir(os.path.join(path, name)):
      return os.path.join(path, name)
  raise FileNotFoundError(f"no checkpoint under {path} (looked for {list(names)}); pass a run's "
                          "workdir or its checkpoints directory")


def _latest_meta(checkpoint_dir: str) -> Dict[str, Any]:
  steps = sorted(int(n) for n in os.listdir(checkpoint_dir)
                 if n.isdigit() and os.path.exists(os.path.join(checkpoint_dir, n, "meta", "metadata")))
  if not steps:
    raise checkpoints.CheckpointError(f"{checkpoint_dir} holds no checkpoint metadata")
  problems = []
  for step in reversed(steps):  # a damaged newest step: the restore falls back, so do we
    where = os.path.join(checkpoint_dir, str(step), "meta", "metadata")
    try:
      with open(where) as handle:
        return json.load(handle)
    except (OSError, ValueError) as error:
      problems.append(f"{where} ({error})")
  raise checkpoints.CheckpointError(f"every checkpoint's metadata is damaged: {'; '.join(problems)}")


def _find_upwards(checkpoint_dir: str, filename: str) -> Optional[Dict[str, Any]]:
  """`filename` (JSON) in the run directory: up to three levels above the checkpoints."""
  directory = checkpoint_dir
  for _ in range(3):
    directory = os.path.dirname(directory)
    candidate = os.path.join(directory, filename)
    if os.path.exists(candidate):
      with open(candidate) as handle:
        return json.load(handle)
  return None


def agent_config_from_saved(agent_name: str, saved: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """The agent's defaults overwritten by the saved values (lists back to tuples where the
  default is a tuple, so the rebuilt network has the trained widths)."""
  config = get_agent(agent_name).get_config()
  with config.unlocked():
    for name, value in saved.items():
      default = config.get(name)
      if isinstance(default, tuple) and isinstance(value, list):
        value = tuple(value)
      config[name] = value
  return config


def _insertion_semantics(run_config: Optional[Mapping[str, Any]]):
  """Observation layout and action meaning of an insertion run (None for other runs)."""
  if not run_config or "tasks" not in run_config:
    return None, None
  from jaxinsert.envs import insertion
  from jaxinsert.training import insertion_tasks

  tasks = run_config["tasks"]
  task = insertion_tasks.resolve(tasks.get("held_out") or tasks.get("train"),
                                 tasks.get("goal_noise_m", -1.0))[0]
  task_config = task.config()
  semantics = {"mode": task_config.action_mode, "move_m": task_config.move_m,
               "linear_speed_m_per_s": task_config.linear_speed_m_per_s,
               "angular_speed_rad_per_s": task_config.angular_speed_rad_per_s,
               "policy_dt_s": task_config.scene.policy_dt_s,
               "max_episode_steps": task_config.max_episode_steps, "task": task.name,
               "goal_noise_m": float(tasks.get("goal_noise_m", -1.0))}
  return tuple(insertion.OBSERVATION_FEATURES), semantics


def _template(agent, agent_config, spec: Spec, run: Mapping[str, Any],
              run_config: Optional[Mapping[str, Any]]):
  from jaxinsert.training import offline

  # Shapes only (jax.eval_shape): building real parameters op by op costs tens of seconds of
  # compilation on a small CPU, and the restore only needs the tree, shapes and dtypes.
  if run.get("phase") != "online":
    return jax.eval_shape(lambda: offline.init_run_state(agent, agent_config, spec, run["seed"],
                                                         run["num_seeds"])), True
  from jaxinsert.data import replay
  from jaxinsert.training.online import OnlineState

  if not run_config or "replay_capacity" not in run_config:
    raise checkpoints.CheckpointError("an online checkpoint needs its run's provenance.json "
                                      "(replay_capacity) next to it")
  def build():
    zero = jnp.zeros((), jnp.int32)
    return OnlineState(agent=agent.create(agent_config, jax.random.PRNGKey(0), spec),
                       buffer=replay.init(spec, run_config["replay_capacity"]),
                       key=jax.random.PRNGKey(0), env_steps=zero, episodes=zero, successes=zero)

  return jax.eval_shape(build), False


def load_policy(path: str, seed_index: int = 0, phase: str = "auto") -> Policy:
  """The policy of seed `seed_index` of the run at `path` (see the module docstring)."""
  checkpoint_dir = find_checkpoint_dir(path, phase)
  meta = _latest_meta(checkpoint_dir)
  run = meta.get("run") or {}
  if "agent_name" not in run or "spec" not in run:
    raise checkpoints.CheckpointError(f"{checkpoint_dir}: the checkpoint metadata has no run "
                                      "description (agent_name, spec); written by another tool?")
  agent_name = run["agent_name"]
  agent = get_agent(agent_name)
  spec = Spec(tuple(run["spec"]["obs_shape"]), int(run["spec"]["action_dim"]))
  agent_config = agent_config_from_saved(agent_name, run.get("agent", {}))
  provenance = _find_upwards(checkpoint_dir, "provenance.json")
  run_config = provenance.get("config") if provenance else None
  template, seeded = _template(agent, agent_config, spec, run, run_config)
  checkpointer = checkpoints.Checkpointer(checkpoint_dir, run, keep=10**6)
  try:
    restored = checkpointer.restore_latest(template)
  finally:
    checkpointer.close()
  if restored is None:
    raise checkpoints.CheckpointError(f"{checkpoint_dir} holds no complete checkpoint")
  step, state = restored
  agent_state = state.agent
  if seeded:
    num_seeds = jax.tree_util.tree_leaves(agent_state)[0].shape[0]
    if not 0 <= seed_index < num_seeds:
      raise ValueError(f"seed_index {seed_index} out of range: the run trained {num_seeds} seeds")
    agent_state = jax.tree_util.tree_map(lambda x: x[seed_index], agent_state)
  features, semantics = _insertion_semantics(run_config)
  if features is not None and sum(size for _, size in features) != int(np.prod(spec.obs_shape)):
    features = None
  return Policy(agent_name=agent_name, spec=spec, agent_state=agent_state, run=run, step=step,
                checkpoint_dir=checkpoint_dir, config=run_config, features=features,
                action_semantics=semantics, normalisation=_load_normalisation(checkpoint_dir))


def _load_normalisation(checkpoint_dir: str) -> Normalisation:
  record = _find_upwards(checkpoint_dir, "normalisation.json")
  if record is None:
    return Normalisation()
  return Normalisation(obs_mean=np.asarray(record["obs_mean"], np.float32),
                       obs_std=np.asarray(record["obs_std"], np.float32))


def describe(policy: Policy) -> Dict[str, Any]:
  """A short JSON-able summary (for run_policy's output)."""
  return {"agent": policy.agent_name, "obs_shape": list(policy.spec.obs_shape),
          "action_dim": policy.spec.action_dim, "step": policy.step,
          "checkpoint_dir": policy.checkpoint_dir,
          "features": [name for name, _ in policy.features] if policy.features else None,
          "action_semantics": policy.action_semantics}


__all__: Sequence[str] = ("Policy", "ObservationError", "Normalisation", "load_policy",
                          "find_checkpoint_dir", "describe")
