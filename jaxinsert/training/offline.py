"""The offline training loop: many updates per host call, seeds vmapped, resumable.

The dataset lives on the device. One host call runs `steps_per_call` updates as a single
`lax.scan` whose body samples its own batch, so the host only wakes up to log, evaluate and
checkpoint. `num_seeds` independent seeds share one compiled program through `jax.vmap`.
Checkpoints hold every seed's state, sampler key and the step, so a resumed run ends exactly
where an uninterrupted one does.

Divergence (`divergence_reasons`) is defined on every metric an agent reports, not only the
critic's: any non-finite value, a loss beyond +-`DIVERGENCE_LOSS_LIMIT`, or a log-probability
of the data's actions below `DIVERGENCE_LOG_PROB_PER_DIM` per action dimension (a policy that
gives the actions it imitates essentially no density). Metrics are checked at every log and
before every save, and every floating leaf of the state (parameters and optimiser moments)
must be finite before it is saved, so the checkpoint a divergence error names is a finite one.
"""

from __future__ import annotations

import functools
import json
import os
import time
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import struct
from tqdm import tqdm

from jaxinsert.data import samplers
from jaxinsert.agents import get_agent
from jaxinsert.training import checkpoints, logging, parallel
from jaxinsert.types import Spec, Transition


class DivergenceError(RuntimeError):
  """Training produced a non-finite loss; the last good checkpoint is kept."""


@struct.dataclass
class RunState:
  """Everything that evolves during a run, for all seeds (leading axis = seed)."""

  agent: Any
  key: jax.Array        # per-seed sampler/update key
  step: jax.Array       # updates done (same for every seed)


# A loss this large has left any scale a reward or a Q-value takes (a TD error of 1e4).
DIVERGENCE_LOSS_LIMIT = 1e8
# Mean log-probability of dataset actions per action dimension: a healthy Gaussian policy sits
# near -1..+5; -1000 means the data's actions are ~45 standard deviations from the mean.
DIVERGENCE_LOG_PROB_PER_DIM = -1000.0


def divergence_reasons(metrics: Dict[str, Any], action_dim: Optional[int] = None,
                       loss_limit: float = DIVERGENCE_LOSS_LIMIT,
                       log_prob_per_dim: float = DIVERGENCE_LOG_PROB_PER_DIM) -> List[str]:
  """Why these metrics mean the run has diverged (empty when it has not); see module docstring."""
  reasons = []
  for name, value in metrics.items():
    array = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(array)):
      reasons.append(f"non-finite {name}")
    elif name.endswith("loss") and np.max(np.abs(array), initial=0.0) > loss_limit:
      reasons.append(f"{name} = {np.max(np.abs(array)):.3g} beyond +-{loss_limit:.3g}")
    elif (name.endswith("log_prob") and action_dim
          and np.min(array, initial=0.0) < log_prob_per_dim * action_dim):
      reasons.append(f"{name} = {np.min(array):.4g} below {log_prob_per_dim:g} x {action_dim} "
                     "action dimensions")
  return reasons


def _last_good(checkpointer: checkpoints.Checkpointer) -> str:
  latest = checkpointer.latest_step()
  if latest is None:
    return "stopped before any checkpoint."
  return f"stopped. The last good checkpoint is step {latest} in {checkpointer.directory}"


def check_finite(metrics: Dict[str, Any], step: int,
                 checkpointer: checkpoints.Checkpointer, action_dim: Optional[int] = None) -> None:
  """Raises DivergenceError naming the last good checkpoint if the metrics show divergence
  (`divergence_reasons`; without `action_dim` the log-probability rule is off)."""
  reasons = divergence_reasons(metrics, action_dim)
  if reasons:
    raise DivergenceError(f"{', '.join(reasons)} at step {step}; {_last_good(checkpointer)}")


def nonfinite_leaves(tree: Any) -> List[str]:
  """Key paths of the floating arrays of `tree` that hold a NaN or an infinity."""
  with_paths = jax.tree_util.tree_flatten_with_path(tree)[0]
  floating = [(path, leaf) for path, leaf in with_paths
              if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)]
  finite = jax.device_get([jnp.all(jnp.isfinite(leaf)) for _, leaf in floating])
  return [jax.tree_util.keystr(path) for (path, _), ok in zip(floating, finite) if not ok]


def check_state_finite(state: Any, step: int, checkpointer: checkpoints.Checkpointer) -> None:
  """Raises DivergenceError (nothing saved) if any parameter or optimiser moment is non-finite."""
  bad = nonfinite_leaves(state)
  if bad:
    more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    raise DivergenceError(f"non-finite state at step {step} ({', '.join(bad[:3])}{more}); not "
                          f"saved; {_last_good(checkpointer)}")


