"""Probes of SMAC's self-supervised online phase on a finished offline stage (issue 17).

  python experiments/smac_online_probe.py --config=experiments/configs/smac_insertion.py \
      --workdir=runs/smac_insertion --method=oracle --mode=online --eval_repeats=20 \
      --out=runs/probe_oracle.json [--config.online.grad_steps=50 ...]

Reads the workdir's PEARL data and offline SMAC states (nothing is written there) and runs the
online phase of `--method` ("smac": decoder labels, "oracle": true rewards) as the pipeline
does, evaluating the post-adaptation return every `online.eval_every` iterations with
`--eval_repeats` meta-episodes per test task (the pipeline's `eval.repeats` is part of the
offline stage's settings, so a larger evaluation here does not redo that stage). `--mode`:
  online        the pipeline's online iteration (collect, label, append, update)
  updates_only  the same updates on the offline buffers alone, nothing collected (the
                pipeline's `no_new_data` method; separates "more updates" from "new data")
Writes per-seed curves of the test (and training-task) post-adaptation return as JSON.
"""

import json

import jax
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from jaxinsert.agents import smac
from jaxinsert.training import smac_loops, smac_pipeline

_CONFIG = config_flags.DEFINE_config_file("config", None, "the study's config file")
_WORKDIR = flags.DEFINE_string("workdir", None, "a workdir with finished pearl_data and offline")
_METHOD = flags.DEFINE_enum("method", "oracle", ["smac", "oracle"],
                             "online method (updates_only runs no_new_data)")
_MODE = flags.DEFINE_enum("mode", "online", ["online", "updates_only"], "what an iteration does")
_REPEATS = flags.DEFINE_integer("eval_repeats", 20, "meta-episodes per test task")
_TRAIN_REPEATS = flags.DEFINE_integer("train_eval_repeats", 0,
                                      "meta-episodes per training task (0: not evaluated)")
_OUT = flags.DEFINE_string("out", None, "JSON file for the curves")


def main(argv) -> None:
  del argv
  config = _CONFIG.value
  pipe = smac_pipeline.SMACPipeline(config, _WORKDIR.value, progress=False)
  on = config.online
  method = _METHOD.value if _MODE.value == "online" else "no_new_data"
  labeller, states, buffers, keys, step = pipe.online_start(method, pipe.load_buffers())
  seeds = config.num_seeds
  eval_key = smac_loops.seed_keys(config.seed, 1, smac_pipeline.EVAL)[0]

  def score(states):
    ev = config.eval
    run = lambda s, k, tasks, repeats: smac_loops.evaluate(
        pipe.env, smac, s, ev.num_trajectories, repeats, tasks, k)
    keys = jax.random.split(eval_key, seeds)
    test = np.asarray(jax.vmap(lambda s, k: run(s, k, pipe.test_tasks, _REPEATS.value))(
        states, keys))
    row = {"test_post": test[..., -1].mean(axis=(1, 2)).tolist(),
           "test_first": test[..., 0].mean(axis=(1, 2)).tolist()}
    if _TRAIN_REPEATS.value:
      train = np.asarray(jax.vmap(lambda s, k: run(s, k, pipe.train_tasks,
                                                   _TRAIN_REPEATS.value))(states, keys))
      row["train_post"] = train[..., -1].mean(axis=(1, 2)).tolist()
    return row

  curve = [{"iteration": 0, **score(states)}]
  print(json.dumps(curve[-1]), flush=True)
  for iteration in range(on.iterations):
    states, buffers, metrics = step(states, labeller, buffers,
                                    jax.random.split(keys[iteration], seeds))
    if (iteration + 1) % on.eval_every == 0 or iteration + 1 == on.iterations:
      curve.append({"iteration": iteration + 1, **score(states),
                    **smac_loops.mean_metrics(metrics)})
      print(json.dumps({k: v for k, v in curve[-1].items()
                        if k in ("iteration", "test_post", "test_first", "train_post", "q",
                                 "critic_loss", "advantage", "log_prob")}), flush=True)
  result = {"method": method, "mode": _MODE.value, "eval_repeats": _REPEATS.value,
            "online": on.to_dict(), "smac": config.smac.to_dict(), "curve": curve}
  if _OUT.value:
    with open(_OUT.value, "w") as handle:
      json.dump(result, handle, indent=1)
  first, last = np.asarray(curve[0]["test_post"]), np.asarray(curve[-1]["test_post"])
  print(f"test post-adaptation: step 0 {first.mean():.2f} {np.round(first, 2).tolist()} -> "
        f"{last.mean():.2f} {np.round(last, 2).tolist()}")


if __name__ == "__main__":
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main)
