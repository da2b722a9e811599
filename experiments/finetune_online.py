"""Pretrain offline, then finetune online: `python experiments/finetune_online.py --config=experiments/configs/NAME.py
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

  results = runs.run_online(_CONFIG.value, _WORKDIR.value)
  before = results.get("before_finetuning") or {}
  after = results.get("after_finetuning") or {}
  print(json.dumps({"workdir": _WORKDIR.value, "online_env_steps": results["online_env_steps"],
                    "return_before": before.get("return_mean"),
                    "return_after": after.get("return_mean"),
                    "success_before": before.get("success_rate"),
                    "success_after": after.get("success_rate"),
                    "wall_clock_seconds": round(results["wall_clock_seconds"], 1)}))


if __name__ == "__main__":
  app.run(main)
