"""The insertion pipeline: collect -> IQL offline -> zero-shot eval -> online finetuning -> eval.

  python experiments/insertion.py --config=experiments/configs/insertion_default.py --workdir=DIR

Re-running with the same DIR reuses finished stages whose settings match, stops naming what
changed where they do not (`--redo` runs those again), and resumes the interrupted one. Prints the
success table (k/N, 95% Wilson intervals, per connector, before and after finetuning).
"""

from absl import app

from jaxinsert.training import cli

main = cli.define_pipeline_main("jaxinsert.training.insertion_pipeline:run")

if __name__ == "__main__":
  app.run(main)
