"""The insertion pipeline: collect -> IQL offline -> zero-shot eval -> online finetuning -> eval.

  python experiments/insertion.py --config=experiments/configs/insertion_default.py --workdir=DIR

Re-running with the same DIR reuses finished stages whose settings match, stops naming what
changed where they do not (`--redo` runs those again), and resumes the interrupted one. Prints the
success table (k/N, 95% Wilson intervals, per connector, before and after finetuning).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402

from jaxinsert.training import cli  # noqa: E402

main = cli.define_pipeline_main("jaxinsert.training.insertion_pipeline:run")

if __name__ == "__main__":
  app.run(main)
