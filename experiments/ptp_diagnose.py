"""Where PTP's episodes fail, on a finished PTP workdir (issue 19): for each seed's agents and
models and each planner setting, the success, the share of episodes that ever lift above the
tray walls, and the share of plans with a planned jump that cuts through an obstacle (a tray
wall below its top, a barrier); and, as a control, the same agents following hand-made
feasible subgoals (lift, carry above every obstacle, over the hole, the goal).

  python experiments/ptp_diagnose.py --workdir=runs/ptp_tray_indep --values_weights=0.01,0.1
"""

import json

from absl import app, flags

from experiments import ptp_runs

ptp_runs.define_run_flags()
flags.DEFINE_bool("models_per_seed", True, "the run's config.models_per_seed")
flags.DEFINE_list("values_weights", ["0.01"], "planner eta values to evaluate")
flags.DEFINE_list("timeouts", ["6"], "subgoal timeouts to evaluate")
flags.DEFINE_list("prior_weights", ["0.01"], "planner prior weights to evaluate")
flags.DEFINE_list("top_subgoals", ["2"], "planner top-level subgoal counts to evaluate")
flags.DEFINE_bool("control", True, "also follow hand-made feasible subgoals")
flags.DEFINE_integer("episodes", 32, "episodes per seed and setting")
flags.DEFINE_string("value_workdir", None, "plan with the value V(s, g) of this workdir's agents "
                    "(same `--agents` name; its latent models must be the run's), the policy "
                    "staying the run's own")
flags.DEFINE_string("out", None, "json file for the results")
FLAGS = flags.FLAGS


def main(_):
  import dataclasses
  import itertools

  import jax
  import jax.numpy as jnp
  import numpy as np

  from jaxinsert.agents import gciql
  from jaxinsert.planning import runner

  config, pipeline, states = ptp_runs.open_flagged_run(models_per_seed=FLAGS.models_per_seed)
  if FLAGS.value_workdir:
    from jaxinsert.training import ptp_pipeline
    planner_value = ptp_pipeline.PTPPipeline(config, FLAGS.value_workdir, progress=False)
    states = states.replace(value=planner_value.saved_agents(FLAGS.agents).value)
  results = {"workdir": FLAGS.workdir, "agents": FLAGS.agents,
             "value_workdir": FLAGS.value_workdir, "settings": []}
  env = pipeline.env
  models = pipeline.models()
  seeds = config.num_seeds
  seed_keys = jax.random.split(jax.random.PRNGKey(config.seed + 3), seeds)

  def cuts(plan_positions, scene=env):   # (..., K + 1, 3): start then subgoals
    return ptp_runs.plan_cuts(scene, plan_positions)

  tray_only = dataclasses.replace(env, barriers=())   # the same scene without its barriers
  socket = np.asarray(env.socket_center_m)

  for eta, timeout, prior, top in itertools.product(FLAGS.values_weights, FLAGS.timeouts,
                                                    FLAGS.prior_weights, FLAGS.top_subgoals):
    if True:
      config.planner.top_subgoals = int(top)
      config.planner.values_weight, config.planner.subgoal_timeout = float(eta), int(timeout)
      config.planner.prior_weight = float(prior)
      out, plan = ptp_runs.ptp_plans(pipeline, states, models, seed_keys, FLAGS.episodes)
      pair_cuts = cuts(plan)
      lifted = out["positions"][..., 2].max(-1) >= env.wall_height_m
      barrier_cuts = pair_cuts & ~cuts(plan, tray_only)   # jumps that cut only a barrier
      last = out["subgoals"].shape[-2] - 1
      final_xy = out["positions"][..., -1, :2]
      near_axis = np.abs(final_xy - socket).max(-1) < 0.03
      row = {"values_weight": float(eta), "subgoal_timeout": int(timeout),
             "prior_weight": float(prior), "top_subgoals": int(top),
             "success_per_seed": out["success"].mean(1).tolist(),
             "lifted_above_tray_walls_per_seed": lifted.mean(1).tolist(),
             "plans_cutting_an_obstacle_per_seed": pair_cuts.any(-1).mean(1).tolist(),
             "first_jump_cuts_per_seed": pair_cuts[..., 0].mean(1).tolist(),
             "plans_cutting_a_barrier_per_seed": barrier_cuts.any(-1).mean(1).tolist(),
             "plans_cutting_a_tray_wall_per_seed": cuts(plan, tray_only).any(-1).mean(1).tolist(),
             "steps_on_final_goal_per_seed": (out["subgoal_index"] == last).sum(-1).mean(1).tolist(),
             "reached_final_goal_subgoal_per_seed": (out["subgoal_index"] == last).any(-1).mean(1).tolist(),
             "ended_within_3cm_of_socket_axis_per_seed": near_axis.mean(1).tolist(),
             "final_stage_counts": np.bincount(out["stage"].ravel() + 1, minlength=5).tolist()}
      print(json.dumps(row), flush=True)
      if FLAGS.out:   # the plans and paths of this setting, for figures
        np.savez(FLAGS.out.replace(".json", "") + f"_eta{eta}_t{timeout}_p{prior}_top{top}.npz",
                 plan=plan, positions=out["positions"], subgoal_index=out["subgoal_index"],
                 success=out["success"])
      results["settings"].append(row)

  if not FLAGS.control:
    if FLAGS.out:
      with open(FLAGS.out, "w") as handle:
        json.dump(results, handle, indent=1)
    return
  # Control: hand-made feasible subgoals in each seed's latent space.
  top = max([env.wall_height_m] + [b[4] for b in env.barriers]) + 0.02
  goal = np.asarray(env.goal_position_m())
  tray = np.asarray(env.tray_center_m)
  waypoints = jnp.asarray([[tray[0], tray[1], top], [0.0, 0.0, top], [goal[0], goal[1], top],
                           [goal[0], goal[1], 0.005], goal])
  timeout = int(FLAGS.timeouts[0])

  def scripted(agent, m, key):
    state_vae = m[0]
    subgoals = state_vae.encode(waypoints)

    def episode(k):
      reset_key, run_key = jax.random.split(k)
      env_state = env.reset(reset_key)
      policy = lambda obs, g, kk: gciql.act(agent, jnp.concatenate([state_vae.encode(obs), g]),
                                            kk, True)
      records = runner.run_episode(env, env_state, policy, state_vae.encode, subgoals, run_key,
                                   env.max_episode_steps, 12, config.planner.reach_threshold)
      final = records["final_state"].physics["position_m"]
      return env.is_success(final), records["next_obs"][:, 2].max() >= env.wall_height_m
    return jax.vmap(episode)(jax.random.split(key, FLAGS.episodes))

  success, lifted = jax.tree_util.tree_map(np.asarray, jax.jit(jax.vmap(scripted))(
      states, models, seed_keys))
  control = {"scripted_subgoals_success_per_seed": success.mean(1).tolist(),
             "scripted_subgoals_lifted_per_seed": lifted.mean(1).tolist(),
             "scripted_timeout": 12}
  print(json.dumps(control), flush=True)
  results["control"] = control
  del timeout
  if FLAGS.out:
    with open(FLAGS.out, "w") as handle:
      json.dump(results, handle, indent=1)


if __name__ == "__main__":
  app.run(main)
