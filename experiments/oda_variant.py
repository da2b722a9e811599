"""Train and evaluate ODA alone, with config overrides, on an ODA pipeline's collected data:
the quick way to compare an ODA setting against a finished pipeline run's baselines without
retraining them (its baselines' stages depend on the whole `oda` section).

  python experiments/oda_variant.py --config=experiments/configs/oda_default.py \
      --config.oracle=True --data_from=runs/oda_slots --workdir=runs/oda_slots_kl1e-3 \
      --config.oda.kl_weight=0.001

Copies data_from/data into workdir/data (once), trains ODA there (`meta_train`'s settings and
checkpoints; `--method=oracle`: the oracle baseline, e.g. with --config.oracle_features=pose),
then prints zero-shot k/100 per seed on the test and training tasks and writes
workdir/zero_shot_<method>.json. A rerun restores the finished checkpoint and evaluates it again.
"""

import json
import os
import shutil

from absl import app, flags

from jaxinsert.training import cli

_CONFIG, _WORKDIR = cli.define_config_and_workdir_flags()
_DATA_FROM = flags.DEFINE_string("data_from", None, "a finished ODA pipeline workdir", required=True)
_TRIALS = flags.DEFINE_integer("trials", 0, "trials per task (0: config.eval.trials)")
_METHOD = flags.DEFINE_enum("method", "oda", ["oda", "oracle"], "which agent to train")


def _run():
  from jaxinsert.training import oda_pipeline, oda_report

  config = _CONFIG.value
  workdir = _WORKDIR.value
  if not os.path.exists(os.path.join(workdir, "data")):
    os.makedirs(workdir, exist_ok=True)
    shutil.copytree(os.path.join(_DATA_FROM.value, "data"), os.path.join(workdir, "data"))
  with oda_pipeline.ODAPipeline(config, workdir, progress=True) as pipeline:
    method = _METHOD.value
    pipeline.train(method)
    trials = _TRIALS.value or config.eval.trials
    per_seed = []
    for state in pipeline.agent_states(method):
      per_seed.append({split: pipeline.evaluate(state, tasks, trials, oracle=method == "oracle")
                       for split, tasks in (("test", pipeline.test_tasks),
                                            ("train", pipeline.train_tasks))})
    for split, tasks in (("test", pipeline.test_tasks), ("train", pipeline.train_tasks)):
      for task in tasks:
        print(f"{split:6} {task.name:18}",
              oda_report._format(oda_report._cell(per_seed, split, task.name)), flush=True)
    with open(os.path.join(workdir, f"zero_shot_{method}.json"), "w") as handle:
      json.dump(per_seed, handle, default=float)


def main(argv):
  del argv
  cli.run_main(_run)


if __name__ == "__main__":
  app.run(main)
