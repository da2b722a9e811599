"""Can LOTJ's practice correct a perception bias? (issue 18). A state IQL agent, precise where its
perception is (20/20 on the true pose), is trained offline leave-one-out on a finished
`experiments/lotj.py` workdir's data; on the held-out connector it then sees the pose shifted
laterally by a constant bias, as a learned image model's estimate is on a connector it has not
seen (`lotj_rl.ShiftedStateEnv`), and practises LOTJ's way (`lotj_finetune.run_trials`: 200
trials of at most 20 steps, offline and online buffers mixed 75/25, Gaussian exploration noise)
labelled by the simulator's success: the upper bound of what self-rewarded practice could do.

With `--code_dim` > 0 each domain (connector x robot) also carries a fixed random code, a
stand-in for its appearance: irrelevant to the action offline, new on the held-out connector, so
that the online learner can tell the new connector's rows from the offline ones as an image
network can.

  python experiments/lotj_bias_probe.py --workdir=runs/lotj_cam45 --bias_mm=0,1,2,3 \
      --act_noise=0.02,0.05,0.1 --seeds=0,1,2

`--image_connectors=dt12,...` first places the image policy on that scale: LOTJ's offline image
agent (the config's defaults) trained leave-one-out per connector and seed, and where its
deterministic trials on each robot of the held-out connector end (the tip's lateral offset from
the hole: its mean is the policy's bias there).

Writes <workdir>/bias_probe.json (one record per seed, bias and noise; appended under a lock, so
that runs can be split, on both cores at once).
"""

import json
import os
import time

from absl import app, flags

flags.DEFINE_string("workdir", "runs/lotj", "A LOTJ workdir whose collect stage is done.")
flags.DEFINE_string("connector", "dt12", "Held-out connector (both robots left out).")
flags.DEFINE_string("scenario", "scenario1", "Start distribution of practice and evaluations.")
flags.DEFINE_list("bias_mm", ["0", "1", "2", "3"], "Lateral perception biases (mm); empty: no "
                  "state probe.")
flags.DEFINE_list("act_noise", ["0.02", "0.1"], "Exploration noise levels (an action of 1 moves 1 cm).")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds: each its own offline agent and bias direction.")
flags.DEFINE_integer("code_dim", 0, "Size of the per-domain appearance code (0: none).")
flags.DEFINE_float("code_scale_mm", 10.0, "Standard deviation of the code's entries (mm, the "
                   "pose's unit).")
flags.DEFINE_integer("trials", 20, "Evaluation trials per cell.")
flags.DEFINE_integer("finetune_trials", 0, "Practice trials (0: the config's rl.finetune_trials).")
flags.DEFINE_float("offline_ratio", 0.75, "Share of offline rows in each practice batch (the "
                   "paper's 0.75; 0: online rows only).")
flags.DEFINE_float("finetune_beta", 0.0, "The actor's inverse temperature while practising (0: "
                   "the offline one, the config's state_iql.beta).")
flags.DEFINE_float("reward_offset", 0.0, "Added to the 0/1 success rewards, offline and in "
                   "practice (-1: AntMaze's r - 1; LOTJ's default is 0).")
flags.DEFINE_list("image_connectors", [], "Held-out connectors whose image policy's trial ends are "
                  "measured (before the state probe).")
flags.DEFINE_bool("summary", False, "Only print the tables of <workdir>/bias_probe.json (mean "
                  "+- std over seeds), draw <workdir>/bias_probe.png and exit.")
FLAGS = flags.FLAGS


