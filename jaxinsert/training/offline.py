"""The offline training loop: many updates per host call, seeds vmapped, resumable.

The dataset lives on the device. One host call runs `steps_per_call` updates as a single
`lax.scan` whose body samples its own batch, so the host only wakes up to log, evaluate and
checkpoint. `num_seeds` independent seeds share one compiled program through `jax.vmap`.
Checkpoints hold every seed's state, sampler key and the step, so a resumed run ends exactly
where an uninterrupted one does.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from types import ModuleType
from typing import Any, Callable, Dict, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import struct
from tqdm import tqdm

from jaxinsert.data import samplers
from jaxinsert.agents import get_agent
from jaxinsert.training import checkpoints, evaluation, logging, parallel
from jaxinsert.types import Spec, Transition


class DivergenceError(RuntimeError):
  """Training produced a non-finite loss; the last good checkpoint is kept."""


@struct.dataclass
class RunState:
  """Everything that evolves during a run, for all seeds (leading axis = seed)."""

  agent: Any
  key: jax.Array        # per-seed sampler/update key
  step: jax.Array       # updates done (same for every seed)


def check_finite(metrics: Dict[str, Any], step: int,
                 checkpointer: checkpoints.Checkpointer) -> None:
  """Raises DivergenceError naming the last good checkpoint if any metric is non-finite."""
  bad = [name for name, value in metrics.items() if not np.all(np.isfinite(value))]
  if bad:
    latest = checkpointer.latest_step()
    raise DivergenceError(
        f"non-finite {', '.join(bad)} at step {step}; stopped. The last good checkpoint is "
        f"step {latest} in {checkpointer.directory}" if latest is not None
        else f"non-finite {', '.join(bad)} at step {step}; stopped before any checkpoint.")


def own_buffers(tree: Any) -> Any:
  """A copy in which no two leaves share a device buffer.

  Agents may alias buffers (a target network created equal to its online network), and the
  jitted steps donate their inputs, which XLA refuses for a buffer passed twice.
  """
  return jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True), tree)


def make_train_chunk(agent: ModuleType, batch_size: int, num_updates: int,
                     mesh=None, sampler: Callable = samplers.uniform) -> Callable:
  """Returns `chunk(agent_state, key, dataset) -> (agent_state, key, mean_metrics)`.

  The body of the scan samples a batch from the device-resident dataset and updates the agent;
  metrics are averaged over the chunk on the device.
  """

  def chunk(agent_state, key, dataset):
    def body(carry, _):
      state, key = carry
      key, sample_key, update_key = jax.random.split(key, 3)
      batch = sampler(dataset, sample_key, batch_size)
      if mesh is not None:
        batch = parallel.shard_batch(batch, mesh)
      state, metrics = agent.update(state, batch, update_key)
      return (state, key), metrics

    (agent_state, key), metrics = jax.lax.scan(body, (agent_state, key), None, length=num_updates)
    return agent_state, key, jax.tree_util.tree_map(jnp.mean, metrics)

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
  for name in ("log_interval", "eval_interval", "checkpoint_interval", "max_steps"):
    value = config[name]
    if value and value % config.steps_per_call:
      raise ValueError(f"config.{name}={value} must be a multiple of "
                       f"config.steps_per_call={config.steps_per_call}")


class OfflineTrainer:
  """Trains `config.agent_name` on an on-device dataset; see the module docstring."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, dataset: Transition,
               spec: Spec, evaluator: Optional[Callable[[Any, int], Dict[str, Any]]] = None,
               num_devices: Optional[int] = None, progress: bool = True):
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
    chunk = make_train_chunk(self.agent, config.batch_size, config.steps_per_call,
                             mesh=self.mesh if self.mesh.size > 1 else None)
    self._chunk = jax.jit(jax.vmap(chunk, in_axes=(0, 0, None)), donate_argnums=(0, 1))
    self.checkpointer = checkpoints.Checkpointer(
        os.path.join(workdir, "checkpoints"), run_description(config, spec),
        keep=config.keep_checkpoints)
    self.logger = logging.MetricsLogger(workdir)

  def initial_state(self) -> RunState:
    template = init_run_state(self.agent, self.config.agent, self.spec, self.config.seed,
                              self.config.num_seeds)
    restored = self.checkpointer.restore_latest(template)
    state = template if restored is None else restored[1]
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
        check_finite(metrics, step, self.checkpointer)
        metrics["updates_per_second"] = config.log_interval / max(elapsed, 1e-9)
        self.logger.write(step, metrics, prefix="train/")
        bar.set_postfix({k: f"{np.mean(v):.3g}" for k, v in list(metrics.items())[:3]})
      if config.eval_interval and step % config.eval_interval == 0 and step < max_steps:
        self.evaluate(state, step)
      if config.checkpoint_interval and step % config.checkpoint_interval == 0:
        self.checkpointer.save(step, state)
    bar.close()
    if self.checkpointer.latest_step() != step:
      self.checkpointer.save(step, state)
    return state

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
