"""A finished PTP workdir's saved agents evaluated in other planning modes (issue 19): e.g. the
agents finetuned with PTP's plans, conditioned on the final goal only, to tell a policy that
cannot do the task from plans it cannot follow. Plan buffers start empty (they are not saved);
the evaluation key is the study's final one (`--iteration`), so the reset states are those of
the study's last evaluation.

  python experiments/ptp_eval_agents.py --workdir=runs/walled_hn_s100_ft24 --seed=100 \
      --task=walled_socket --values_weight=0.3 --agents=finetuned/ptp --iteration=24 \
      --modes=ptp,final_goal
  --actions=both also evaluates with sampled actions, as the finetuning stage collects: a seed
  whose mean action stalls against a wall (the tray_socket runs' late "collapse") shows there.
"""

import json

from absl import app, flags

from experiments import ptp_runs

ptp_runs.define_run_flags(agents="finetuned/ptp")
flags.DEFINE_float("values_weight", 0.01, "the planner's eta")
flags.DEFINE_list("modes", ["ptp", "final_goal"], "planning modes to evaluate")
flags.DEFINE_integer("iteration", 8, "the finetuning iteration whose evaluation key is used")
flags.DEFINE_enum("actions", "deterministic", ["deterministic", "sampled", "both"],
                  "the policy's mean (the study's evaluations), sampled actions (its collection), "
                  "or both")
flags.DEFINE_string("out", None, "json file for the results")
FLAGS = flags.FLAGS


def main(_):
  from jaxinsert.training import evaluation

  config, pipeline, states = ptp_runs.open_flagged_run()
  config.planner.values_weight = FLAGS.values_weight
  config.eval.offline_modes = tuple(FLAGS.modes)   # no GCP models unless asked for
  config.finetune.methods = tuple(FLAGS.modes)
  key = pipeline.finetune_eval_key(FLAGS.iteration)
  results = {"workdir": FLAGS.workdir, "agents": FLAGS.agents, "iteration": FLAGS.iteration,
             "values_weight": FLAGS.values_weight, "modes": {}}
  rules = ("deterministic", "sampled") if FLAGS.actions == "both" else (FLAGS.actions,)
  for mode in FLAGS.modes:
    for rule in rules:
      result = pipeline.evaluate(states, pipeline._seed_buffers(mode), mode, key,
                                 deterministic=rule == "deterministic")
      result["wilson"] = evaluation.wilson_interval(result["success_k"], result["success_n"])
      name = mode if FLAGS.actions == "deterministic" else f"{mode}/{rule}"
      results["modes"][name] = result
      print(name, json.dumps(result), flush=True)
  if FLAGS.out:
    with open(FLAGS.out, "w") as handle:
      json.dump(results, handle, indent=1)


if __name__ == "__main__":
  app.run(main)
