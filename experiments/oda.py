"""ODA: collect -> meta-train offline -> zero-shot from demonstrations -> finetune -> report.

  python experiments/oda.py --config=experiments/configs/oda_default.py --workdir=runs/oda

Re-running with the same workdir reuses finished stages whose settings match, stops naming what
changed where they do not (`--redo` runs those again), and resumes an interrupted training
stage from its checkpoint. Prints ODA against multi-task AWAC without context per task.
"""

from absl import app

from jaxinsert.training import cli

main = cli.define_pipeline_main("jaxinsert.training.oda_pipeline:run")

if __name__ == "__main__":
  app.run(main)
