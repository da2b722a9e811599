"""Whole runs as the CLIs launch them: data in, trained (and evaluated) agents out.

`run_offline(config, workdir)` loads the dataset named by `config.dataset`, trains
`config.num_seeds` seeds at once, evaluates in `config.env.name`, and leaves in `workdir`:
checkpoints/, metrics.jsonl, tensorboard/, learning_curves.png, provenance.json, results.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any, Dict, Optional, Tuple

import jax
import ml_collections
import numpy as np

from jaxinsert.agents import get_agent
from jaxinsert.training import evaluation, logging
from jaxinsert.training.offline import OfflineTrainer
from jaxinsert.types import Spec, Transition


HDF5_SUFFIXES = (".hdf5", ".h5")


def dataset_kind(dataset_config: ml_collections.ConfigDict) -> str:
  """`dataset_config.kind`, or, for a path given with the default kind (builtin), the kind the
  path shows: a `.hdf5`/`.h5` file is read as D4RL's layout, a directory as RLDS. A builtin
  name never comes with a path, so such a path is refused rather than silently ignored (it
  used to train on pointmass)."""
  kind, path = dataset_config.kind, dataset_config.get("path") or ""
  if kind != "builtin" or not path:
    return kind
  if path.endswith(HDF5_SUFFIXES):
    return "d4rl_hdf5"
  if os.path.isdir(path):
    return "rlds"
  raise ValueError(
      f"config.dataset.path={path!r} was given with config.dataset.kind='builtin', and the "
      "path is neither a .hdf5/.h5 file nor an RLDS directory: set config.dataset.kind to "
      "rlds or d4rl_hdf5, or drop the path to use the builtin dataset "
      f"{dataset_config.name!r}")


def load_offline_dataset(dataset_config: ml_collections.ConfigDict, seed: int = 0
                         ) -> Tuple[Transition, Spec, Dict[str, Any]]:
  """The transitions named by `config.dataset` (kind: builtin | rlds | d4rl_hdf5)."""
  kind = dataset_kind(dataset_config)
  if kind == "builtin":
    from jaxinsert.envs import pointmass

    dataset, spec = pointmass.load_builtin_dataset(dataset_config.name, jax.random.PRNGKey(seed))
    info = {"source": f"builtin:{dataset_config.name}"}
  elif kind in ("rlds", "d4rl_hdf5"):
    if not dataset_config.path:
      raise ValueError(f"config.dataset.path is empty; kind={kind!r} needs a path")
    if not os.path.exists(dataset_config.path):
      raise FileNotFoundError(f"config.dataset.path={dataset_config.path!r} does not exist")
    from jaxinsert.data import transitions

    source = dataset_config.path
    if kind == "d4rl_hdf5":
      from jaxinsert.data.converters import d4rl_hdf5

      source = d4rl_hdf5.read_episodes(dataset_config.path)
    dataset, spec, info = transitions.load_transitions(
        source, reward_preprocessing=dataset_config.reward_preprocessing,
        action_clip=dataset_config.action_clip or None)
  else:
    raise ValueError(f"config.dataset.kind={kind!r}; expected builtin, rlds or d4rl_hdf5")
  if dataset_config.get("action_clip") and kind == "builtin":
    limit = dataset_config.action_clip
    dataset = dataset.replace(action=jax.numpy.clip(dataset.action, -limit, limit))
  return dataset, spec, info


def dataset_identity(dataset_config: ml_collections.ConfigDict) -> str:
  """What tells one dataset on disk from another at the same path: the SHA-256 of the file a
  converted RLDS dataset was made from (or of a D4RL file read directly), else the RLDS
  provenance record itself (it holds its creation time). Builtin datasets are named."""
  from jaxinsert.data import rlds
  from jaxinsert.data.converters import file_provenance

  kind = dataset_kind(dataset_config)
  if kind == "d4rl_hdf5":
    return file_provenance(dataset_config.path)["input_sha256"] or ""
  if kind == "rlds":
    provenance = rlds.load_provenance(dataset_config.path)
    if provenance.get("input_sha256"):
      return provenance["input_sha256"]
    text = json.dumps(provenance, sort_keys=True, default=str)
    return "provenance:" + hashlib.sha256(text.encode()).hexdigest()
  return f"builtin:{dataset_config.name}"


def environment_spec(env_name: str, env_kwargs: Optional[Dict[str, Any]] = None):
  """The observation shape and action size of environment `env_name` (an EnvSpec)."""
  from jaxinsert.training import environments

  env_kwargs = env_kwargs or {}
  if environments.is_gymnasium_id(env_name):
    vec_env = environments.make_vector_env(env_name, 1, **env_kwargs)
    try:
      return vec_env.spec
    finally:
      getattr(vec_env, "close", lambda: None)()
  return environments.make_functional_env(env_name, **env_kwargs).spec


def check_dataset_fits_environment(spec: Spec, env_name: str, source: str = "the dataset",
                                   env_kwargs: Optional[Dict[str, Any]] = None) -> None:
  """Refuses, before any update, data whose observations or actions the evaluation
  environment cannot take (it would otherwise fail only after the whole budget)."""
  env_spec = environment_spec(env_name, env_kwargs)
  problems = []
  if tuple(spec.obs_shape) != tuple(env_spec.obs_shape):
    problems.append(f"observations of shape {tuple(spec.obs_shape)}, the environment's are "
                    f"{tuple(env_spec.obs_shape)}")
  if int(spec.action_dim) != int(env_spec.action_dim):
    problems.append(f"{spec.action_dim} action dimensions, the environment has {env_spec.action_dim}")
  if problems:
    raise ValueError(f"{source} does not fit config.env.name={env_name!r}: it has "
                     f"{'; '.join(problems)}. Set config.env.name to the environment the data "
                     "came from, or to '' to train without evaluation.")


def _start_run(config: ml_collections.ConfigDict, workdir: str, eval_envs: int):
  """Checks the config, loads the dataset, checks it against the evaluation environment and
  builds the evaluator (None without an env). Provenance is written by the caller once the
  checkpoint (if any) has been accepted, so a refused resume leaves the old record in place.

  Records the dataset's identity in `config.dataset.identity`, which the checkpoint's run
  fingerprint includes: a checkpoint trained on other data at the same path (a regenerated
  dataset) is refused instead of silently resumed.
  """
  from jaxinsert.training import config as run_config

  run_config.validate(config)
  kind = dataset_kind(config.dataset)
  if kind != config.dataset.kind:
    print(f"config.dataset.path={config.dataset.path!r} given without a kind: read as "
          f"kind={kind!r}")
    with config.unlocked():
      config.dataset.kind = kind
  os.makedirs(workdir, exist_ok=True)
  dataset, spec, data_info = load_offline_dataset(config.dataset, config.seed)
  with config.unlocked():
    config.dataset.identity = dataset_identity(config.dataset)
  evaluator = None
  if config.env.name:
    kwargs = run_config.env_kwargs(config)
    check_dataset_fits_environment(spec, config.env.name,
                                   f"dataset {data_info.get('source') or config.dataset.path}", kwargs)
    evaluator = evaluation.make_evaluator(get_agent(config.agent_name), config.env.name,
                                          config.eval_episodes, num_envs=eval_envs,
                                          seed=config.seed + 10_000, env_kwargs=kwargs)
  return dataset, spec, data_info, evaluator


def _write_provenance(workdir: str, config: ml_collections.ConfigDict, data_info: Dict[str, Any],
                      dataset: Transition) -> None:
  logging.write_provenance(workdir, config.to_dict(), {"dataset": data_info,
                                                       "dataset_size": dataset.size})


def run_offline(config: ml_collections.ConfigDict, workdir: str, progress: bool = True
                ) -> Dict[str, Any]:
  started = time.time()
  dataset, spec, data_info, evaluator = _start_run(config, workdir, config.env.num_envs)
  trainer = OfflineTrainer(config, workdir, dataset, spec, evaluator=evaluator, progress=progress)
  try:
    state = trainer.initial_state()  # refuses another run's checkpoint before provenance is touched
    _write_provenance(workdir, config, data_info, dataset)
    state = trainer.train(state)
    final = trainer.evaluate(state, int(state.step))
  finally:
    trainer.close()
  logging.plot_learning_curves(os.path.join(workdir, "metrics.jsonl"),
                               os.path.join(workdir, "learning_curves.png"),
                               title=f"{config.agent_name} on {data_info.get('source', '')}")
  results = {"agent": config.agent_name, "steps": int(state.step), "num_seeds": config.num_seeds,
             "dataset_size": dataset.size, "evaluation": final,
             "wall_clock_seconds": time.time() - started}
  with open(os.path.join(workdir, "results.json"), "w") as handle:
    json.dump(results, handle, indent=2, default=float)
  return results


def run_online(config: ml_collections.ConfigDict, workdir: str, progress: bool = True
               ) -> Dict[str, Any]:
  """Offline pretraining for `config.offline_steps`, then online finetuning in `config.env.name`."""
  from jaxinsert.training import config as run_config
  from jaxinsert.training import environments
  from jaxinsert.training.online import OnlineTrainer

  if "offline_steps" not in config:
    raise ValueError("this config has no online fields (offline_steps, online_steps, ...): "
                     "build it with jaxinsert.training.config.online_run_config")
  if not config.env.name:
    raise ValueError("online finetuning needs an environment: set config.env.name")
  scanned = config.get("online_loop", "host") == "scan"
  if scanned and environments.is_gymnasium_id(config.env.name):
    raise ValueError(f"config.online_loop='scan' needs a functional jaxinsert environment; "
                     f"{config.env.name!r} is a gymnasium id (use online_loop='host')")
  if not scanned and config.num_seeds != 1:
    raise ValueError(f"config.num_seeds={config.num_seeds}: the host online loop runs one seed per "
                     "process; config.online_loop='scan' runs several at once")
  started = time.time()
  # config.env.num_envs counts the collecting environments; evaluation uses up to 10.
  dataset, spec, data_info, evaluator = _start_run(config, workdir, min(config.eval_episodes, 10))
  timings = {}
  if config.get("initialize_replay_with_offline", False) and config.replay_capacity < dataset.size:
    # Found before pretraining, not after its whole budget.
    raise ValueError(f"config.replay_capacity={config.replay_capacity} is smaller than the {dataset.size} "
                     "offline transitions that config.initialize_replay_with_offline=True puts in the "
                     "replay ring; raise it or set initialize_replay_with_offline=False")
  # The pretraining stage counts updates; the online intervals count environment steps.
  interval = config.get("offline_checkpoint_interval", 0)
  if interval and interval % config.steps_per_call:
    raise ValueError(f"config.offline_checkpoint_interval={interval} must be a multiple of "
                     f"config.steps_per_call={config.steps_per_call}")
  offline_config = config.copy_and_resolve_references()
  with offline_config.unlocked():
    offline_config.max_steps = config.offline_steps
    offline_config.eval_interval = 0
    offline_config.checkpoint_interval = interval
  offline_trainer = OfflineTrainer(offline_config, os.path.join(workdir, "offline"), dataset,
                                   spec, evaluator=None, progress=progress)
  try:
    stage_start = time.time()
    offline_state = offline_trainer.initial_state()
    _write_provenance(workdir, config, data_info, dataset)
    offline_state = offline_trainer.train(offline_state)
    before = evaluator(offline_state.agent, int(offline_state.step))
    timings["offline_seconds"] = time.time() - stage_start
  finally:
    offline_trainer.close()
  if scanned:
    from jaxinsert.training.online_scan import ScannedOnlineTrainer

    online_trainer = ScannedOnlineTrainer(
        config, workdir, dataset, spec,
        environments.make_functional_env(config.env.name, **run_config.env_kwargs(config)),
        evaluator=evaluator, progress=progress)
    agent_state = offline_state.agent
  else:
    vec_env = environments.make_vector_env(config.env.name, config.env.num_envs,
                                           **run_config.env_kwargs(config))
    online_trainer = OnlineTrainer(config, workdir, dataset, spec, vec_env, evaluator=evaluator,
                                   progress=progress)
    agent_state = jax.tree_util.tree_map(lambda x: x[0], offline_state.agent)
  try:
    stage_start = time.time()
    state = online_trainer.initial_state(agent_state, config.seed)
    state = online_trainer.train(state)
    after = online_trainer.evaluate(state)
    timings["online_seconds"] = time.time() - stage_start
  finally:
    online_trainer.close()
  logging.plot_learning_curves(os.path.join(workdir, "metrics.jsonl"),
                               os.path.join(workdir, "learning_curves.png"),
                               title=f"{config.agent_name} finetuning in {config.env.name}")
  results = {"agent": config.agent_name, "offline_steps": config.offline_steps,
             "online_env_steps": int(np.max(state.env_steps)), "online_episodes": int(np.sum(state.episodes)),
             "before_finetuning": before, "after_finetuning": after, **timings,
             "wall_clock_seconds": time.time() - started}
  with open(os.path.join(workdir, "results.json"), "w") as handle:
    json.dump(results, handle, indent=2, default=float)
  return results
