"""LOTJ: collect vision data -> reward-classifier study on held-out connectors (Table IV).

  python experiments/lotj.py --config=experiments/configs/lotj_default.py --workdir=runs/lotj

Re-running with the same workdir reuses finished stages whose settings match, stops naming what
changed where they do not (`--redo` runs those again). Prints the summary as JSON.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402

from jaxinsert.training import cli  # noqa: E402

_run = cli.define_pipeline_main("jaxinsert.training.lotj_pipeline:run")


def main(argv):
  _run(argv)


if __name__ == "__main__":
  app.run(main)
