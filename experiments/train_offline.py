"""Train an agent offline: `python experiments/train_offline.py --config=experiments/configs/NAME.py
--workdir=DIR [--config.FIELD=VALUE ...]`. Re-running with the same workdir resumes."""

from jaxinsert.training import cli, runs


def summarize(results):
  evaluation = results.get("evaluation") or {}
  return {"steps": results["steps"], "return_mean": evaluation.get("return_mean"),
          "success_rate": evaluation.get("success_rate"),
          "wall_clock_seconds": round(results["wall_clock_seconds"], 1)}


if __name__ == "__main__":
  cli.launch(runs.run_offline, summarize)
