"""The insertion pipeline: collect -> IQL offline -> zero-shot eval -> online finetuning -> eval.

  python experiments/insertion.py --config=experiments/configs/insertion_default.py --workdir=DIR

Re-running with the same DIR reuses finished stages whose settings match, stops naming what
changed where they do not (`--redo` runs those again), and resumes the interrupted one. Prints the
success table (k/N, 95% Wilson intervals, per connector, before and after finetuning).
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
  from jaxinsert.training import insertion_pipeline

  insertion_pipeline.run(_CONFIG.value, _WORKDIR.value, redo=_REDO.value)


if __name__ == "__main__":
  app.run(main)
