"""A control on a finished `lid_socket` PTP workdir (issue 19): the run's agents following
hand-made feasible subgoals (lift out of the tray, carry beside the lid's -y edge, go down
beside it, push it open, back over the hole, the goal) instead of planned ones. Success here
and not with the planner puts the failure in the plans; failure here puts it in the policy.

  python experiments/ptp_lid_control.py --workdir=runs/lid_def_s0 --config=experiments/configs/ptp_lid.py
"""

import json

from absl import app, flags

from experiments import ptp_runs

ptp_runs.define_run_flags(task=None)
flags.DEFINE_integer("episodes", 32, "episodes per seed")
flags.DEFINE_integer("timeout", 8, "steps on one hand-made subgoal before the next")
flags.DEFINE_enum("subgoals", "all", ["all", "side_pushed", "side"],
                  "all: the 7 waypoints; side_pushed: beside the lid, pushed open, the goal; "
                  "side: beside the lid, the goal")
FLAGS = flags.FLAGS


def main(_):
  import jax
  import jax.numpy as jnp
  import numpy as np

  from jaxinsert.agents import gciql
  from jaxinsert.planning import runner

  config, pipeline, states = ptp_runs.open_flagged_run(task="lid_socket")
  env, lid = pipeline.env, pipeline.env.lid
  (tray_x, tray_y), (x, y) = env.tray_center_m, env.socket_center_m
  side_y, side_z, carry = y - lid.half_length_m - 0.012, 0.4 * lid.height_m, 0.08
  pushed_y = y - lid.half_length_m + lid.goal_offset_m
  waypoints = jnp.asarray([
      [tray_x, tray_y, carry, 0.0], [0.0, side_y, carry, 0.0], [x, side_y, carry, 0.0],
      [x, side_y, side_z, 0.0], [x, pushed_y, side_z, lid.goal_offset_m],
      [x, y, side_z, lid.goal_offset_m], np.asarray(env.goal_state())])
  waypoints = waypoints[{"all": np.arange(7), "side_pushed": np.array([3, 4, 6]),
                         "side": np.array([3, 6])}[FLAGS.subgoals]]
  keys = jax.random.split(jax.random.PRNGKey(config.seed + 3), config.num_seeds)

  def control(agent, models, key):
    state_vae = models[0]
    subgoals = state_vae.encode(waypoints)
    policy = lambda obs, g, k: gciql.act(agent, jnp.concatenate([state_vae.encode(obs), g]), k,
                                         True)

    def episode(k):
      reset_key, run_key = jax.random.split(k)
      records = runner.run_episode(env, env.reset(reset_key), policy, state_vae.encode, subgoals,
                                   run_key, env.max_episode_steps, FLAGS.timeout,
                                   config.planner.reach_threshold)
      final = records["final_state"].obs
      return env.is_success(final), env.hole_open(final), records["subgoal_index"].max()
    return jax.vmap(episode)(jax.random.split(key, FLAGS.episodes))

  success, lid_open, furthest = jax.tree_util.tree_map(
      np.asarray, jax.jit(jax.vmap(control))(states, pipeline.models(), keys))
  print(json.dumps({"workdir": FLAGS.workdir, "agents": FLAGS.agents, "timeout": FLAGS.timeout,
                    "subgoals": FLAGS.subgoals,
                    "success_per_seed": success.mean(1).tolist(),
                    "lid_open_at_end_per_seed": lid_open.mean(1).tolist(),
                    "furthest_subgoal_counts": np.bincount(furthest.ravel(),
                                                           minlength=len(waypoints)).tolist()}))


if __name__ == "__main__":
  app.run(main)
