"""Why does LOTJ's offline image policy fail? Trains policy variants leave-one-out on a finished
`experiments/lotj.py` workdir's data and scores each on the held-out connector and on a training
connector (k/20, scenario I), so capacity and generalisation are told apart.

  python experiments/lotj_policy_probe.py --workdir=runs/lotj --connector=dt12 \
      --variants="paper:;erm:agent.policy_bottleneck=erm;bc_noshift:agent.beta=0.0,rl.shift_pad=0"

A variant is `name:field=value,...` over the LOTJ config (`agent.*`, `rl.*`; `rl.shift_pad` is
the random-shift pad of the offline batches). Writes <workdir>/policy_probe.json (one record
per variant, appended under a lock, so runs can be split, also across processes).
"""

import json
import os
import time

from absl import app, flags

flags.DEFINE_string("workdir", "runs/lotj", "A LOTJ workdir whose collect stage is done.")
flags.DEFINE_string("connector", "dt12", "Held-out connector (both robots left out).")
flags.DEFINE_string("train_connector", "", "Training connector scored as well (default: the "
                    "first training connector of the suite).")
flags.DEFINE_string("variants", "paper:", "Semicolon-separated `name:field=value,...`.")
flags.DEFINE_string("scenario", "scenario1", "Start distribution of the evaluations.")
flags.DEFINE_integer("trials", 20, "Evaluation trials per cell.")
flags.DEFINE_string("localizer_pads", "", "Comma-separated random-shift pads: train the Localize "
                    "baseline's regressor with each and score it (error in mm, k/20) first.")
flags.DEFINE_string("localizer_encoder", "patch_conv", "The regressor's image encoder.")
flags.DEFINE_integer("localizer_steps", 3000, "The regressor's updates.")
flags.DEFINE_bool("finetune_true_reward", False, "Also finetune each variant on the held-out "
                  "connector with the simulator's success as reward (the upper bound) and score it.")
flags.DEFINE_integer("frozen_updates", 0, "Also score each variant after this many updates on "
                     "offline data alone with the representation frozen (fresh Adam on the heads).")
flags.DEFINE_float("finetune_lr", 0.0, "Learning rate of the heads while frozen (0: the offline rate).")
flags.DEFINE_string("tip_noise_mm", "", "Comma-separated noise levels: score the collector's "
                    "controller on the true tip position plus Gaussian noise of each (mm per axis "
                    "and step), the precision the insertion needs.")
FLAGS = flags.FLAGS


