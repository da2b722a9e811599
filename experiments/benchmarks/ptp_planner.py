"""PTP planner speed: plans/s at N = 1024 samples and 5 MPPI iterations on this machine.

  taskset -c 1 python experiments/benchmarks/ptp_planner.py

Measured, one plan per call (one episode's plan), after compilation (timed separately):
  flat          K = 8 or 16 subgoals with one generator (PTP w/o hierarchy);
  hierarchical  L = 3, M = 2, 2 -> 4 -> 8 and 4 -> 8 -> 16 (the study's default since ce1c3a1)
                subgoals, the segments of a level vmapped;
  leap          K = 16 subgoals from the VAE prior, each decoded and re-encoded (MLP 128x128 each);
  gcp           16 subgoals by bisection with the midpoint MLP (no MPPI: 15 network calls);
with the study's networks (generator MLP 128x128 on [h, z], latent 4, z 4; value MLP 128x128 on
[h, g]) at random weights, and the analytic generator of the tests for comparison. Beside them,
the float32 matmul peak measured in the same run (experiments/benchmarks/updates.py) and the
XLA-counted FLOPs of one plan, so that a figure from another machine can be compared. Prints a
table and, last, one JSON line. Not a test: nothing is asserted.
"""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp

from experiments.benchmarks.updates import measure_matmul_peak
from jaxinsert.networks.critics import ValueNetwork
from jaxinsert.planning import cvae, gcp, modes, mppi, vae

LATENT_DIM, Z_DIM, HIDDEN = 4, 4, (128, 128)
NUM_SAMPLES, NOISE_LEVELS = 1024, (1.0, 0.5, 0.2, 0.1, 0.1)


def _networks():
  generator_module = cvae.SubgoalCVAE(HIDDEN, Z_DIM, LATENT_DIM)
  state = jnp.zeros(LATENT_DIM)
  params = generator_module.init(jax.random.PRNGKey(0), state, state, jax.random.PRNGKey(1))
  generator = lambda s, z: generator_module.apply(params, s, z, method=cvae.SubgoalCVAE.generate)
  value_module = ValueNetwork(HIDDEN)
  value_params = value_module.init(jax.random.PRNGKey(2), jnp.zeros(2 * LATENT_DIM))
  value = lambda s, g: value_module.apply(value_params, jnp.concatenate([s, g]))
  return generator, value


def _baseline_networks():
  state_vae = vae.StateVAE(HIDDEN, LATENT_DIM, 3)
  vae_params = state_vae.init(jax.random.PRNGKey(4), jnp.zeros(3), jax.random.PRNGKey(5))
  prior_decoder = lambda z: state_vae.apply(
      vae_params, state_vae.apply(vae_params, z, method=vae.StateVAE.decode),
      method=vae.StateVAE.encode)
  midpoint_module = gcp.MidpointCVAE(HIDDEN, Z_DIM, LATENT_DIM)
  state = jnp.zeros(LATENT_DIM)
  midpoint_params = midpoint_module.init(jax.random.PRNGKey(6), state, state, state,
                                         jax.random.PRNGKey(7))
  midpoint = lambda s, g: midpoint_module.apply(midpoint_params, s, g, jnp.zeros(Z_DIM),
                                                method=gcp.MidpointCVAE.predict)
  return prior_decoder, midpoint


def _measure(name, plan, repeats=5):
  key = jax.random.PRNGKey(3)
  start = time.perf_counter()
  compiled = jax.jit(plan).lower(key).compile()
  compile_s = time.perf_counter() - start
  analysis = compiled.cost_analysis()
  analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
  flops = float(analysis.get("flops", float("nan"))) if analysis else float("nan")
  jax.block_until_ready(compiled(key))
  best = float("inf")
  for i in range(repeats):
    begin = time.perf_counter()
    jax.block_until_ready(compiled(jax.random.fold_in(key, i)))
    best = min(best, time.perf_counter() - begin)
  return {"name": name, "plans_per_s": 1.0 / best, "seconds_per_plan": best,
          "compile_s": compile_s, "gflop_per_plan": flops / 1e9}


def main():
  peak = measure_matmul_peak()
  config = mppi.MPPIConfig(num_samples=NUM_SAMPLES, noise_levels=NOISE_LEVELS)
  generator, value = _networks()
  analytic = lambda s, z: s + 0.1 * z
  analytic_value = lambda s, g: -jnp.linalg.norm(s - g) / 0.1
  start, goal = jnp.zeros(LATENT_DIM), jnp.ones(LATENT_DIM)
  prior_decoder, midpoint = _baseline_networks()
  models = modes.PlanningModels(generators=(generator,) * 3, value=value, generator_z_dim=Z_DIM,
                                prior_decoder=prior_decoder, prior_dim=LATENT_DIM,
                                midpoint=midpoint)
  shape16 = modes.PlanShape(top_subgoals=4, multiplier=2, levels=3)
  by_mode = lambda mode: (lambda k: modes.plan_subgoals(
      mode, k, start, goal, models, shape16, config,
      modes.empty_buffers(mode, shape16, Z_DIM))[0])
  cases = [
      ("flat K=8, MLP generator + value", lambda k: mppi.mppi_plan(
          k, start, goal, generator, value, 8, Z_DIM, config).subgoals),
      ("hierarchical L=3 M=2 (2-4-8), MLP", lambda k: mppi.hierarchical_plan(
          k, start, goal, [generator] * 3, [value] * 3, 2, 2, Z_DIM, config).subgoals),
      ("flat K=8, analytic generator + value", lambda k: mppi.mppi_plan(
          k, start, goal, analytic, analytic_value, 8, Z_DIM, config).subgoals),
      ("ptp: hierarchical 4-8-16, MLP, buffers", by_mode("ptp")),
      ("ptp_flat: flat K=16, MLP, buffer", by_mode("ptp_flat")),
      ("leap: flat K=16 from the VAE prior, MLP", by_mode("leap")),
      ("gcp: 16 by bisection, MLP", by_mode("gcp")),
  ]
  print(f"devices: {jax.devices()}  float32 matmul peak: {peak / 1e9:.1f} GFLOP/s")
  print(f"N = {NUM_SAMPLES}, {len(NOISE_LEVELS)} MPPI iterations per level")
  results = []
  for name, plan in cases:
    result = _measure(name, plan)
    result["fraction_of_matmul_peak"] = result["gflop_per_plan"] * 1e9 * result["plans_per_s"] / peak
    results.append(result)
    print(f"{name:40} {result['plans_per_s']:8.2f} plans/s  {result['seconds_per_plan'] * 1e3:8.1f} "
          f"ms/plan  compile {result['compile_s']:5.1f} s  {result['gflop_per_plan']:.3f} GFLOP/plan "
          f"({100 * result['fraction_of_matmul_peak']:.1f}% of peak)")
  print(json.dumps({"matmul_peak_gflops": peak / 1e9, "num_samples": NUM_SAMPLES,
                    "iterations": len(NOISE_LEVELS), "jax": jax.__version__,
                    "results": results}, default=float))


if __name__ == "__main__":
  main()
