"""ODA: collect -> meta-train offline -> zero-shot from demonstrations -> finetune -> report.

  python experiments/oda.py --config=experiments/configs/oda_default.py --workdir=runs/oda

Re-running with the same workdir reuses finished stages whose settings match, stops naming what
changed where they do not (`--redo` runs those again), and resumes an interrupted training
stage from its checkpoint. Prints ODA against multi-task AWAC without context per task.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from jaxinsert.training import cli  # noqa: E402

_CONFIG, _WORKDIR = cli.define_config_and_workdir_flags()
_REDO = flags.DEFINE_bool("redo", False, "run again the finished stages whose config changed")


def main(argv):
  del argv
  cli.run_main(_run)


def _run():
  from jaxinsert.training import oda_pipeline

  oda_pipeline.run(_CONFIG.value, _WORKDIR.value, redo=_REDO.value)


if __name__ == "__main__":
  app.run(main)
