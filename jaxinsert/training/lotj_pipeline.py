"""The LOTJ pipeline (seed 001): collect vision data -> reward-classifier study on held-out
connectors (Table IV) -> per held-out connector and scenario (`rl.connectors`, `rl.scenarios`):
a DAIB reward model and image IQL with DAIB trained leave-one-out, the offline policy and the
scripted baselines over 20 trials, self-rewarded finetuning, the finetuned policy over 20 trials.
Stages run on `stages.StageRunner`; the workdir holds data/lotj (RLDS, insertion-vision),
stages/ and summary.json (k/20 tables).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List

import ml_collections
import numpy as np

from jaxinsert.training import logging, lotj_data, stages

PAPER_REWARD_ACCURACY = {"daib": 0.88, "vib": 0.79, "daib_lambda0": 0.77, "erm": 0.76, "dann": 0.71}


def _csv(text: str) -> List[str]:
  return [part.strip() for part in str(text).split(",") if part.strip()]


LEARNED_BASELINES = ("localize", "state_iql")
# Offline-to-online baselines: trained offline on the images, then practising as LOTJ does.
PRACTISING_BASELINES = ("sac_vision",)


def check_baselines(config: ml_collections.ConfigDict) -> None:
  """Refuses an unknown `rl.baselines` name before any stage runs."""
  from jaxinsert.training import lotj_rl

  known = sorted(lotj_rl.SCRIPTED_BASELINES) + list(LEARNED_BASELINES) + list(PRACTISING_BASELINES)
  unknown = sorted(set(_csv(config.rl.baselines)) - set(known))
  if unknown:
    raise ValueError(f"config.rl.baselines: unknown {unknown}; known: {known}")


class LOTJPipeline:
  def __init__(self, config: ml_collections.ConfigDict, workdir: str, progress: bool = True,
               redo: bool = False):
    check_baselines(config)
    self.config = config
    self.workdir = os.path.abspath(workdir)
    self.progress = progress
    self.runner = stages.StageRunner(config, self.workdir, progress, redo=redo)

  def stages(self) -> List[stages.Stage]:
    declared = [stages.Stage("collect", self.collect, ("seed", "collect"), outputs=("data",))]
    if self.config.reward_study.variants:
      declared.append(stages.Stage("reward_study", self.reward_study,
                                   ("seed", "num_seeds", "reward", "reward_study"), ("collect",)))
    if self.config.rl.connectors:
      declared.append(stages.Stage("policy", self.policy, ("seed", "reward", "agent", "rl",
                                                           "localizer", "state_iql", "sac_vision"),
                                   ("collect",)))
    return declared

  def run(self) -> Dict[str, Any]:
    os.makedirs(self.workdir, exist_ok=True)
    logging.write_provenance(self.workdir, self.config.to_dict())
    records = self.runner.run(self.stages())
    summary = {"collect": {k: v for k, v in records["collect"].items() if k != "per_domain"},
               "reward_study": records.get("reward_study", {}).get("table")}
    if "policy" in records:
      from jaxinsert.training import lotj_report
      table = records["policy"].get("table")
      summary["policy"] = table
      summary["policy_table"] = lotj_report.markdown_table(table, self.config.rl.trials)
      lotj_report.plot_practice(table, os.path.join(self.workdir, "practice_curve.png"))
      self._say(summary["policy_table"])
    with open(os.path.join(self.workdir, "summary.json"), "w") as handle:
      json.dump(summary, handle, indent=1, default=float)
    return summary

  def _say(self, message: str) -> None:
    if self.progress:
      print(message, flush=True)

  @property
  def data_path(self) -> str:
    return os.path.join(self.workdir, "data", "lotj")

  def collect(self) -> Dict[str, Any]:
    c = self.config.collect
    task_list = lotj_data.lotj_tasks(start=c.start, camera_fovy_deg=c.camera_fovy_deg)
    episodes = lotj_data.collect(task_list, c.episodes_per_domain, image_size=c.image_size,
                                 seed=self.config.seed, random_probability=c.random_probability,
                                 envs_per_domain=c.envs_per_domain)
    stats = lotj_data.domain_statistics(episodes)
    lotj_data.write(self.data_path, episodes, c.image_size, overwrite=True, provenance={
        "generator": "jaxinsert/training/lotj_pipeline.py", "suite": "lotj",
        "policy": "collector (centreline within 1 mm, then down; random action p=0.2)",
        "seed": self.config.seed, "start": c.start, "tasks": [t.name for t in task_list]})
    success = [row["success_rate"] for row in stats.values()]
    positive = [row["positive_fraction"] for row in stats.values()]
    self._say(f"[collect] {len(episodes)} episodes, success {np.mean(success):.3f} "
              f"(min {np.min(success):.2f}), positive fraction {np.mean(positive):.3f}")
    return {"episodes": len(episodes), "images": int(sum(r["images"] for r in stats.values())),
            "success_rate": float(np.mean(success)), "success_rate_min": float(np.min(success)),
            "positive_fraction": float(np.mean(positive)),
            "per_domain": {str(k): v for k, v in stats.items()}}

  def reward_study(self) -> Dict[str, Any]:
    from jaxinsert.training import lotj_reward

    study = self.config.reward_study
    held_out = _csv(study.held_out)
    train, test = lotj_data.hold_out(lotj_data.read(self.data_path), held_out)
    train_data, test_data = lotj_data.reward_images(train), lotj_data.reward_images(test)
    self._say(f"[reward_study] {len(train_data['label'])} training images "
              f"({int(train_data['label'].sum())} positive) over "
              f"{len(np.unique(train_data['domain_id']))} domains; {len(test_data['label'])} held-out")
    table = {}
    for variant in _csv(study.variants):
      config = ml_collections.ConfigDict(self.config.reward.to_dict())
      config.variant = variant
      states, history = lotj_reward.train(config, self.config.seed, self.config.num_seeds,
                                          train_data, study.steps, study.shift_pad)
      result = lotj_reward.held_out_accuracy(states, test_data,
                                             lotj_data.connector_task_ids(held_out))
      result["train_accuracy"] = lotj_reward.held_out_accuracy(
          states, train_data, sorted(set(train_data["task_id"].tolist())))["mean"]
      result["last_metrics"] = history[-1]
      result["paper"] = PAPER_REWARD_ACCURACY.get(variant)
      table[variant] = result
      self._say(f"[reward_study] {variant}: held-out balanced accuracy {result['mean']:.3f} "
                f"+- {result['std']:.3f} (train {result['train_accuracy']:.3f}; paper "
                f"{result['paper']})")
    return {"held_out": held_out, "table": table}


  def policy(self) -> Dict[str, Any]:
    import jax

    from jaxinsert.agents import iql, sac
    from jaxinsert.training import lotj_finetune, lotj_report, lotj_reward, lotj_rl

    rl, size, seed = self.config.rl, self.config.collect.image_size, self.config.seed
    baselines, learned = _csv(rl.baselines), LEARNED_BASELINES
    episodes = lotj_data.read(self.data_path)
    table: Dict[str, Any] = {}
    for connector in _csv(rl.connectors):
      train, test = lotj_data.leave_one_out(episodes, connector)
      if set(learned) & set(baselines):     # State-IQL acts on the Localize regressor's estimate
        localizer_state, _ = lotj_rl.train_localizer(
            self.config.localizer, lotj_rl.localizer_targets(train), seed)
      if "state_iql" in baselines:
        state_data, state_spec = lotj_rl.offline_transitions(train, size, "tcp_pose_in_socket",
                                                             rl.reward_offset)
        state_agent, _ = lotj_rl.train_offline(self.config.state_iql, state_data, state_spec,
                                               rl.offline_steps, rl.batch_size, seed,
                                               shift_pad=0, agent_module=iql)
      reward_config = ml_collections.ConfigDict(self.config.reward.to_dict())
      reward_config.variant = rl.reward_variant
      reward_states, _ = lotj_reward.train(reward_config, seed, 1, lotj_data.reward_images(train),
                                           rl.reward_steps, self.config.reward_study.shift_pad)
      accuracy = lotj_reward.held_out_accuracy(reward_states, lotj_data.reward_images(test),
                                               lotj_data.connector_task_ids([connector]))["mean"]
      reward = jax.tree_util.tree_map(lambda x: x[0], reward_states)
      data, spec = lotj_rl.offline_transitions(train, size, reward_offset=rl.reward_offset)
      agent, offline_metrics = lotj_rl.train_offline(self.config.agent, data, spec, rl.offline_steps,
                                                     rl.batch_size, seed, shift_pad=rl.shift_pad)
      if "sac_vision" in baselines:
        sac_agent, sac_metrics = lotj_rl.train_offline(self.config.sac_vision, data, spec,
                                                       rl.offline_steps, rl.batch_size, seed,
                                                       shift_pad=rl.shift_pad, agent_module=sac)
        self._say(f"[policy] {connector}: SAC from vision offline {sac_metrics}")
      self._say(f"[policy] {connector}: reward balanced accuracy {accuracy:.3f}; offline {offline_metrics}")
      for scenario in _csv(rl.scenarios):
        task = lotj_rl.held_out_tasks(connector, scenario, self.config.collect.camera_fovy_deg)[0]
        row: Dict[str, Any] = {"reward_balanced_accuracy": accuracy}
        for name in baselines:
          if name == "localize":
            row[name] = lotj_rl.evaluate_localize(localizer_state, task, rl.trials, seed + 7, size)
          elif name == "state_iql":
            row[name] = lotj_rl.evaluate_state_iql(state_agent, task, rl.trials, seed + 7, size,
                                                   localizer_state)
            row["state_iql_true_state"] = lotj_rl.evaluate_state_iql(state_agent, task, rl.trials,
                                                                     seed + 7, size)
          elif name == "sac_vision":
            row["sac_offline"] = lotj_rl.evaluate_agent(sac_agent, task, rl.trials, seed + 7,
                                                        size, agent_module=sac)
          else:
            row[name] = lotj_rl.evaluate_scripted(name, task, rl.trials, seed + 7,
                                                  **lotj_rl.SCRIPTED_BASELINES[name])
        row["lotj_offline"] = lotj_rl.evaluate_agent(agent, task, rl.trials, seed + 7, size)
        if rl.finetune_trials:
          def practise(true_reward: bool, learner_agent=agent, agent_name="lotj"):
            learner, practice = lotj_rl.finetune(
                learner_agent, reward, spec, data, task, rl.finetune_trials, rl.finetune_envs,
                rl.updates_per_step, rl.batch_size, seed + 11, size, rl.act_noise,
                shift_pad=rl.shift_pad, true_reward=true_reward, reward_offset=rl.reward_offset,
                learning_rate=rl.finetune_lr if agent_name == "lotj" else 0.0,
                beta=rl.finetune_beta if agent_name == "lotj" else 0.0, agent_name=agent_name)
            module = lotj_finetune.AGENTS[agent_name]
            return lotj_rl.evaluate_agent(learner.agent, task, rl.trials, seed + 7, size,
                                          agent_module=module), practice, learner.agent
          row["lotj_online"], row["practice_successes"], finetuned = practise(False)
          if rl.true_reward_upper_bound:      # the same practice labelled by the simulator
            row["online_true_reward"], row["practice_successes_true_reward"], _ = practise(True)
          if "sac_vision" in baselines:       # SAC from vision, self-rewarded as LOTJ
            row["sac_online"], row["practice_successes_sac"], _ = practise(False, sac_agent, "sac")
        # A rollout video of LOTJ's policy before and after practice (camera view | its input).
        phases = {"offline": agent, **({"online": finetuned} if rl.finetune_trials else {})}
        for phase, phase_agent in phases.items():
          lotj_rl.record_trial(phase_agent, task, seed + 7, size, os.path.join(
              self.workdir, "videos", f"{task.name}_{scenario}_{phase}.gif"))
        row["premise"] = lotj_rl.premise(accuracy, {"lotj_offline": row["lotj_offline"]}, rl.trials)
        row["barnard"] = lotj_report.barnard_best(lotj_report.scores_of(row), rl.trials)
        table[f"{task.name}/{scenario}"] = row
        self._say(f"[policy] {task.name} {scenario}: " + ", ".join(
            f"{k} {v}/{rl.trials}" for k, v in row.items() if isinstance(v, int)))
    return {"table": table}


def run(config: ml_collections.ConfigDict, workdir: str, progress: bool = True,
        redo: bool = False) -> Dict[str, Any]:
  return LOTJPipeline(config, workdir, progress, redo).run()
