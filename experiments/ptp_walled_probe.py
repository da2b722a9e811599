"""Why PTP fails on `walled_socket` (issue 19): probes of a finished walled_socket PTP workdir.

1. The latent scale: how far 1 cm moves phi(s) along x, y and z (the encoder's Jacobian), at
   points on the table, at the pit wall's foot and above the pit.
2. V(s, g) and the latent distance ||phi(s) - phi(g)|| for jumps through the pit wall against
   feasible ones (the planner's cost sees a plan only through these two).
3. The agents conditioned on the final goal alone, from starts at the pit wall's foot (outside
   the walls, on the table, on the tray's side): do they climb over the wall and insert?
4. The play data's coverage: episodes (and rows) that escape the tray from below its walls
   within dt steps, against episodes that enter the pit from outside its walls below their
   top, and that go from the wall's foot to inserted.

  python experiments/ptp_walled_probe.py --workdir=runs/ptp_walled [--agents=finetuned/ptp]
"""

import json
import os

from absl import app, flags

from experiments import ptp_runs

ptp_runs.define_run_flags(task=None, workdir_help="a finished walled_socket PTP workdir")
flags.DEFINE_integer("starts", 64, "wall-foot starts per seed")
flags.DEFINE_integer("steps", 30, "steps from each wall-foot start")
flags.DEFINE_string("out", None, "json file for the results")
FLAGS = flags.FLAGS

# (s, g) in metres. The socket's axis is at x = 0.15, y = 0; the pit's walls stand 3 to 5 cm from
# it (max-norm) and are 5 cm tall; the goal is the bottom of the hole, z = -0.03.
PAIRS = {
    "wall foot -> pit floor over the hole (through the wall; >= 8 steps over it)":
        ([0.09, 0.0, 0.0], [0.15, 0.0, 0.005]),
    "above the pit at 7 cm -> pit floor over the hole (5 steps)":
        ([0.15, 0.0, 0.07], [0.15, 0.0, 0.005]),
    "wall foot -> above the pit at 7 cm (5 steps)": ([0.09, 0.0, 0.0], [0.15, 0.0, 0.07]),
    "wall foot -> goal (>= 10 steps over the wall)": ([0.09, 0.0, 0.0], [0.15, 0.0, -0.03]),
    "above the pit at 7 cm -> goal (7 steps)": ([0.15, 0.0, 0.07], [0.15, 0.0, -0.03]),
    "open table, 6 cm along x (4 steps)": ([0.0, 0.0, 0.0], [0.06, 0.0, 0.0]),
}
SCALE_POINTS = {"open table": [0.0, 0.0, 0.0], "pit wall foot": [0.09, 0.0, 0.0],
                "above the pit": [0.15, 0.0, 0.07]}


