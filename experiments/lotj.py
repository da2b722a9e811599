"""LOTJ: collect vision data -> reward-classifier study on held-out connectors (Table IV) ->
leave-one-out image IQL, baselines and self-rewarded finetuning, in k/20 tables.

  python experiments/lotj.py --config=experiments/configs/lotj_default.py --workdir=runs/lotj
  python experiments/lotj.py --config=experiments/configs/lotj_default.py:resnet --workdir=runs/lotj_gpu

Re-running with the same workdir reuses finished stages whose settings match, stops naming what
changed where they do not (`--redo` runs those again). Writes <workdir>/summary.json.
"""

from absl import app

from jaxinsert.training import cli

main = cli.define_pipeline_main("jaxinsert.training.lotj_pipeline:run")


if __name__ == "__main__":
  app.run(main)
