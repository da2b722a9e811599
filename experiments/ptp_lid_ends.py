"""Where a `lid_socket` PTP run's evaluation episodes end (issue 19): inserted, in the tray, on
the closed lid's top, against its side (below its top, within 1 cm of it), with the lid open
but not inserted, or elsewhere; per method, for the saved offline or finetuned agents, with the
run's evaluation keys (mean actions; the plan buffers empty, as saved agents carry none).

  python experiments/ptp_lid_ends.py --workdir=runs/lid_def_s0 --config=experiments/configs/ptp_lid.py \
      --finetuned
"""

import json

from absl import app, flags

from experiments import ptp_runs

ptp_runs.define_run_flags(task=None)
flags.DEFINE_list("modes", ["ptp", "final_goal"], "planning modes to evaluate")
flags.DEFINE_bool("isotropic", False, "the run's config.isotropic_state_latent")
flags.DEFINE_bool("finetuned", False, "each mode's finetuned agents (finetuned/<mode>) instead "
                  "of the offline ones, with the finetuning's last evaluation key")
FLAGS = flags.FLAGS


def classify(env, final):
  """Counts of final states (N, 4) by where they are."""
  import numpy as np

  final = np.asarray(final)
  lid = env.lid
  x_low, x_high, y_low, y_high = env.lid_footprint_m(final[:, 3])   # y: per final state
  inserted = np.asarray([bool(env.is_success(s)) for s in final])
  in_tray = np.asarray([int(env.stage(s)) == 0 for s in final])
  over = ((final[:, 0] > x_low) & (final[:, 0] < x_high) & (final[:, 1] > y_low)
          & (final[:, 1] < y_high))
  on_top = over & (np.abs(final[:, 2] - lid.height_m) < 1e-4)
  near = ((final[:, 0] > x_low - 0.01) & (final[:, 0] < x_high + 0.01)
          & (final[:, 1] > y_low - 0.01) & (final[:, 1] < y_high + 0.01))
  side = near & ~over & (final[:, 2] < lid.height_m)
  lid_open = final[:, 3] >= env.open_offset_m
  groups = {"inserted": inserted, "in_tray": in_tray & ~inserted, "on_lid_top": on_top,
            "against_lid_side": side & ~inserted, "lid_open_not_inserted": lid_open & ~inserted}
  taken = np.zeros(len(final), bool)
  counts = {}
  for name, mask in groups.items():
    counts[name] = int(np.sum(mask & ~taken))
    taken |= mask
  counts["elsewhere"] = int(np.sum(~taken))
  return counts


def main(_):
  import jax
  import numpy as np

  config, pipeline, _ = ptp_runs.open_flagged_run(task="lid_socket",
                                                  isotropic_state_latent=FLAGS.isotropic)
  config.eval.offline_modes = tuple(FLAGS.modes)   # the run's modes (GCP needs its own model)
  finetuned = FLAGS.finetuned
  key = (pipeline.finetune_eval_key(config.finetune.iterations) if finetuned
         else jax.random.PRNGKey(config.seed + 3))
  result = {"workdir": FLAGS.workdir, "finetuned": finetuned}
  for mode in FLAGS.modes:
    agents = pipeline.saved_agents(f"finetuned/{mode}" if finetuned else "offline")
    record = pipeline.evaluate(agents, pipeline._seed_buffers(mode), mode, key)
    final = np.asarray(pipeline._last_evaluation["positions"])[:, :, -1].reshape(-1, 4)
    result[mode] = {"success_k": record["success_k"], **classify(pipeline.env, final)}
  print(json.dumps(result))


if __name__ == "__main__":
  app.run(main)