def own_buffers(tree: Any) -> Any:
  """A copy in which no two leaves share a device buffer.

  Agents may alias buffers (a target network created equal to its online network), and the
  jitted steps donate their inputs, which XLA refuses for a buffer passed twice.
  """
  return jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True), tree)


def scan_updates(update: Callable, sample: Callable, agent_state, key, num_updates: int):
  """`num_updates` agent updates in one `lax.scan`: the one update loop of every trainer
  (offline, online finetuning, SAC data collection).

  Each step splits the carried key into the next key, a batch key for `sample(key) -> batch`
  and a key for `update(state, batch, key) -> (state, metrics)`. Returns (agent_state, key,
  metrics averaged over the steps, on the device).
  """

  def body(carry, _):
    state, key = carry
    key, sample_key, update_key = jax.random.split(key, 3)
    state, metrics = update(state, sample(sample_key), update_key)
    return (state, key), metrics

  (agent_state, key), metrics = jax.lax.scan(body, (agent_state, key), None, length=num_updates)
  return agent_state, key, jax.tree_util.tree_map(jnp.mean, metrics)


def vmap_seeds(fn: Callable, in_axes: Tuple[Optional[int], ...]) -> Callable:
  """`jax.vmap(fn, in_axes)` over a leading seed axis, except that a group of one seed runs `fn`
  unbatched (its arguments squeezed, its outputs given the axis back). Batching over an axis of
  size 1 costs IQL's update about 9% on CPU (batched dots and extra copies in the compiled
  program; `python experiments/bench.py --what=iql_reference`), for the same arithmetic."""
  batched = jax.vmap(fn, in_axes=in_axes)

  def run(*args):
    mapped = [arg for arg, axis in zip(args, in_axes) if axis == 0]
    if jax.tree_util.tree_leaves(mapped)[0].shape[0] != 1:
      return batched(*args)
    squeezed = [jax.tree_util.tree_map(lambda x: x[0], arg) if axis == 0 else arg
                for arg, axis in zip(args, in_axes)]
    return jax.tree_util.tree_map(lambda x: x[None], fn(*squeezed))

  return run


def make_train_chunk(agent: ModuleType, batch_size: int, num_updates: int,
                     mesh=None, sampler: Callable = samplers.uniform) -> Callable:
  """Returns `chunk(agent_state, key, dataset) -> (agent_state, key, mean_metrics)`: batches
  sampled from the device-resident dataset (sharded over `mesh` when given)."""

  def chunk(agent_state, key, dataset):
    def sample(sample_key):
      batch = sampler(dataset, sample_key, batch_size)
      return batch if mesh is None else parallel.shard_batch(batch, mesh)

    return scan_updates(agent.update, sample, agent_state, key, num_updates)

  return chunk


def init_run_state(agent: ModuleType, agent_config, spec: Spec, seed: int, num_seeds: int) -> RunState:
  """Seed i of the group is seeded with `seed + i`, so seed groups are comparable across runs."""
  seed_keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(seed, seed + num_seeds))
  init_keys, train_keys = jnp.split(jax.vmap(lambda k: jax.random.split(k))(seed_keys), 2, axis=1)
  agent_states = jax.vmap(lambda k: agent.create(agent_config, k, spec))(init_keys[:, 0])
  return RunState(agent=agent_states, key=train_keys[:, 0], step=jnp.zeros((), jnp.int32))


def run_description(config: ml_collections.ConfigDict, spec: Spec) -> Dict[str, Any]:
  """What must match for a checkpoint to continue this run."""
  return {
      "agent_name": config.agent_name,
      "agent": json.loads(config.agent.to_json_best_effort()),
      "spec": {"obs_shape": list(spec.obs_shape), "action_dim": spec.action_dim},
      "seed": config.seed, "num_seeds": config.num_seeds, "batch_size": config.batch_size,
      "steps_per_call": config.steps_per_call,
      "dataset": json.loads(config.dataset.to_json_best_effort()),
  }


def _check_intervals(config) -> None:
  from jaxinsert.training import config as run_config

  run_config.validate(config)
  for name in ("log_interval", "eval_interval", "checkpoint_interval", "max_steps"):
    value = config[name]
    if value and value % config.steps_per_call:
      raise ValueError(f"config.{name}={value} must be a multiple of "
                       f"config.steps_per_call={config.steps_per_call}")


@functools.lru_cache(maxsize=16)
def _compiled_chunk(agent_name: str, batch_size: int, steps_per_call: int, mesh, sampler: Callable
                    ) -> Callable:
  """One jitted, seed-vmapped chunk per (agent, batch, chunk length, mesh, sampler), shared by
  trainers: a resumed or staged run in the same process does not compile the same program again
  (the agent's static config is part of the state's tree structure, so it keys jit's own cache)."""
  chunk = make_train_chunk(get_agent(agent_name), batch_size, steps_per_call, mesh=mesh, sampler=sampler)
  return jax.jit(vmap_seeds(chunk, (0, 0, None)), donate_argnums=(0, 1))


