"""Train an agent offline: `python experiments/train_offline.py --config=experiments/configs/NAME.py
--workdir=DIR [--config.FIELD=VALUE ...]`. Re-running with the same workdir resumes."""

import json
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
  from jaxinsert.training import runs

  results = runs.run_offline(_CONFIG.value, _WORKDIR.value)
  evaluation = results.get("evaluation") or {}
  print(json.dumps({"workdir": _WORKDIR.value, "steps": results["steps"],
                    "return_mean": evaluation.get("return_mean"),
                    "success_rate": evaluation.get("success_rate"),
                    "wall_clock_seconds": round(results["wall_clock_seconds"], 1)}))


if __name__ == "__main__":
  app.run(main)
