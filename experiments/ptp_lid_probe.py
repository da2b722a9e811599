"""Probes of a finished `lid_socket` PTP workdir (issue 19), with the run's agents and each
seed's latent models; --probe picks one:

- plans: offline PTP episodes (mean actions, empty plan buffers) for planner settings
  N:eta (--settings): success, lid open at the end, the share of plans with a generated subgoal
  beside the lid's -y edge (x within 3 cm of the axis, y < -3 cm, z < 1.5 cm) and the mean lid
  offset of the last generated subgoal (the goal, 0.05, follows it);
- values: V(s, g) and the latent distance for hand-picked pairs (a 3 mm lid drift in the tray,
  opening the lid in one jump, the push, the goal);
- generators: from a state beside the closed lid and from the tray, each generator's decoded
  lid offset for 4096 prior samples z ~ N(0, I): the share that moves it >= 1 cm, that opens it;
- control: the run's agents (--agents) following hand-made feasible subgoals (lift out of the
  tray, carry beside the lid's -y edge, go down beside it, push it open, back over the hole, the
  goal; --subgoals, --timeout, --episodes) instead of planned ones. Success here and not with
  the planner puts the failure in the plans; failure here puts it in the policy;
- ends: where the run's evaluation episodes end (inserted, in the tray, on the closed lid's top,
  against its side (below its top, within 1 cm of it), with the lid open but not inserted, or
  elsewhere), per method (--modes), for the saved offline or finetuned (--finetuned) agents
  (not --agents), with the run's evaluation keys (mean actions; the plan buffers empty, as
  saved agents carry none).

  python experiments/ptp_lid_probe.py --workdir=runs/lid_def_s0 --probe=plans \
      --settings=256:0.01,1024:0.1
  python experiments/ptp_lid_probe.py --workdir=runs/lid_def_s0 \
      --config=experiments/configs/ptp_lid.py --probe=control
  python experiments/ptp_lid_probe.py --workdir=runs/lid_def_s0 \
      --config=experiments/configs/ptp_lid.py --probe=ends --finetuned
"""

import json

from absl import app, flags

from experiments import ptp_runs

ptp_runs.define_run_flags(task=None)
flags.DEFINE_enum("probe", "plans", ["plans", "values", "generators", "control", "ends"],
                  "what to probe")
flags.DEFINE_list("settings", ["256:0.01"], "plans: planner num_samples:values_weight pairs")
flags.DEFINE_bool("isotropic", False, "the run's config.isotropic_state_latent")
flags.DEFINE_integer("episodes", 32, "control: episodes per seed")
flags.DEFINE_integer("timeout", 8, "control: steps on one hand-made subgoal before the next")
flags.DEFINE_enum("subgoals", "all", ["all", "side_pushed", "side"],
                  "control: all: the 7 waypoints; side_pushed: beside the lid, pushed open, the "
                  "goal; side: beside the lid, the goal")
flags.DEFINE_list("modes", ["ptp", "final_goal"], "ends: planning modes to evaluate")
flags.DEFINE_bool("finetuned", False, "ends: each mode's finetuned agents (finetuned/<mode>) "
                  "instead of the offline ones, with the finetuning's last evaluation key")
FLAGS = flags.FLAGS


def plans(config, pipeline, states):
  import jax
  import numpy as np

  keys = jax.random.split(jax.random.PRNGKey(config.seed + 3), config.num_seeds)
  for setting in FLAGS.settings:
    samples, eta = setting.split(":")
    config.planner.num_samples, config.planner.values_weight = int(samples), float(eta)
    out, plan = ptp_runs.ptp_plans(pipeline, states, pipeline.models(), keys, 32)
    generated = plan[..., 1:-1, :]
    beside = ((np.abs(generated[..., 0] - pipeline.env.socket_center_m[0]) < 0.03)
              & (generated[..., 1] < -0.03) & (generated[..., 2] < 0.015))
    final = out["positions"][..., -1, :]
    print(json.dumps({"num_samples": int(samples), "values_weight": float(eta),
                      "success_per_seed": out["success"].mean(1).tolist(),
                      "lid_open_at_end": float(np.mean(final[..., 3] >=
                                                       pipeline.env.open_offset_m)),
                      "plans_beside_lid": float(beside.any(-1).mean()),
                      "last_generated_lid_offset_mean": float(generated[..., -1, 3].mean())}))


def values(config, pipeline, states):
  import jax
  import jax.numpy as jnp
  import numpy as np

  from jaxinsert.agents import gciql

  tray, goal = [-0.15, 0.0, 0.0, 0.0], list(np.asarray(pipeline.env.goal_state()))
  pairs = {"tray -> lid +3 mm": (tray, [-0.15, 0.0, 0.0, 0.003]),
           "tray -> lid open (0.045)": (tray, [-0.15, 0.0, 0.0, 0.045]),
           "tray -> 3 cm up": (tray, [-0.15, 0.0, 0.03, 0.0]),
           "beside the lid -> pushed open": ([0.15, -0.042, 0.004, 0.0], [0.15, 0.02, 0.004, 0.05]),
           "on the closed lid over the hole -> goal": ([0.15, 0.0, 0.011, 0.0], goal),
           "tray -> goal": (tray, goal)}
  vae = pipeline.models()[0]
  for name, (s, g) in pairs.items():
    s, g = jnp.asarray(s, jnp.float32), jnp.asarray(g, jnp.float32)
    value = jax.vmap(lambda a, v: gciql.goal_value(a, v.encode(s), v.encode(g)))(states, vae)
    distance = jax.vmap(lambda v: jnp.linalg.norm(v.encode(s) - v.encode(g)))(vae)
    print(json.dumps({"pair": name, "V_per_seed": np.round(np.asarray(value), 1).tolist(),
                      "latent_distance_per_seed": np.round(np.asarray(distance), 2).tolist()}))


