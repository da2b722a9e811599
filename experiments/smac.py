"""SMAC: online PEARL data -> offline meta-training -> self-supervised online phase -> report.

  python experiments/smac.py --config=experiments/configs/smac_pointrobot.py --workdir=runs/smac

Re-running with the same workdir reuses finished stages whose settings match and stops naming
what changed where they do not (`--redo` runs those again). Prints the post-adaptation test
return of offline-only SMAC, meta-BC, SMAC after the self-supervised phase and the oracle (the
same phase with true rewards), and writes the curve and the z-shift histograms as plots.
"""

from absl import app

from jaxinsert.training import cli

main = cli.define_pipeline_main("jaxinsert.training.smac_pipeline:run")

if __name__ == "__main__":
  app.run(main)
