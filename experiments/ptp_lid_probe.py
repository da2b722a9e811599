"""Probes of why PTP's plans fail on a finished `lid_socket` workdir (issue 19), with the run's
offline agents and each seed's latent models:

- plans: offline PTP episodes (mean actions, empty plan buffers) for planner settings
  N:eta: success, lid open at the end, the share of plans with a generated subgoal beside the
  lid's -y edge (x within 3 cm of the axis, y < -3 cm, z < 1.5 cm) and the mean lid offset of
  the last generated subgoal (the goal, 0.05, follows it);
- values: V(s, g) and the latent distance for hand-picked pairs (a 3 mm lid drift in the tray,
  opening the lid in one jump, the push, the goal);
- generators: from a state beside the closed lid and from the tray, each generator's decoded
  lid offset for 4096 prior samples z ~ N(0, I): the share that moves it >= 1 cm, that opens it.

  python experiments/ptp_lid_probe.py --workdir=runs/lid_def_s0 --probe=plans \
      --settings=256:0.01,1024:0.1
"""

import json

from absl import app, flags

from experiments import ptp_runs

ptp_runs.define_run_flags(task=None)
flags.DEFINE_enum("probe", "plans", ["plans", "values", "generators"], "what to probe")
flags.DEFINE_list("settings", ["256:0.01"], "plans: planner num_samples:values_weight pairs")
flags.DEFINE_bool("isotropic", False, "the run's config.isotropic_state_latent")
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


def main(_):
  config, pipeline, states = ptp_runs.open_flagged_run(task="lid_socket",
                                                       isotropic_state_latent=FLAGS.isotropic)
  {"plans": plans, "values": values, "generators": generators}[FLAGS.probe](config, pipeline,
                                                                            states)


if __name__ == "__main__":
  app.run(main)