class OfflineTrainer:
  """Trains `config.agent_name` on an on-device dataset; see the module docstring."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, dataset: Transition,
               spec: Spec, evaluator: Optional[Callable[[Any, int], Dict[str, Any]]] = None,
               num_devices: Optional[int] = None, progress: bool = True,
               sampler: Callable = samplers.uniform):
    # `sampler(dataset, key, batch_size) -> batch`; `dataset` may be any pytree the sampler
    # reads (ODA: offline and demonstration datasets, giving per-task meta-batches).
    _check_intervals(config)
    self.config = config
    self.workdir = workdir
    self.spec = spec
    self.agent = get_agent(config.agent_name)
    self.evaluator = evaluator
    self.progress = progress
    self.mesh = parallel.data_mesh(num_devices)
    if config.batch_size % self.mesh.size:
      raise ValueError(f"batch_size {config.batch_size} is not divisible by the "
                       f"{self.mesh.size} devices")
    self.dataset = parallel.put_replicated(dataset, self.mesh)
    self._chunk = _compiled_chunk(config.agent_name, config.batch_size, config.steps_per_call,
                                  self.mesh if self.mesh.size > 1 else None, sampler)
    self.checkpointer = checkpoints.Checkpointer(
        os.path.join(workdir, "checkpoints"), run_description(config, spec),
        keep=config.keep_checkpoints)
    self.logger = logging.MetricsLogger(workdir)

  def initial_state(self) -> RunState:
    template = init_run_state(self.agent, self.config.agent, self.spec, self.config.seed,
                              self.config.num_seeds)
    restored = self.checkpointer.restore_latest(template)
    state = template if restored is None else restored[1]
    # Records past the restored step came from a run killed before its next checkpoint; the
    # resumed run writes them again.
    self.logger.drop_after(0 if restored is None else restored[0])
    return parallel.put_replicated(own_buffers(state), self.mesh)

  def train(self, state: Optional[RunState] = None, max_steps: Optional[int] = None) -> RunState:
    """Runs until `max_steps` (default config.max_steps); returns the final RunState."""
    config = self.config
    state = self.initial_state() if state is None else state
    max_steps = config.max_steps if max_steps is None else max_steps
    start = int(state.step)
    bar = tqdm(total=max_steps, initial=start, desc=f"{config.agent_name} offline",
               unit="upd", disable=not self.progress, dynamic_ncols=True,
               miniters=1)  # chunks are big jumps; redraw on every one
    chunk_started = time.perf_counter()
    step = start
    while step < max_steps:
      agent_state, key, metrics = self._chunk(state.agent, state.key, self.dataset)
      step += config.steps_per_call
      state = RunState(agent=agent_state, key=key, step=jnp.asarray(step, jnp.int32))
      bar.update(config.steps_per_call)
      if step % config.log_interval == 0 or step == max_steps:
        metrics = jax.device_get(metrics)
        elapsed = time.perf_counter() - chunk_started
        chunk_started = time.perf_counter()
        check_finite(metrics, step, self.checkpointer, self.spec.action_dim)
        metrics["updates_per_second"] = config.log_interval / max(elapsed, 1e-9)
        self.logger.write(step, metrics, prefix="train/")
        bar.set_postfix({k: f"{np.mean(v):.3g}" for k, v in list(metrics.items())[:3]})
      if config.eval_interval and step % config.eval_interval == 0 and step < max_steps:
        check_finite(jax.device_get(metrics), step, self.checkpointer, self.spec.action_dim)
        self.evaluate(state, step)
      if config.checkpoint_interval and step % config.checkpoint_interval == 0:
        self._save(step, state, metrics)
    bar.close()
    if self.checkpointer.latest_step() != step:
      self._save(step, state, metrics if step > start else None)
    return state

  def _save(self, step: int, state: RunState, metrics: Optional[Dict[str, Any]]) -> None:
    """Saves only a state whose metrics show no divergence and whose every leaf is finite."""
    if metrics is not None:
      check_finite(jax.device_get(metrics), step, self.checkpointer, self.spec.action_dim)
    check_state_finite(state, step, self.checkpointer)
    self.checkpointer.save(step, state)

  def evaluate(self, state: RunState, step: int) -> Optional[Dict[str, Any]]:
    if self.evaluator is None:
      return None
    summary = self.evaluator(state.agent, step)
    self.logger.write(step, {k: v for k, v in summary.items() if not isinstance(v, tuple)},
                      prefix="eval/")
    return summary

  def close(self) -> None:
    self.logger.close()
    self.checkpointer.close()