def main(_):
  import jax
  import jax.numpy as jnp
  import numpy as np

  from jaxinsert.agents import gciql

  config, pipeline, states = ptp_runs.open_flagged_run(task="walled_socket")
  env = pipeline.env
  vaes = pipeline.models()[0]
  results = {"workdir": FLAGS.workdir, "agents": FLAGS.agents}

  # 1. Latent distance per cm along each axis (norm of the encoder's Jacobian column / 100).
  jacobian = jax.jit(jax.vmap(lambda v, p: jax.jacfwd(v.encode)(p), in_axes=(0, None)))
  results["latent_per_cm_xyz"] = {
      name: np.round(np.linalg.norm(np.asarray(jacobian(vaes, jnp.asarray(p))), axis=1) / 100,
                     4).tolist() for name, p in SCALE_POINTS.items()}

  # 2. The value and the latent distance of feasible jumps and of jumps through the wall.
  value = jax.jit(jax.vmap(lambda a, v, s, g: gciql.goal_value(a, v.encode(s), v.encode(g)),
                           in_axes=(0, 0, None, None)))
  distance = jax.jit(jax.vmap(lambda v, s, g: jnp.linalg.norm(v.encode(s) - v.encode(g)),
                              in_axes=(0, None, None)))
  results["pairs"] = {}
  for name, (s, g) in PAIRS.items():
    s, g = jnp.asarray(s), jnp.asarray(g)
    results["pairs"][name] = {
        "V_per_seed": np.round(np.asarray(value(states, vaes, s, g)).reshape(-1), 2).tolist(),
        "latent_distance_per_seed": np.round(np.asarray(distance(vaes, s, g)), 3).tolist()}

  # 3. The final goal alone from the wall's foot: 1 to 3 cm outside the tray-side wall, on the
  #    table, |y| <= 3 cm (so the start is not beside a corner).
  n = FLAGS.starts
  key = jax.random.PRNGKey(5)
  x = env.socket_center_m[0] - jax.random.uniform(key, (n,), minval=0.06, maxval=0.08)
  y = env.socket_center_m[1] + jax.random.uniform(jax.random.fold_in(key, 1), (n,),
                                                  minval=-0.03, maxval=0.03)
  starts = jnp.stack([x, y, jnp.zeros(n)], -1)
  wall_top = max(b[4] for b in env.barriers)

  def rollout(agent, state_vae, start, rollout_key):
    goal = state_vae.encode(env.goal_position_m())

    def step(env_state, step_key):
      action = gciql.act(agent, jnp.concatenate([state_vae.encode(env_state.obs), goal]),
                         step_key, True)
      following = env.step(env_state, action)
      return following, following.obs
    final, path = jax.lax.scan(step, env.reset(rollout_key, start),
                               jax.random.split(rollout_key, FLAGS.steps))
    return env.is_success(final.obs), path[:, 2].max() >= wall_top

  run = jax.jit(jax.vmap(lambda a, v, k: jax.vmap(lambda s, kk: rollout(a, v, s, kk))(
      starts, jax.random.split(k, n))))
  success, climbed = jax.tree_util.tree_map(np.asarray, run(
      states, vaes, jax.random.split(key, config.num_seeds)))
  results["wall_foot_final_goal"] = {"starts": n, "steps": FLAGS.steps,
                                     "success_per_seed": success.mean(1).tolist(),
                                     "climbed_above_the_wall_per_seed": climbed.mean(1).tolist()}
  # 4. Coverage of the play data (positions (episodes, steps + 1, 3)).
  positions = np.load(os.path.join(FLAGS.workdir, "data", "play.npz"))["positions"]
  pit = np.abs(positions[..., :2] - np.asarray(env.socket_center_m)).max(-1)
  tray = np.abs(positions[..., :2] - np.asarray(env.tray_center_m)).max(-1)
  in_tray_low = (tray < env.tray_half_width_m) & (positions[..., 2] < env.wall_height_m)
  outside_pit_low = (pit > 0.05) & (positions[..., 2] < wall_top)
  inserted = np.asarray(jax.vmap(jax.vmap(env.is_success))(jnp.asarray(positions)))
  coverage = {"episodes": int(positions.shape[0])}
  for dt in (5, 10, 20):
    def pairs(a, b):
      both = a[:, :-dt] & b[:, dt:]
      return {"rows": int(both.sum()), "episodes": int(both.any(1).sum())}
    coverage[f"dt{dt}"] = {
        "tray floor -> out of the tray": pairs(in_tray_low, tray >= env.tray_half_width_m),
        "outside the pit, below its walls' top -> in the pit": pairs(outside_pit_low, pit < 0.03),
        "outside the pit, below its walls' top -> inserted": pairs(outside_pit_low, inserted)}
  results["play_coverage"] = coverage
  print(json.dumps(results, indent=1), flush=True)
  if FLAGS.out:
    with open(FLAGS.out, "w") as handle:
      json.dump(results, handle, indent=1)


if __name__ == "__main__":
  app.run(main)
