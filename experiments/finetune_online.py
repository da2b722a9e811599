"""Pretrain offline, then finetune online: `python experiments/finetune_online.py
--config=experiments/configs/NAME.py --workdir=DIR [--config.FIELD=VALUE ...]`."""

from jaxinsert.training import cli, runs


def summarize(results):
  before = results.get("before_finetuning") or {}
  after = results.get("after_finetuning") or {}
  return {"online_env_steps": results["online_env_steps"],
          "return_before": before.get("return_mean"), "return_after": after.get("return_mean"),
          "success_before": before.get("success_rate"),
          "success_after": after.get("success_rate"),
          "wall_clock_seconds": round(results["wall_clock_seconds"], 1)}


if __name__ == "__main__":
  cli.launch(runs.run_online, summarize)
