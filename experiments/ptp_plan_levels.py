"""Where in PTP's hierarchy the plans cut an obstacle, on a finished PTP workdir (issue 19,
walled_socket): per level (4 -> 8 -> 16 subgoals by default), the share of plans with a cut and
the share of cuts per jump; for the top level the median distance of each subgoal from the
socket axis and its height, and where the subgoal before the goal lies (the top level's last
jump is the forced one: its decoded subgoal is replaced by the goal). Plans with empty buffers
from each seed's evaluation starts, the offline (or named) agents' value in the cost.

  python experiments/ptp_plan_levels.py --workdir=runs/w0_base --task=walled_socket [--top_subgoals=6]
"""

import json

from absl import app, flags

from experiments import ptp_runs

ptp_runs.define_run_flags()
flags.DEFINE_integer("episodes", 32, "plans per seed")
flags.DEFINE_integer("top_subgoals", 4, "the planner's top-level subgoals")
flags.DEFINE_float("values_weight", 0.01, "the planner's eta")
flags.DEFINE_string("out", None, "json file for the results")
FLAGS = flags.FLAGS


def main(_):
  import jax
  import numpy as np

  from jaxinsert.planning import mppi
  from jaxinsert.planning import modes as planning_modes
  from jaxinsert.training.ptp_loops import PTPLoops

  config, pipeline, states = ptp_runs.open_flagged_run()
  config.planner.top_subgoals = FLAGS.top_subgoals
  config.planner.values_weight = FLAGS.values_weight
  env, models, settings = pipeline.env, pipeline.models(), pipeline._settings()
  seed_keys = jax.random.split(jax.random.PRNGKey(config.seed + 3), config.num_seeds)

  def plans(agent, model, key):
    loops = PTPLoops(env, *model, pipeline.agent_config, settings)
    planning = loops.planning_models(agent)

    def one(episode_key):   # the split of PTPLoops.episode: reset, plan
      reset_key, plan_key, _ = jax.random.split(episode_key, 3)
      env_state = env.reset(reset_key)
      init_key, mppi_key = jax.random.split(plan_key)
      initial = planning_modes._initial_latents(loops.empty_buffers(), init_key, settings.shape,
                                                settings.mppi.num_samples)
      plan = mppi.hierarchical_plan(
          mppi_key, loops.vae.encode(env_state.obs), loops.goal_latent,
          list(planning.generators), [planning.value] * settings.shape.levels,
          settings.top_subgoals, settings.multiplier, loops.z_dim, settings.mppi, initial)
      return env_state.obs, [loops.vae.decode(level) for level in plan.level_subgoals]
    return jax.vmap(one)(jax.random.split(key, FLAGS.episodes))

  starts, levels = jax.tree_util.tree_map(np.asarray, jax.jit(jax.vmap(plans))(
      states, models, seed_keys))
  socket = np.asarray(env.socket_center_m)
  result = {"workdir": FLAGS.workdir, "agents": FLAGS.agents, "top_subgoals": FLAGS.top_subgoals,
            "values_weight": FLAGS.values_weight, "levels": []}
  for index, subgoals in enumerate(levels):   # (seeds, episodes, K, 3)
    path = np.concatenate([starts[:, :, None], subgoals], 2)
    cuts = ptp_runs.plan_cuts(env, path)
    row = {"level": index, "subgoals": int(subgoals.shape[2]),
           "plans_cutting_per_seed": cuts.any(-1).mean(1).round(3).tolist(),
           "cut_share_per_jump": cuts.mean((0, 1)).round(3).tolist()}
    if index == 0:
      from_axis_cm = np.linalg.norm(subgoals[..., :2] - socket, axis=-1) * 100
      row["median_cm_from_axis_per_subgoal"] = np.median(from_axis_cm, (0, 1)).round(1).tolist()
      row["median_height_cm_per_subgoal"] = np.median(subgoals[..., 2] * 100, (0, 1)).round(1).tolist()
      row["before_goal_cm_from_axis_q10_50_90"] = np.quantile(
          from_axis_cm[..., -2], (0.1, 0.5, 0.9)).round(1).tolist()
      row["before_goal_height_cm_q10_50_90"] = np.quantile(
          subgoals[..., -2, 2] * 100, (0.1, 0.5, 0.9)).round(1).tolist()
    print(json.dumps(row), flush=True)
    result["levels"].append(row)
  if FLAGS.out:
    with open(FLAGS.out, "w") as handle:
      json.dump(result, handle, indent=1)


if __name__ == "__main__":
  app.run(main)
