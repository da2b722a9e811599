"""One ODA finetuning run on one task and offline seed of a finished ODA pipeline, with the
config's finetune overrides, beside the pipeline's own runs: the quick way to try a finetuning
setting (critic warm-up, demonstrations in every batch, other rates) without redoing a stage.

  python experiments/oda_finetune_probe.py --config=experiments/configs/oda_default.py:main \\
      --workdir=runs/oda_main --task=multipin-2-wide --seed_index=0 --label=_delay2k \\
      --config.finetune.actor_delay_steps=2000

The run lives in workdir/finetune/<method><label>/<task>/seed<i> (a rerun resumes it); prints
the starting policy's and the final k/n on the same starts and the curve, and writes
workdir/finetune_probe/<method><label>_<task>_seed<i>.json.
"""

import json
import os

from absl import app, flags

from jaxinsert.training import cli

_CONFIG, _WORKDIR = cli.define_config_and_workdir_flags()
_TASK = flags.DEFINE_string("task", "multipin-2-wide", "a test or out-of-distribution task name")
_SEED = flags.DEFINE_integer("seed_index", 0, "which offline seed to finetune")
_METHOD = flags.DEFINE_string("method", "oda_demos", "a key of oda_studies.FINETUNE_METHODS")
_LABEL = flags.DEFINE_string("label", "_probe", "suffix of the run's directory")


def _run():
  from jaxinsert.training import oda_pipeline, oda_studies

  with oda_pipeline.ODAPipeline(_CONFIG.value, _WORKDIR.value, progress=True) as pipeline:
    tasks = {t.name: t for t in pipeline.test_tasks + pipeline.ood_tasks}
    if _TASK.value not in tasks:
      raise ValueError(f"--task={_TASK.value}: not a test or out-of-distribution task of this "
                       f"config; one of {sorted(tasks)}")
    run = oda_studies.finetune_task(pipeline, tasks[_TASK.value], _METHOD.value, _SEED.value,
                                    label=_LABEL.value)
    start, final = run["start"], run["final"]
    print(f"{_METHOD.value}{_LABEL.value} {_TASK.value} seed {_SEED.value}: "
          f"{start['success_k']}/{start['success_n']} -> {final['success_k']}/{final['success_n']} "
          f"after {run['env_steps']} env steps ({run['seconds']:.0f} s); curve "
          + ", ".join(f"{step}: {rate:.2f}" for step, rate in run["curve"]), flush=True)
    out = os.path.join(_WORKDIR.value, "finetune_probe")
    os.makedirs(out, exist_ok=True)
    name = f"{_METHOD.value}{_LABEL.value}_{_TASK.value}_seed{_SEED.value}.json"
    with open(os.path.join(out, name), "w") as handle:
      json.dump({"finetune": _CONFIG.value.finetune.to_dict(), **run}, handle, default=float)


def main(argv):
  del argv
  cli.run_main(_run)


if __name__ == "__main__":
  app.run(main)
