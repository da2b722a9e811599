"""The jitted loops of the SMAC study: online PEARL (the data source and reference), SMAC's
offline phase and its self-supervised online phase (digest B.2.4, anchors section 2).

Everything runs on the device for a JAX-native family: collection is `meta_rl.rollout`, buffers
are `task_replay.TaskBuffers`, an iteration is one jitted function of (state, buffers, key), so
seeds are a `jax.vmap` over it. Slots index the family's training tasks.

PEARL iteration (oyster `rl_algorithm.py` protocol): sample `tasks_per_iteration` training
tasks; clear their encoder buffers; collect `prior_trajectories` each with a fresh z ~ p(z)
into both buffers; collect `posterior_trajectories` with z from the posterior of a context drawn
from the (just refilled) encoder buffer, into the RL buffer only; then `grad_steps` updates on
meta-batches of `meta_batch` tasks.

SMAC online iteration (Alg. 1 / B.8 decisions 6-9): sample tasks; collect
`prior_trajectories` per task in that task's environment with z ~ p(z) (and, if configured,
`posterior_trajectories` with z from the encoder buffer, rlkit's variant); replace the true
rewards by the decoder's labels (z from a context of the task's frozen offline encoder data,
encoded by the offline snapshot, one z per trajectory) unless `reward_source="true"` (the
oracle); append to the RL buffer and, unless `freeze_encoder_buffer`, to the encoder buffer;
then `grad_steps` updates. `reward_source="none"` is the control: nothing is collected and the
same updates run on the buffers as they are (it separates what more updates do from what the
new data do).
"""

from __future__ import annotations

import functools
from typing import Dict, NamedTuple, Tuple

import jax
import jax.numpy as jnp

from jaxinsert.agents import pearl, smac
from jaxinsert.data import task_replay
from jaxinsert.training import meta_rl
from jaxinsert.types import Transition


class Buffers(NamedTuple):
  rl: task_replay.TaskBuffers
  encoder: task_replay.TaskBuffers
  reward_context: task_replay.TaskBuffers   # SMAC: frozen offline encoder data (labelling)


def _as_rows(trajectories: Transition, slots_count: int) -> Transition:
  """[slots * k, T, ...] -> [slots, k * T, ...] (trajectories of one slot contiguous)."""
  return jax.tree_util.tree_map(lambda x: x.reshape((slots_count, -1) + x.shape[2:]),
                                trajectories)


def _collect(env, agent, state, tasks, slots, encoder, key, prior: int, posterior: int,
             context_size: int) -> Tuple[Transition, Transition]:
  """(prior rows, posterior rows) [slots, k * T, ...] for the tasks `tasks[slots]`."""
  prior_key, post_z_key, context_key, post_key, run_key = jax.random.split(key, 5)
  latent_dim = state.config.latent_dim
  count = slots.shape[0]
  prior_slots = jnp.repeat(slots, prior)
  prior_z = meta_rl.prior_latents(prior_key, prior_slots.shape[0], latent_dim)
  prior_rows = _as_rows(meta_rl.rollout(env, agent, state, tasks[prior_slots], prior_z,
                                        run_key, False), count)
  post_rows = None
  if posterior:
    post_slots = jnp.repeat(slots, posterior)
    context, mask = task_replay.sample(encoder, context_key, post_slots, context_size)
    post_z = meta_rl.posterior_latents(agent, state, context, mask, post_z_key)
    post_rows = _as_rows(meta_rl.rollout(env, agent, state, tasks[post_slots], post_z,
                                         post_key, False), count)
  return prior_rows, post_rows


def _train(agent, state, buffers: Buffers, key, steps: int, meta_batch: int, batch: int,
           context_size: int, critic_reward=None):
  """`steps` updates; `critic_reward` (PEARL on a sparse family): (slots -> the RL rows' reward
  recomputed from their next observation and task), so the critic learns from a dense shaping
  reward while the context keeps the stored sparse one (oyster's sparse-reward recipe)."""
  num_tasks = buffers.rl.num_tasks

  def body(agent_state, step_key):
    slot_key, batch_key, update_key = jax.random.split(step_key, 3)
    slots = jax.random.choice(slot_key, num_tasks, (meta_batch,), replace=meta_batch > num_tasks)
    meta = task_replay.meta_batch(buffers.rl, buffers.encoder, batch_key, slots, batch,
                                  context_size)
    if critic_reward is not None:
      meta = meta._replace(batch=meta.batch.replace(reward=critic_reward(slots, meta.batch)))
    return agent.update(agent_state, meta, update_key)

  state, metrics = jax.lax.scan(body, state, jax.random.split(key, steps))
  return state, jax.tree_util.tree_map(jnp.mean, metrics)


# ------------------------------------------------------------------------------- PEARL
@functools.partial(jax.jit, static_argnums=(0, 4))
def pearl_initial(env, state, buffers: Buffers, tasks, trajectories: int, key):
  """PEARL's initial collection: `trajectories` prior-z trajectories of every training task."""
  slots = jnp.arange(tasks.shape[0])
  rows, _ = _collect(env, pearl, state, tasks, slots, buffers.encoder, key, trajectories, 0, 1)
  return buffers._replace(rl=task_replay.append(buffers.rl, slots, rows),
                          encoder=task_replay.append(buffers.encoder, slots, rows))


@functools.partial(jax.jit, static_argnums=(0, 1), static_argnames=("shaped_critic",),
                   donate_argnums=(3,))