def summary(records) -> str:
  """Markdown tables of the records: the state probe per setting (k/20 and practice successes,
  mean +- std over seeds) and the image policy's trial ends per held-out task."""
  import numpy as np

  def cell(values):
    return f"{np.mean(values):.1f} +- {np.std(values):.1f}"
  lines = ["| code | offline ratio | practice beta | reward offset | practice trials | bias mm | "
           "noise | seeds | offline /20 | practice successes | after practice /20 |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
  groups = {}
  for r in records:
    if r.get("kind", "state") == "state":
      key = (r["code_dim"], r.get("offline_ratio", 0.75), r.get("finetune_beta", 0.0),
             r.get("reward_offset", 0.0), r["practice_trials"], r["bias_mm"], r["act_noise"])
      groups.setdefault(key, {})[r["seed"]] = r     # a rerun of a seed replaces it
  for key in sorted(groups):
    rows = list(groups[key].values())
    lines.append("| " + " | ".join(str(k) for k in key) + f" | {len(rows)} | "
                 + " | ".join(cell([r[k] for r in rows])
                              for k in ("offline", "practice_successes", "after_practice")) + " |")
  ends = {}
  for r in records:
    if r.get("kind") == "image_ends":
      ends.setdefault(r["task"], {})[r["seed"]] = r
  if ends:
    lines += ["", "| held out | seeds | successes /20 | bias mm | spread mm | failures' median "
              "distance mm |", "|---|---|---|---|---|---|"]
    for task in sorted(ends):
      rows = list(ends[task].values())
      failures = [r["median_failure_distance_mm"] for r in rows
                  if r["median_failure_distance_mm"] is not None]
      lines.append(f"| {task} | {len(rows)} | " + " | ".join(
          cell([r[k] for r in rows]) for k in ("successes", "bias_mm", "spread_mm"))
          + f" | {cell(failures) if failures else '-'} |")
  return "\n".join(lines)


def plot(records, path: str) -> str:
  """Success after the paper's practice (200 trials, 75/25, the offline beta and rewards) against
  the bias, per code and noise (mean +- std over seeds), the offline policy's before it, the
  acceptance's 15/20, and the image policy's biases on the held-out connectors (the band)."""
  import numpy as np

  from jaxinsert.training.logging import pyplot, save_figure

  plt = pyplot()
  figure, axis = plt.subplots(figsize=(6.5, 4.0))
  groups = {}
  for r in records:
    if (r.get("kind", "state") == "state" and r.get("offline_ratio", 0.75) == 0.75
        and not r.get("finetune_beta") and not r.get("reward_offset")
        and r["practice_trials"] == 200):
      groups.setdefault((r["code_dim"], r["act_noise"]), {}).setdefault(r["bias_mm"], {})[r["seed"]] = r
  for (code, noise), by_bias in sorted(groups.items()):
    biases = sorted(by_bias)
    after = [[r["after_practice"] for r in by_bias[b].values()] for b in biases]
    axis.errorbar(biases, [np.mean(a) for a in after], yerr=[np.std(a) for a in after],
                  marker="o" if code else "s", capsize=2, alpha=0.85,
                  label=f"after practice, code {code}, noise {noise}")
  if groups:
    by_bias = next(iter(groups.values()))
    biases = sorted(by_bias)
    axis.plot(biases, [np.mean([r["offline"] for r in by_bias[b].values()]) for b in biases],
              "k--", label="before practice")
  ends = {}
  for r in records:
    if r.get("kind") == "image_ends":
      ends.setdefault(r["task"], []).append(r["bias_mm"])
  if ends:
    means = [np.mean(v) for v in ends.values()]
    axis.axvspan(min(means), max(means), color="grey", alpha=0.2,
                 label="image policy's bias, held-out connectors")
  axis.axhline(15, color="red", lw=0.8, ls=":", label="acceptance (15/20)")
  axis.set_xlabel("lateral perception bias (mm)")
  axis.set_ylabel("successes / 20 (dt12@robot0)")
  axis.set_title("What LOTJ's practice corrects (true-reward labels, 200 trials)")
  axis.legend(fontsize=6, loc="upper right")
  return save_figure(figure, path)


def main(_):
  import ml_collections
  import numpy as np

  from experiments.configs import lotj_default
  from jaxinsert.agents import iql
  from jaxinsert.envs import suites
  from jaxinsert.training import lotj_data, lotj_rl
  from jaxinsert.training.logging import append_json_record

  config = lotj_default.get_config()
  with open(os.path.join(FLAGS.workdir, "provenance.json")) as handle:
    config.collect.update(json.load(handle)["config"]["collect"])
  rl, size = config.rl, config.collect.image_size
  trials = FLAGS.finetune_trials or rl.finetune_trials
  task = lotj_rl.held_out_tasks(FLAGS.connector, FLAGS.scenario, config.collect.camera_fovy_deg)[0]
  out_path = os.path.join(FLAGS.workdir, "bias_probe.json")
  if FLAGS.summary:
    records = json.load(open(out_path))
    print(summary(records))
    print(f"[bias] plot: {plot(records, os.path.join(FLAGS.workdir, 'bias_probe.png'))}")
    return
  episodes = lotj_data.read(os.path.join(FLAGS.workdir, "data", "lotj"))

  for connector in FLAGS.image_connectors:
    image_train, _ = lotj_data.leave_one_out(episodes, connector)
    image_data, image_spec = lotj_rl.offline_transitions(image_train, size, reward_offset=rl.reward_offset)
    for seed in [int(s) for s in FLAGS.seeds]:
      start = time.time()
      agent, _ = lotj_rl.train_offline(config.agent, image_data, image_spec, rl.offline_steps,
                                       rl.batch_size, seed, shift_pad=rl.shift_pad)
      for held_out in lotj_rl.held_out_tasks(connector, FLAGS.scenario, config.collect.camera_fovy_deg):
        success, tips = lotj_rl.final_tips(agent, held_out, FLAGS.trials, seed + 7, size)
        lateral_mm = tips[:, :2] * 1e3
        bias = lateral_mm.mean(axis=0)
        record = {"kind": "image_ends", "task": held_out.name, "seed": seed,
                  "trials": FLAGS.trials, "successes": int(success.sum()),
                  "mean_offset_mm": [round(float(b), 2) for b in bias],
                  "bias_mm": round(float(np.linalg.norm(bias)), 2),
                  "spread_mm": round(float(np.sqrt(np.mean(np.sum((lateral_mm - bias)**2, 1)))), 2),
                  "median_failure_distance_mm": (
                      round(float(np.median(np.linalg.norm(lateral_mm[~success], axis=1))), 2)
                      if (~success).any() else None),
                  "seconds": round(time.time() - start, 1)}
        append_json_record(out_path, record)   # locked: runs on both cores share it
        print(f"[ends] {held_out.name} seed {seed}: {record['successes']}/{FLAGS.trials}, mean offset "
              f"{record['mean_offset_mm']} mm (bias {record['bias_mm']}), spread "
              f"{record['spread_mm']} mm, failures at median {record['median_failure_distance_mm']} mm "
              f"({record['seconds']} s)", flush=True)

  if not FLAGS.bias_mm:
    return
  train, _ = lotj_data.leave_one_out(episodes, FLAGS.connector)
  data, spec = lotj_rl.offline_transitions(train, size, "tcp_pose_in_socket", FLAGS.reward_offset)
  num_domains = 1 + max(t.domain_id for t in suites.get_suite("lotj").tasks)
  for seed in [int(s) for s in FLAGS.seeds]:
    codes = lotj_rl.domain_codes(num_domains, FLAGS.code_dim, FLAGS.code_scale_mm * 1e-3,
                                 seed + 1000)
    seed_data, seed_spec = ((data, spec) if not FLAGS.code_dim
                            else lotj_rl.with_domain_codes(data, spec, codes))
    code = codes[task.domain_id]
    start = time.time()
    agent, metrics = lotj_rl.train_offline(config.state_iql, seed_data, seed_spec,
                                           rl.offline_steps, rl.batch_size, seed, shift_pad=0,
                                           agent_module=iql)
    if FLAGS.finetune_beta:
      practice_config = ml_collections.ConfigDict(agent.config.to_dict())
      practice_config.beta = FLAGS.finetune_beta
      practising = agent.replace(config=ml_collections.FrozenConfigDict(practice_config))
    else:
      practising = agent
    angle = np.random.default_rng(seed + 2000).uniform(0.0, 2.0 * np.pi)
    direction = np.array([np.cos(angle), np.sin(angle)])
    for bias_mm in [float(b) for b in FLAGS.bias_mm]:
      bias_m = bias_mm * 1e-3 * direction
      offline = lotj_rl.evaluate_shifted_state(agent, task, FLAGS.trials, seed + 7, bias_m, code)
      for noise in [float(n) for n in FLAGS.act_noise]:
        learner, practice = lotj_rl.finetune_shifted_state(
            practising, seed_spec, seed_data, task, trials, rl.finetune_envs, rl.updates_per_step,
            rl.batch_size, seed + 11, noise, bias_m, code, offline_ratio=FLAGS.offline_ratio,
            reward_offset=FLAGS.reward_offset)
        after = lotj_rl.evaluate_shifted_state(learner.agent, task, FLAGS.trials, seed + 7,
                                               bias_m, code)
        record = {"task": task.name, "seed": seed, "bias_mm": bias_mm,
                  "bias_direction_deg": round(float(np.degrees(angle)), 1), "act_noise": noise,
                  "code_dim": FLAGS.code_dim, "code_scale_mm": FLAGS.code_scale_mm,
                  "offline_ratio": FLAGS.offline_ratio, "finetune_beta": FLAGS.finetune_beta,
                  "reward_offset": FLAGS.reward_offset,
                  "trials": FLAGS.trials,
                  "practice_trials": trials, "offline": offline,
                  "practice_successes": int(sum(practice)), "after_practice": after,
                  "practice_per_block": [int(sum(practice[i:i + 20])) for i in range(0, trials, 20)],
                  "offline_metrics": metrics, "seconds": round(time.time() - start, 1)}
        append_json_record(out_path, record)   # locked: runs on both cores share it
        print(f"[bias] seed {seed} bias {bias_mm} mm noise {noise} code {FLAGS.code_dim} offline "
              f"ratio {FLAGS.offline_ratio} beta {FLAGS.finetune_beta} reward offset "
              f"{FLAGS.reward_offset} trials {trials}: offline "
              f"{offline}/{FLAGS.trials}, practice {record['practice_successes']}/{trials} "
              f"{record['practice_per_block']}, after {after}/{FLAGS.trials} "
              f"({record['seconds']} s)", flush=True)


if __name__ == "__main__":
  app.run(main)
