"""PTP: collect play -> latent models -> goal-conditioned IQL -> plan + finetune -> report.

  python experiments/ptp.py --config=experiments/configs/ptp_default.py --workdir=runs/ptp

Re-running with the same workdir reuses finished stages whose settings match (`--redo` runs
changed ones again). Prints PTP (planned subgoals) against the model-free final-goal baseline,
offline and after online finetuning, with a curve of success against online steps.
"""

from absl import app

from jaxinsert.training import cli

main = cli.define_pipeline_main("jaxinsert.training.ptp_pipeline:run")

if __name__ == "__main__":
  app.run(main)
