"""The insertion pipeline: collect -> IQL offline -> zero-shot eval -> online finetuning -> eval.

  python experiments/insertion.py --config=experiments/configs/insertion_default.py --workdir=DIR

Re-running with the same DIR skips finished stages and resumes the interrupted one. Prints the
success table (k/N, 95% Wilson intervals, per connector, before and after finetuning).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402

from jaxinsert.training import cli  # noqa: E402

_CONFIG, _WORKDIR = cli.define_config_and_workdir_flags()


def main(argv):
  del argv
  cli.run_main(_run)


def _run():
  from jaxinsert.training import insertion_pipeline

  insertion_pipeline.run(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
