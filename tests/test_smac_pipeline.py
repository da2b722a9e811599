"""The SMAC pipeline's method lists (SMAC, meta-BC, the oracle and the two ablations of issue
17 item 4), its refusals, the summary's rows and per-seed z-shift, and the CLI end to end at
the point robot's tiny budget."""

import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from experiments.configs import smac_pointrobot
from jaxinsert.training import smac_pipeline, smac_report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL_OFFLINE = tuple(smac_pipeline.METHODS_OFFLINE)
ALL_ONLINE = tuple(smac_pipeline.METHODS_ONLINE)


def _config(**changes):
  config = smac_pointrobot.get_config("tiny")
  config.offline.methods, config.online.methods = ALL_OFFLINE, ALL_ONLINE
  for dotted, value in changes.items():
    section, field = dotted.split(".")
    config[section][field] = value
  return config


@pytest.mark.timeout(60)
def test_each_method_sets_its_agent_fields_on_top_of_the_smac_section(tmp_path):
  config = _config()
  pipeline = smac_pipeline.SMACPipeline(config, str(tmp_path), progress=False)
  agents = {method: pipeline.agent_config(method) for method in ALL_OFFLINE}
  for method, agent in agents.items():
    assert agent.beta == config.smac.beta, f"{method} lost the family's beta"
    assert agent.kl_weight == config.smac.kl_weight, f"{method} lost the family's KL weight"
  assert agents["smac"].actor_objective == "awac"
  assert not agents["smac"].q_loss_into_encoder and agents["smac"].reward_loss_into_encoder
  assert agents["meta_bc"].actor_objective == "bc"
  assert agents["actor_ablation"].actor_objective == "pearl"
  assert agents["actor_ablation"].reward_loss_into_encoder
  q_only = agents["encoder_q_only"]
  assert q_only.q_loss_into_encoder and not q_only.reward_loss_into_encoder
  assert q_only.train_encoder_online and q_only.actor_objective == "awac"
  # Every online method starts from (and labels with) an offline method that trains.
  for method, (source, rewards) in smac_pipeline.METHODS_ONLINE.items():
    assert source in ALL_OFFLINE and rewards in ("decoder", "true", "none"), method
  assert smac_pipeline.METHODS_ONLINE["oracle"] == ("smac", "true")
  assert smac_pipeline.METHODS_ONLINE["no_new_data"] == ("smac", "none")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("changes, field", [
    ({"offline.methods": ("smac", "sac")}, "offline.methods"),
    ({"online.methods": ("smac", "pearl")}, "online.methods"),
    ({"offline.methods": ("smac", "meta_bc")}, "offline.methods"),   # actor_ablation online
    ({"offline.methods": ("meta_bc",), "online.methods": ()}, "offline.methods"),
    ({"data.rl_slice": "middle"}, "data.rl_slice"),
])
def test_bad_method_lists_and_slices_are_refused_naming_the_field(tmp_path, changes, field):
  with pytest.raises(ValueError, match=field.replace(".", r"\.")):
    smac_pipeline.SMACPipeline(_config(**changes), str(tmp_path), progress=False)


def _records(rng, seeds=3, tasks=4, draws=5):
  score = lambda: {"test_post_adaptation": rng.normal(-15, 1, seeds).tolist()}
  curve = lambda: {"curve": [{"env_steps": step, "test_post_adaptation":
                              rng.normal(-15, 1, seeds).tolist()} for step in (0, 40, 80)],
                   **score()}
  shift = lambda: {name: rng.normal(8, 1, (seeds, tasks, draws)).tolist() for name in
                   ("kl_offline", "kl_online", "return_offline", "return_online",
                    "context_reward_offline", "context_reward_online")}
  return {"pearl_data": {"curve": [{"test_post_adaptation": -15.0}]},
          "offline": {**{m: score() for m in ALL_OFFLINE}, "z_shift": shift()},
          "online": {**{m: curve() for m in ALL_ONLINE}, "z_shift": shift()}}


@pytest.mark.timeout(120)
def test_the_summary_has_a_row_per_method_and_the_z_shift_spread_over_seeds(tmp_path):
  records = _records(np.random.default_rng(0))
  config = _config()
  config.num_seeds = 3
  pipeline = types.SimpleNamespace(family=types.SimpleNamespace(name="point-robot"),
                                   env=types.SimpleNamespace(reward_type="dense"),
                                   config=config, workdir=str(tmp_path))
  summary = smac_report.write_summary(pipeline, records)
  assert set(summary["offline"]) == set(ALL_OFFLINE)
  assert set(summary["after_online"]) == set(ALL_ONLINE)
  ablation = records["online"]["actor_ablation"]["test_post_adaptation"]
  assert summary["after_online"]["actor_ablation"]["per_seed"] == pytest.approx(ablation)
  assert summary["smac_after_online"] == summary["after_online"]["smac"]
  shift = records["offline"]["z_shift"]
  kl_online = np.asarray(shift["kl_online"])
  assert summary["z_shift_after_offline"]["kl_online_context"]["per_seed"] == pytest.approx(
      kl_online.mean(axis=(1, 2)))
  above = [np.mean(on > np.median(off)) for off, on in
           zip(np.asarray(shift["kl_offline"]), kl_online)]
  assert summary["z_shift_after_offline"]["online_above_offline_median"]["per_seed"] == \
      pytest.approx(above)
  assert os.path.exists(summary["plots"]["curve"]) and os.path.exists(summary["plots"]["z_shift"])
  offline_mean = summary["offline_only_smac"]["mean"]
  gap = summary["oracle_after_online"]["mean"] - offline_mean
  closed = summary["smac_after_online"]["mean"] - offline_mean
  assert summary["gap_closed_fraction"] == (pytest.approx(closed / gap) if gap > 0 else None)
  # An oracle that loses leaves the fraction undefined rather than a share of a loss.
  records["online"]["oracle"]["test_post_adaptation"] = [offline_mean - 1.0] * 3
  assert smac_report.write_summary(pipeline, records)["gap_closed_fraction"] is None


