"""How precise is LOTJ's offline image policy, and what limits it? (issue 18's diagnosis)

Two studies on a finished `experiments/lotj.py` workdir's data, leave-one-out on `--connector`:

* policy variants (`--variants`, the syntax of `lotj_policy_probe.py`, plus two probe keys:
  `labels=ideal` trains on the collector's noise-free action recomputed from the calibrated pose
  instead of the stored one, `colour=1` adds `samplers.colour_observations`), each over
  `--seeds`, scored k/20 on both robots of the held-out connector and of `--train_connectors`,
  with the deterministic action's lateral error against the noise-free action (mm) and its
  down/not-down agreement on 4,000 training rows;
* position regressors (`--localizer_variants`, `name:steps=..,batch_size=..,encoder=..,colour=1`):
  lateral RMS error (mm) on the rows they fit, on a held-in validation split (10% of the
  training episodes, unseen images of the training connectors) and on the held-out connector,
  whose error is split into a constant bias and the residual around it.

  python experiments/lotj_precision_probe.py --workdir=runs/lotj_cam45 \\
      --variants="lotj:;pad0:rl.shift_pad=0;ideal:labels=ideal,agent.beta=0.0,rl.shift_pad=0" \\
      --localizer_variants="3k:steps=3000;12k_colour:steps=12000,colour=1"

Appends one record per run to <workdir>/precision_probe.json.
"""

import json
import os
import time

from absl import app, flags

flags.DEFINE_string("workdir", "runs/lotj_cam45", "A LOTJ workdir whose collect stage is done.")
flags.DEFINE_string("connector", "dt12", "Held-out connector (both robots left out).")
flags.DEFINE_string("train_connectors", "type-a-black,usb,hdmi,dsub,rca-red",
                    "Training connectors scored too (both robots each).")
flags.DEFINE_string("variants", "", "Policy variants, `name:field=value,...;...` (may be empty).")
flags.DEFINE_string("seeds", "0", "Comma-separated seeds of each policy variant.")
flags.DEFINE_string("localizer_variants", "", "Regressor variants (may be empty).")
flags.DEFINE_integer("trials", 20, "Evaluation trials per task.")
FLAGS = flags.FLAGS

PROBE_KEYS = ("labels", "colour")


def noise_free_actions(task, positions_m, actions):
  """The LOTJ-1 collector's own action without its random ones (`centerline_then_down` at
  random probability 0) at each row's calibrated tip position, and whether it goes down."""
  import jax
  import numpy as np

  from jaxinsert.envs import controllers

  act = controllers.centerline_then_down(task.config(), random_probability=0.0)
  ideal = np.array(actions, np.float32)
  ideal[:, :3] = np.asarray(jax.jit(jax.vmap(lambda tip: act(
      jax.random.PRNGKey(0), None, {"privileged": {"tip_in_socket": tip}})))(positions_m))
  return ideal, ideal[:, 2] < -0.5


def policy_study(base, train, size, tasks, variants, seeds):
  import jax
  import jax.numpy as jnp
  import numpy as np

  from jaxinsert.training.config import with_fields
  from jaxinsert.agents import lotj
  from jaxinsert.training import lotj_rl

  data, spec = lotj_rl.offline_transitions(train, size)
  pose, _ = lotj_rl.offline_transitions(train, size, obs_key="tcp_pose_in_socket")
  positions = np.asarray(pose.obs)[:, :3]
  ideal, aligned = noise_free_actions(tasks[0], positions, np.asarray(data.action))
  rows = np.random.RandomState(0).choice(len(ideal), min(4000, len(ideal)), replace=False)
  for name, fields in variants:
    probe = {k: fields.pop(k) for k in PROBE_KEYS if k in fields}
    if probe.get("labels", "collector") not in ("collector", "ideal"):
      raise ValueError(f"variant {name!r}: labels must be 'collector' or 'ideal'")
    config = with_fields(base, fields)
    labelled = (data.replace(action=jnp.asarray(ideal, data.action.dtype))
                if probe.get("labels") == "ideal" else data)
    for seed in seeds:
      start = time.time()
      agent, metrics = lotj_rl.train_offline(
          config.agent, labelled, spec, config.rl.offline_steps, config.rl.batch_size, seed,
          shift_pad=config.rl.shift_pad, colour=probe.get("colour") == "1")
      act = jax.jit(lambda obs: lotj.act(agent, obs, jax.random.PRNGKey(0), True))
      predicted = np.asarray(act(data.obs[rows]))
      lateral_mm = (predicted[:, :2] - ideal[rows, :2]) * 10.0      # an action of 1 moves 1 cm
      scores = {task.name: lotj_rl.evaluate_agent(agent, task, FLAGS.trials, seed + 7, size)
                for task in tasks}
      held = sum(v for k, v in scores.items() if k.startswith(FLAGS.connector + "@"))
      yield {"study": "policy", "variant": name, "fields": fields, "probe": probe, "seed": seed,
             "held_out": held, "training": sum(scores.values()) - held, "scores": scores,
             "lateral_action_error_mm": float(np.sqrt(np.mean(np.sum(lateral_mm**2, axis=1)))),
             "down_agreement": float(np.mean((predicted[:, 2] < -0.5) == aligned[rows])),
             "metrics": metrics, "seconds": round(time.time() - start, 1)}


