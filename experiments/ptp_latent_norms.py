"""How far MPPI's generator latents lie from the generators' training latents, on a finished PTP
workdir (issue 19, walled_socket): per seed and level, quantiles of ||z|| of the encoder's
posterior means q(z | s_t, s_t+dt) on the play data (what the generator was trained to
decode), and of the latents the planner chose in `ptp` episodes (empty plan buffers), with the
plan jumps that cut an obstacle split by the norm of the latent that decoded them.

  python experiments/ptp_latent_norms.py --workdir=runs/w0_base --task=walled_socket
"""

import json

from absl import app, flags

from experiments import ptp_runs

ptp_runs.define_run_flags()
flags.DEFINE_integer("episodes", 32, "episodes per seed")
flags.DEFINE_float("values_weight", 0.01, "the planner's eta")
flags.DEFINE_string("out", None, "json file for the results")
FLAGS = flags.FLAGS


def main(_):
  import jax
  import jax.numpy as jnp
  import numpy as np

  config, pipeline, states = ptp_runs.open_flagged_run()
  config.planner.values_weight = FLAGS.values_weight
  env, models = pipeline.env, pipeline.models()
  positions, _ = pipeline._play()
  quantiles = (0.5, 0.9, 0.99)
  result = {"workdir": FLAGS.workdir, "seeds": []}
  seed_keys = jax.random.split(jax.random.PRNGKey(config.seed + 3), config.num_seeds)
  out, plan = ptp_runs.ptp_plans(pipeline, states, models, seed_keys, FLAGS.episodes)
  cuts = ptp_runs.plan_cuts(env, plan)                  # (seeds, episodes, 16)
  for seed in range(config.num_seeds):
    vae, generators = jax.tree_util.tree_map(lambda x: x[seed], models)
    latents = vae.encode(jnp.asarray(positions))          # (episodes, steps + 1, d)
    row = {"seed": seed, "levels": []}
    for level, generator in enumerate(generators):
      dt = generator.config.dt
      module = generator.module()
      mean, _ = module.apply({"params": generator.params},
                             jnp.concatenate([latents[:, :-dt], latents[:, dt:]], -1),
                             method=lambda m, x: m.encoder(x))
      posterior = np.linalg.norm(np.asarray(mean), axis=-1).ravel()
      chosen = np.linalg.norm(out["level_latents"][level][seed], axis=-1)  # (episodes, seg, k)
      row["levels"].append({
          "dt": dt,
          "posterior_mean_norm_quantiles": np.quantile(posterior, quantiles).round(2).tolist(),
          "planned_norm_quantiles": np.quantile(chosen, quantiles).round(2).tolist(),
          "planned_share_above_posterior_q99": float((chosen > np.quantile(posterior, 0.99)).mean())})
    # Finest-level jumps: jump j is decoded from latent j of the finest level (the last of
    # each segment replaced by the upper level's subgoal).
    finest = np.linalg.norm(out["level_latents"][-1][seed], axis=-1).reshape(FLAGS.episodes, -1)
    seed_cuts = cuts[seed]
    replaced = np.zeros(seed_cuts.shape[-1], bool)
    replaced[config.planner.multiplier - 1::config.planner.multiplier] = True
    row["cuts"] = {
        "plans_cutting": float(seed_cuts.any(-1).mean()),
        "cut_jumps_at_replaced_subgoals": int(seed_cuts[:, replaced].sum()),
        "cut_jumps_at_decoded_subgoals": int(seed_cuts[:, ~replaced].sum()),
        "finest_norm_median_cut": float(np.median(finest[seed_cuts])) if seed_cuts.any() else None,
        "finest_norm_median_clear": float(np.median(finest[~seed_cuts])),
        "success": float(out["success"][seed].mean())}
    print(json.dumps(row), flush=True)
    result["seeds"].append(row)
  if FLAGS.out:
    with open(FLAGS.out, "w") as handle:
      json.dump(result, handle, indent=1)


if __name__ == "__main__":
  app.run(main)