def _run_cli(config_file: str, workdir: str, flags=(), timeout: int = 840) -> dict:
  """The SMAC CLI at a config's :tiny variant in a subprocess (XLA's optimisations off: at
  this size compilation is nearly all of the time); returns its summary."""
  command = [sys.executable, os.path.join(ROOT, "experiments", "smac.py"),
             "--config=" + os.path.join(ROOT, "experiments", "configs", config_file) + ":tiny",
             f"--workdir={workdir}", *flags]
  done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                        env=dict(os.environ, JAX_PLATFORMS="cpu",
                                 JAX_DISABLE_MOST_OPTIMIZATIONS="1"))
  assert done.returncode == 0, done.stderr[-3000:]
  with open(os.path.join(workdir, "summary.json")) as handle:
    return json.load(handle)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_cli_runs_smac_the_oracle_and_both_ablations_end_to_end(tmp_path):
  workdir = str(tmp_path / "run")
  methods = lambda names: "(" + ",".join(repr(n) for n in names) + ",)"
  summary = _run_cli("smac_pointrobot.py", workdir,
                     (f"--config.offline.methods={methods(ALL_OFFLINE)}",
                      f"--config.online.methods={methods(ALL_ONLINE)}"))
  assert set(summary["offline"]) == set(ALL_OFFLINE)
  assert set(summary["after_online"]) == set(ALL_ONLINE)
  config = smac_pointrobot.get_config("tiny")
  with open(os.path.join(workdir, "stages", "offline.json")) as handle:
    kl = np.asarray(json.load(handle)["z_shift"]["kl_online"])
  assert kl.shape == (config.num_seeds, config.family.num_train, config.diagnostic.draws)
  for method in ALL_OFFLINE:
    assert os.path.exists(os.path.join(workdir, "offline", f"{method}.msgpack")), method
  # The ablations trained their own agents: their step-0 scores differ from SMAC's.
  with open(os.path.join(workdir, "stages", "online.json")) as handle:
    online = json.load(handle)
  step0 = {m: online[m]["curve"][0]["test_post_adaptation"] for m in ALL_ONLINE}
  assert step0["oracle"] == step0["smac"], "the oracle must start from SMAC's offline states"
  assert step0["no_new_data"] == step0["smac"], "the control must start from SMAC's states"
  assert step0["actor_ablation"] != step0["smac"]
  assert step0["encoder_q_only"] != step0["smac"]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_ant_dir_family_runs_every_stage_at_its_tiny_budget(tmp_path):
  """Ant-Dir's :tiny config end to end: PEARL data written as RLDS under the spec's ant-dir
  variant, the last-rows RL slice loaded, SMAC, meta-BC, the oracle and the report."""
  summary = _run_cli("smac_ant_dir.py", str(tmp_path / "ant"), timeout=1140)
  assert summary["family"] == "ant-dir"
  for phase, methods in (("offline", ("smac", "meta_bc")), ("after_online", ("smac", "oracle"))):
    for method in methods:
      assert np.all(np.isfinite(summary[phase][method]["per_seed"])), (phase, method)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_insertion_family_runs_every_stage_at_its_tiny_budget(tmp_path):
  """The insertion family's :tiny config end to end: PEARL with its critic on the shaping
  reward, data written as RLDS under the spec's insertion variant with sparse rewards, SMAC,
  meta-BC, the oracle, the z-shift diagnostic and the report."""
  from jaxinsert.data import transitions

  workdir = str(tmp_path / "insertion")
  summary = _run_cli("smac_insertion.py", workdir)
  assert summary["family"] == "insertion" and summary["reward_type"] == "sparse"
  for phase, methods in (("offline", ("smac", "meta_bc")), ("after_online", ("smac", "oracle"))):
    for method in methods:
      assert np.all(np.isfinite(summary[phase][method]["per_seed"])), (phase, method)
  rows, _, _ = transitions.load_transitions(os.path.join(workdir, "data", "rl"),
                                           obs_keys=["state"])
  rewards = np.asarray(rows.reward)
  assert rewards.size and set(np.unique(rewards)) <= {0.0, 1.0}, "the buffers must hold the sparse reward"
