"""LOTJ: collect vision data -> reward-classifier study on held-out connectors (Table IV) ->
leave-one-out image IQL, baselines and self-rewarded finetuning, in k/20 tables.

  python experiments/lotj.py --config=experiments/configs/lotj_default.py --workdir=runs/lotj
  python experiments/lotj.py --config=experiments/configs/lotj_default.py:resnet --workdir=runs/lotj_gpu

Re-running with the same workdir reuses finished stages whose settings match, stops naming what
changed where they do not (`--redo` runs those again). Writes <workdir>/summary.json.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402

from jaxinsert.training import cli  # noqa: E402

main = cli.define_pipeline_main("jaxinsert.training.lotj_pipeline:run")


if __name__ == "__main__":
  app.run(main)