def generators(config, pipeline, states):
  import jax
  import jax.numpy as jnp
  import numpy as np

  vae, generator_sets = pipeline.models()
  starts = {"beside the closed lid": [0.15, -0.042, 0.004, 0.0],
            "in the tray": [-0.15, 0.0, 0.0, 0.0]}
  for name, start in starts.items():
    start = jnp.asarray(start, jnp.float32)
    for generator in generator_sets:
      def sample(v, g, key):
        z = jax.random.normal(key, (4096, g.config.z_dim))
        return v.decode(jax.vmap(lambda zz: g.generate(v.encode(start), zz))(z))[:, 3]
      lid = np.asarray(jax.vmap(sample)(vae, generator,
                                        jax.random.split(jax.random.PRNGKey(0), config.num_seeds)))
      print(json.dumps({"from": name, "dt": int(generator.config.dt),
                        "moves_lid_1cm_per_seed":
                            np.round((np.abs(lid) >= 0.01).mean(1), 3).tolist(),
                        "opens_lid_per_seed": np.round((lid >= 0.045).mean(1), 3).tolist()}))


def control(config, pipeline, states):
  import jax
  import jax.numpy as jnp
  import numpy as np

  from jaxinsert.agents import gciql
  from jaxinsert.planning import runner

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

  def run_seed(agent, models, key):
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
      np.asarray, jax.jit(jax.vmap(run_seed))(states, pipeline.models(), keys))
  print(json.dumps({"workdir": FLAGS.workdir, "agents": FLAGS.agents, "timeout": FLAGS.timeout,
                    "subgoals": FLAGS.subgoals,
                    "success_per_seed": success.mean(1).tolist(),
                    "lid_open_at_end_per_seed": lid_open.mean(1).tolist(),
                    "furthest_subgoal_counts": np.bincount(furthest.ravel(),
                                                           minlength=len(waypoints)).tolist()}))


def classify(env, final):
  """Counts of final states (N, 4) by where they are (the ends probe)."""
  import numpy as np

  from jaxinsert.envs.multistage import _in_rectangle

  final = np.asarray(final)
  lid = env.lid
  x_low, x_high, y_low, y_high = env.lid_footprint_m(final[:, 3])   # y: per final state
  inserted = np.asarray([bool(env.is_success(s)) for s in final])
  in_tray = np.asarray([int(env.stage(s)) == 0 for s in final])
  over = _in_rectangle(final.T, x_low, x_high, y_low, y_high)
  on_top = over & (np.abs(final[:, 2] - lid.height_m) < 1e-4)
  near = _in_rectangle(final.T, x_low - 0.01, x_high + 0.01, y_low - 0.01, y_high + 0.01)
  side = near & ~over & (final[:, 2] < lid.height_m)
  lid_open = final[:, 3] >= env.open_offset_m
  groups = {"inserted": inserted, "in_tray": in_tray & ~inserted, "on_lid_top": on_top,
            "against_lid_side": side & ~inserted, "lid_open_not_inserted": lid_open & ~inserted}
  taken = np.zeros(len(final), bool)
  counts = {}
  for name, mask in groups.items():
    counts[name] = int(np.sum(mask & ~taken))
    taken |= mask
  counts["elsewhere"] = int(np.sum(~taken))
  return counts


def ends(config, pipeline, states):
  import jax
  import numpy as np

  config.eval.offline_modes = tuple(FLAGS.modes)   # the run's modes (GCP needs its own model)
  finetuned = FLAGS.finetuned
  key = (pipeline.finetune_eval_key(config.finetune.iterations) if finetuned
         else jax.random.PRNGKey(config.seed + 3))
  result = {"workdir": FLAGS.workdir, "finetuned": finetuned}
  for mode in FLAGS.modes:
    agents = pipeline.saved_agents(f"finetuned/{mode}" if finetuned else "offline")
    record = pipeline.evaluate(agents, pipeline._seed_buffers(mode), mode, key)
    final = np.asarray(pipeline._last_evaluation["positions"])[:, :, -1].reshape(-1, 4)
    result[mode] = {"success_k": record["success_k"], **classify(pipeline.env, final)}
  print(json.dumps(result))


def main(_):
  config, pipeline, states = ptp_runs.open_flagged_run(task="lid_socket",
                                                       isotropic_state_latent=FLAGS.isotropic)
  probes = {"plans": plans, "values": values, "generators": generators, "control": control,
            "ends": ends}
  probes[FLAGS.probe](config, pipeline, states)


if __name__ == "__main__":
  app.run(main)
