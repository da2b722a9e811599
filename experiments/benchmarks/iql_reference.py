"""The in-run anchor for IQL's update speed: a minimal scanned IQL of the same maths.

Written for this benchmark only (plain arrays, no modules, no metrics beyond one loss), so that
jaxinsert's IQL update can be held to "at least as fast as the smallest program that does the
same arithmetic" (issue 13). Same sizes as `updates.py`: observation 17, action 6, 2x256
networks, two critics, batch 256, uniform sampling from a 1M-transition device dataset, Adam.
The maths per update is jaxinsert's (and the official IQL's) order: expectile V on the target
min Q; AWR actor on min target Q - new V; both critics on r + gamma * mask * new V(s'); Polyak.

`python experiments/bench.py --what=iql_reference`. `tests/test_iql.py` checks that one update
of this program moves every parameter as jaxinsert's IQL update does.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import jax
import jax.numpy as jnp
import optax

from experiments.benchmarks.updates import (ACTION_DIM, BATCH, HIDDEN, OBS_DIM, bench_agent,
                                            measure_matmul_peak, synthetic_dataset, time_chunk)

EXPECTILE, BETA, DISCOUNT, TAU, MAX_WEIGHT = 0.7, 3.0, 0.99, 0.005, 100.0


def _mlp_init(key, sizes: List[int]):
  keys = jax.random.split(key, len(sizes) - 1)
  return [(jax.random.normal(k, (fan_in, fan_out)) * jnp.sqrt(2.0 / fan_in), jnp.zeros(fan_out))
          for k, fan_in, fan_out in zip(keys, sizes[:-1], sizes[1:])]


def _mlp(params, x):
  for w, b in params[:-1]:
    x = jax.nn.relu(x @ w + b)
  w, b = params[-1]
  return x @ w + b


def init(key) -> Tuple[dict, dict]:
  k_actor, k_q1, k_q2, k_value = jax.random.split(key, 4)
  hidden = list(HIDDEN)
  params = {
      "actor": {"mlp": _mlp_init(k_actor, [OBS_DIM] + hidden + [ACTION_DIM]),
                "log_std": jnp.zeros(ACTION_DIM)},
      # Two critics stacked on a leading axis, evaluated with one vmap (as CriticEnsemble).
      "critic": jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]),
                                       _mlp_init(k_q1, [OBS_DIM + ACTION_DIM] + hidden + [1]),
                                       _mlp_init(k_q2, [OBS_DIM + ACTION_DIM] + hidden + [1])),
      "value": _mlp_init(k_value, [OBS_DIM] + hidden + [1]),
  }
  params["target"] = jax.tree_util.tree_map(jnp.copy, params["critic"])
  opt_state = {name: _optimizer(name).init(params[name]) for name in ("actor", "critic", "value")}
  return params, opt_state


def _optimizer(name: str) -> optax.GradientTransformation:
  # IQL's actor learning rate cosine-decays over 1M updates (official code, jaxinsert default).
  if name == "actor":
    return optax.adam(optax.cosine_decay_schedule(3e-4, 1_000_000))
  return optax.adam(3e-4)


def _q(critic, obs, action):
  inputs = jnp.concatenate([obs, action], -1)
  return jax.vmap(lambda p: _mlp(p, inputs)[..., 0])(critic)


def update(params, opt_state, batch):
  obs, action, reward, mask, next_obs = batch
  target_q = jnp.min(_q(params["target"], obs, action), axis=0)

  def value_loss(value):
    diff = target_q - _mlp(value, obs)[..., 0]
    return jnp.mean(jnp.where(diff > 0, EXPECTILE, 1 - EXPECTILE) * diff ** 2)

  def step(name, loss_fn):
    grads = jax.grad(loss_fn)(params[name])
    updates, new_opt = _optimizer(name).update(grads, opt_state[name])
    return optax.apply_updates(params[name], updates), new_opt

  value, value_opt = step("value", value_loss)
  v = _mlp(value, obs)[..., 0]
  weights = jnp.exp(jnp.minimum(BETA * (target_q - v), jnp.log(MAX_WEIGHT)))

  def actor_loss(actor):
    mean = jnp.tanh(_mlp(actor["mlp"], obs))
    log_std = jnp.clip(actor["log_std"], -5.0, 2.0)
    log_prob = jnp.sum(-0.5 * ((action - mean) * jnp.exp(-log_std)) ** 2 - log_std, -1)
    return -jnp.mean(weights * log_prob)

  target = reward + DISCOUNT * mask * _mlp(value, next_obs)[..., 0]

  def critic_loss(critic):
    return jnp.sum(jnp.mean((_q(critic, obs, action) - target) ** 2, -1))

  actor, actor_opt = step("actor", actor_loss)
  critic, critic_opt = step("critic", critic_loss)
  new_target = jax.tree_util.tree_map(lambda t, o: (1 - TAU) * t + TAU * o, params["target"],
                                      critic)
  return ({"actor": actor, "critic": critic, "value": value, "target": new_target},
          {"actor": actor_opt, "critic": critic_opt, "value": value_opt})


def make_chunk(num_updates: int):
  def chunk(params, opt_state, key, data):
    def body(carry, _):
      params, opt_state, key = carry
      key, sample_key = jax.random.split(key)
      index = jax.random.randint(sample_key, (BATCH,), 0, data[0].shape[0])
      batch = tuple(x[index] for x in data)
      params, opt_state = update(params, opt_state, batch)
      return (params, opt_state, key), None

    (params, opt_state, key), _ = jax.lax.scan(body, (params, opt_state, key), None,
                                               length=num_updates)
    return params, opt_state, key

  return chunk


def bench_reference(dataset, steps_per_call: int, calls: int) -> Dict[str, float]:
  data = (dataset.obs, dataset.action, dataset.reward, dataset.mask, dataset.next_obs)
  params, opt_state = init(jax.random.PRNGKey(0))
  key = jax.random.PRNGKey(1)
  chunk = jax.jit(make_chunk(steps_per_call), donate_argnums=(0, 1))
  compile_seconds, best = time_chunk(chunk, (params, opt_state, key), (data,), calls)
  return {"compile_seconds": compile_seconds, "updates_per_second": steps_per_call / best}


def reference_flops(dataset) -> float:
  data = (dataset.obs, dataset.action, dataset.reward, dataset.mask, dataset.next_obs)
  params, opt_state = init(jax.random.PRNGKey(0))
  analysis = jax.jit(make_chunk(1)).lower(params, opt_state, jax.random.PRNGKey(1),
                                          data).compile().cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0]
  return float(analysis.get("flops", float("nan")))


def run(rounds: int = 2, steps_per_call: int = 1000, calls: int = 3,
            dataset_size: int = 1_000_000) -> Dict[str, object]:
  """jaxinsert's IQL against the reference, alternating `rounds` times in one run, beside the
  matmul peak measured before and after."""
  from experiments.benchmarks.updates import flops_per_update

  dataset = synthetic_dataset(dataset_size, jax.random.PRNGKey(0))
  peaks = [measure_matmul_peak()]
  ours, reference = [], []
  for _ in range(rounds):
    ours.append(bench_agent("iql", dataset, steps_per_call, calls, seeds=1)["updates_per_second"])
    reference.append(bench_reference(dataset, steps_per_call, calls)["updates_per_second"])
  peaks.append(measure_matmul_peak())
  peak = max(peaks)
  # The update's own matmuls are batch 256 x 256 hidden units: the roofline at that size, where
  # a CPU reaches less of its large-matrix peak, is the one the update can approach.
  small_peak = measure_matmul_peak(size=HIDDEN[0], repeats=200)
  flops_ours, flops_ref = flops_per_update("iql", dataset), reference_flops(dataset)
  result = {
      "matmul_peak_gflops": [round(p / 1e9, 1) for p in peaks],
      "iql_updates_per_second": [round(x, 1) for x in ours],
      "reference_updates_per_second": [round(x, 1) for x in reference],
      "ratio_best_to_best": round(max(ours) / max(reference), 3),
      "mflops_per_update": {"iql": round(flops_ours / 1e6, 1),
                            "reference": round(flops_ref / 1e6, 1)},
      "fraction_of_matmul_peak": {"iql": round(flops_ours * max(ours) / peak, 3),
                                  "reference": round(flops_ref * max(reference) / peak, 3)},
      "matmul_peak_at_hidden_size_gflops": round(small_peak / 1e9, 1),
      "fraction_of_matmul_peak_at_hidden_size": {
          "iql": round(flops_ours * max(ours) / small_peak, 3),
          "reference": round(flops_ref * max(reference) / small_peak, 3)},
  }
  print(f"matmul peak GFLOP/s (before, after): {result['matmul_peak_gflops']}")
  print(f"jaxinsert IQL updates/s: {result['iql_updates_per_second']}  "
        f"reference: {result['reference_updates_per_second']}  "
        f"ratio {result['ratio_best_to_best']}")
  print(f"MFLOP/update (XLA): {result['mflops_per_update']}  "
        f"fraction of peak: {result['fraction_of_matmul_peak']}")
  print(f"matmul peak at {HIDDEN[0]}x{HIDDEN[0]}: {result['matmul_peak_at_hidden_size_gflops']} GFLOP/s, "
        f"fraction of it: {result['fraction_of_matmul_peak_at_hidden_size']}")
  return result


if __name__ == "__main__":
  import json

  print(json.dumps(run()))