def pearl_iteration(env, loop, state, buffers: Buffers, tasks, key, shaped_critic: bool = False):
  """One PEARL iteration (module docstring); `loop` is a hashable tuple of its sizes:
  (tasks_per_iteration, prior_trajectories, posterior_trajectories, grad_steps, meta_batch,
  batch_per_task, context_size). `shaped_critic`: the critic's rewards are the family's
  `env.shaped_reward(next_obs, task)` (a sparse family's dense shaping); buffers, context and
  the returned metrics keep the env's own (sparse) reward. `buffers` is donated (its device
  memory is reused for the returned buffers: one copy in memory instead of two): pass a copy
  where the caller needs it again."""
  per_iteration, prior, posterior, steps, meta_batch, batch, context_size = loop
  slot_key, collect_key, train_key = jax.random.split(key, 3)
  num_tasks = tasks.shape[0]
  slots = jax.random.choice(slot_key, num_tasks, (per_iteration,), replace=False)
  encoder = task_replay.clear(buffers.encoder, slots)
  prior_rows, post_rows = _collect(env, pearl, state, tasks, slots, encoder, collect_key,
                                   prior, 0, context_size)
  encoder = task_replay.append(encoder, slots, prior_rows)
  rl = task_replay.append(buffers.rl, slots, prior_rows)
  if posterior:
    _, post_rows = _collect(env, pearl, state, tasks, slots, encoder,
                            jax.random.fold_in(collect_key, 1), 0, posterior, context_size)
    rl = task_replay.append(rl, slots, post_rows)
  buffers = buffers._replace(rl=rl, encoder=encoder)
  critic_reward = None
  if shaped_critic:   # rows [meta_batch, batch, ...], task rows broadcast over the batch axis
    critic_reward = lambda slots, rows: env.shaped_reward(rows.next_obs, tasks[slots][:, None])
  state, metrics = _train(pearl, state, buffers, train_key, steps, meta_batch, batch, context_size,
                          critic_reward)
  metrics["explore_return"] = jnp.sum(prior_rows.reward) / (per_iteration * prior)
  return state, buffers, metrics


# -------------------------------------------------------------------------------- SMAC
# Where an online iteration's rewards come from: the decoder (SMAC), the env (the oracle), or
# nowhere: "none" collects nothing and only updates (the control).
REWARD_SOURCES = ("decoder", "true", "none")

@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def smac_offline(agent, steps: int, sizes, state, buffers: Buffers, key):
  """`steps` offline updates (Alg. 1, first loop); sizes = (meta_batch, batch, context_size)."""
  return _train(agent, state, buffers, key, steps, *sizes)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def smac_online_iteration(env, loop, reward_source: str, state, labeller, buffers: Buffers,
                          tasks, key):
  """One self-supervised iteration (module docstring). `loop` = (tasks_per_iteration,
  prior_trajectories, posterior_trajectories, grad_steps, meta_batch, batch, context_size,
  freeze_encoder_buffer); reward_source "decoder" (SMAC), "true" (the oracle) or "none" (the
  control: no collection, the updates only)."""
  (per_iteration, prior, posterior, steps, meta_batch, batch, context_size,
   freeze_encoder) = loop
  if reward_source not in REWARD_SOURCES:
    raise ValueError(f"reward_source must be one of {REWARD_SOURCES}, got {reward_source!r}")
  slot_key, collect_key, label_key, context_key, train_key = jax.random.split(key, 5)
  if reward_source == "none":
    state, train_metrics = _train(smac, state, buffers, train_key, steps, meta_batch, batch,
                                  context_size)
    return state, buffers, train_metrics
  slots = jax.random.choice(slot_key, tasks.shape[0], (per_iteration,), replace=False)
  prior_rows, post_rows = _collect(env, smac, state, tasks, slots, buffers.encoder, collect_key,
                                   prior, posterior, context_size)
  rows = prior_rows if post_rows is None else jax.tree_util.tree_map(
      lambda a, b: jnp.concatenate([a, b], 1), prior_rows, post_rows)
  horizon = env.spec.max_episode_steps
  trajectories = jax.tree_util.tree_map(
      lambda x: x.reshape((-1, horizon) + x.shape[2:]), rows)     # [slots * k, T, ...]
  traj_slots = jnp.repeat(slots, trajectories.reward.shape[0] // per_iteration)
  context, mask = task_replay.sample(buffers.reward_context, context_key, traj_slots, context_size)
  labels = smac.label_rewards(labeller, trajectories.obs, trajectories.action, context, mask,
                              label_key)
  metrics = {"label_mse": jnp.mean((labels - trajectories.reward) ** 2),
             "explore_return": jnp.mean(jnp.sum(trajectories.reward, 1))}
  if reward_source == "decoder":
    trajectories = trajectories.replace(reward=labels)
  rows = _as_rows(trajectories, per_iteration)
  rl = task_replay.append(buffers.rl, slots, rows)
  encoder = buffers.encoder if freeze_encoder else task_replay.append(buffers.encoder, slots, rows)
  buffers = buffers._replace(rl=rl, encoder=encoder)
  state, train_metrics = _train(smac, state, buffers, train_key, steps, meta_batch, batch,
                                context_size)
  return state, buffers, {**train_metrics, **metrics}


@functools.partial(jax.jit, static_argnums=(0, 1, 3, 4))
def evaluate(env, agent, state, num_trajectories: int, repeats: int, tasks, key) -> jax.Array:
  """meta_rl.meta_test, jitted: returns [tasks, repeats, num_trajectories]."""
  return meta_rl.meta_test(env, agent, state, tasks, key, num_trajectories, repeats)


def seed_keys(seed: int, count: int, stream: int) -> jax.Array:
  """`count` keys of one named stream (stream ids keep data, training and evaluation apart)."""
  return jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), stream), count)


def mean_metrics(metrics: Dict[str, jax.Array]) -> Dict[str, float]:
  return {name: float(jnp.mean(value)) for name, value in metrics.items()}