def main(_):
  import jax
  from experiments.configs import lotj_default
  from jaxinsert.agents import lotj
  from jaxinsert.data import samplers
  from jaxinsert.envs import suites
  from jaxinsert.training import lotj_data, lotj_rl
  from jaxinsert.training.config import parse_variants, with_fields
  from jaxinsert.training.logging import append_json_record

  base = lotj_default.get_config()
  with open(os.path.join(FLAGS.workdir, "provenance.json")) as handle:
    base.collect.update(json.load(handle)["config"]["collect"])   # the data's image size
  data_path = os.path.join(FLAGS.workdir, "data", "lotj")
  episodes = lotj_data.read(data_path)
  train, _ = lotj_data.leave_one_out(episodes, FLAGS.connector)
  size = base.collect.image_size
  train_connector = FLAGS.train_connector or next(
      t.connector.name for t in suites.get_suite("lotj").tasks
      if t.connector.name not in suites.LOTJ_TEST_CONNECTORS)
  fovy = base.collect.camera_fovy_deg
  tasks = {"held_out": lotj_rl.held_out_tasks(FLAGS.connector, FLAGS.scenario, fovy)[0],
           "training": lotj_rl.held_out_tasks(train_connector, FLAGS.scenario, fovy)[0]}
  out_path = os.path.join(FLAGS.workdir, "policy_probe.json")
  if FLAGS.tip_noise_mm:
    for noise_mm in [float(n) for n in FLAGS.tip_noise_mm.split(",")]:
      record = {"variant": f"tip_noise_{noise_mm}mm", "held_out_task": tasks["held_out"].name,
                "training_task": tasks["training"].name, "scenario": FLAGS.scenario,
                "trials": FLAGS.trials}
      for k, task in tasks.items():
        record[k] = lotj_rl.evaluate_noisy_tip(task, FLAGS.trials, base.seed + 7, size,
                                               noise_mm * 1e-3)
      append_json_record(out_path, record)
      print(f"[probe] controller on the true tip + {noise_mm} mm noise: held out "
            f"{record['held_out']}/{FLAGS.trials}, training {record['training']}/{FLAGS.trials}",
            flush=True)
  if FLAGS.localizer_pads:
    from jaxinsert.agents import localizer
    _, test = lotj_data.leave_one_out(episodes, FLAGS.connector)
    train_targets = lotj_rl.localizer_targets(train)
    test_targets = lotj_rl.localizer_targets(test)
    for pad in [int(p) for p in FLAGS.localizer_pads.split(",")]:
      config = localizer.get_config()
      config.shift_pad = pad
      config.encoder, config.steps = FLAGS.localizer_encoder, FLAGS.localizer_steps
      start = time.time()
      state, metrics = lotj_rl.train_localizer(config, train_targets, base.seed)
      record = {"variant": f"localize_{config.encoder}_{config.steps}_pad{pad}", "held_out_task": tasks["held_out"].name,
                "training_task": tasks["training"].name, "scenario": FLAGS.scenario,
                "trials": FLAGS.trials, "metrics": metrics,
                "error_mm_training": lotj_rl.localizer_error_mm(state, train_targets),
                "error_mm_held_out": lotj_rl.localizer_error_mm(state, test_targets)}
      for k, task in tasks.items():
        record[k] = lotj_rl.evaluate_localize(state, task, FLAGS.trials, base.seed + 7, size)
      record["seconds"] = round(time.time() - start, 1)
      append_json_record(out_path, record)
      print(f"[probe] localize pad {pad}: held out {record['held_out']}/{FLAGS.trials}, training "
            f"{record['training']}/{FLAGS.trials}; lateral rms error mm training "
            f"{record['error_mm_training']['lateral']:.2f}, held out "
            f"{record['error_mm_held_out']['lateral']:.2f} ({record['seconds']} s)", flush=True)
  for name, fields in parse_variants(FLAGS.variants):
    config = with_fields(base, fields)
    shift_pad = config.rl.shift_pad
    data, spec = lotj_rl.offline_transitions(train, size, reward_offset=config.rl.reward_offset)
    augment = samplers.shift_observations(shift_pad) if shift_pad else (lambda batch, key: batch)
    start = time.time()
    agent, metrics = lotj_rl.train_offline(config.agent, data, spec, config.rl.offline_steps,
                                           config.rl.batch_size, config.seed, shift_pad=shift_pad)
    scores = {k: lotj_rl.evaluate_agent(agent, task, FLAGS.trials, config.seed + 7, size)
              for k, task in tasks.items()}
    if FLAGS.frozen_updates:
      frozen = lotj.freeze_representation(agent, FLAGS.finetune_lr)
      step = jax.jit(lambda state, key: lotj.update(state, augment(
          samplers.uniform(data, key, config.rl.batch_size), key), key))
      for index in range(FLAGS.frozen_updates):
        frozen, _ = step(frozen, jax.random.PRNGKey(index))
      scores[f"held_out_after_{FLAGS.frozen_updates}_frozen_offline_updates"] = (
          lotj_rl.evaluate_agent(frozen, tasks["held_out"], FLAGS.trials, config.seed + 7, size))
    if FLAGS.finetune_true_reward:
      rl = config.rl
      learner, practice = lotj_rl.finetune(
          agent, None, spec, data, tasks["held_out"], rl.finetune_trials, rl.finetune_envs,
          rl.updates_per_step, rl.batch_size, config.seed + 11, size, rl.act_noise,
          shift_pad=shift_pad, true_reward=True, reward_offset=rl.reward_offset,
          learning_rate=FLAGS.finetune_lr, beta=rl.finetune_beta)
      scores["held_out_after_true_reward_finetuning"] = lotj_rl.evaluate_agent(
          learner.agent, tasks["held_out"], FLAGS.trials, config.seed + 7, size)
      scores["practice_successes"] = int(sum(practice))
    record = {"variant": name, "fields": fields, "held_out_task": tasks["held_out"].name,
              "training_task": tasks["training"].name, "scenario": FLAGS.scenario,
              "trials": FLAGS.trials, **scores, "metrics": metrics,
              "seconds": round(time.time() - start, 1)}
    append_json_record(out_path, record)
    print(f"[probe] {name} {fields}: " + ", ".join(f"{k} {v}" for k, v in scores.items())
          + f" ({record['seconds']} s) {metrics}", flush=True)


if __name__ == "__main__":
  app.run(main)