def localizer_study(train, test, variants):
  import jax
  import jax.numpy as jnp
  import numpy as np

  from jaxinsert.agents import localizer
  from jaxinsert.training import lotj_rl

  validation = np.random.RandomState(0).rand(len(train)) < 0.1
  fit = lotj_rl.localizer_targets([e for e, v in zip(train, validation) if not v])
  held_in = lotj_rl.localizer_targets([e for e, v in zip(train, validation) if v])
  held_out = lotj_rl.localizer_targets(test)
  predict = jax.jit(localizer.predict)
  for name, fields in variants:
    fields = dict(fields)
    colour = fields.pop("colour", "0") == "1"
    config = localizer.get_config()
    config.shift_pad = 0
    for key, value in fields.items():
      if key not in config:
        raise KeyError(f"variant {name!r}: unknown localizer field {key!r}; known: {sorted(config)}")
      config[key] = type(config[key])(value)
    start = time.time()
    state, metrics = lotj_rl.train_localizer(config, fit, 0, colour=colour)
    errors = {split: lotj_rl.localizer_error_mm(state, d)["lateral"]
              for split, d in (("fit", fit), ("held_in", held_in), ("held_out", held_out))}
    predicted = np.concatenate([np.asarray(predict(state, jnp.asarray(held_out["image"][i:i + 1024])))
                                for i in range(0, len(held_out["image"]), 1024)])
    error_mm = (predicted - held_out["position"])[:, :2] * 1e3
    bias = error_mm.mean(axis=0)
    residual = float(np.sqrt(np.mean(np.sum((error_mm - bias)**2, axis=1))))
    yield {"study": "localizer", "variant": name, "fields": fields, "colour": colour,
           "lateral_error_mm": errors, "held_out_bias_mm": [float(b) for b in bias],
           "held_out_residual_mm": residual, "metrics": metrics,
           "seconds": round(time.time() - start, 1)}


def main(_):
  from experiments.configs import lotj_default
  from jaxinsert.training.config import parse_variants
  from jaxinsert.training import lotj_data, lotj_rl
  from jaxinsert.training.logging import append_json_record

  base = lotj_default.get_config()
  with open(os.path.join(FLAGS.workdir, "provenance.json")) as handle:
    base.collect.update(json.load(handle)["config"]["collect"])
  episodes = lotj_data.read(os.path.join(FLAGS.workdir, "data", "lotj"))
  train, test = lotj_data.leave_one_out(episodes, FLAGS.connector)
  size, fovy = base.collect.image_size, base.collect.camera_fovy_deg
  tasks = [task for connector in [FLAGS.connector] + FLAGS.train_connectors.split(",")
           for task in lotj_rl.held_out_tasks(connector, "scenario1", fovy)]
  out_path = os.path.join(FLAGS.workdir, "precision_probe.json")
  runs = []
  if FLAGS.localizer_variants:
    runs.append(localizer_study(train, test, parse_variants(FLAGS.localizer_variants)))
  if FLAGS.variants:
    seeds = [int(s) for s in FLAGS.seeds.split(",")]
    runs.append(policy_study(base, train, size, tasks, parse_variants(FLAGS.variants), seeds))
  if not runs:
    raise ValueError("nothing to do: give --variants and/or --localizer_variants")
  for run in runs:
    for record in run:
      record.update(connector=FLAGS.connector, trials=FLAGS.trials)
      append_json_record(out_path, record)
      shown = {k: v for k, v in record.items() if k not in ("metrics", "scores")}
      print(f"[precision] {json.dumps(shown)}", flush=True)


if __name__ == "__main__":
  app.run(main)
