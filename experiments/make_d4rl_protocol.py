"""D4RL's data protocol, reproduced in gymnasium MuJoCo: train the SAC policies, or regenerate datasets.

Regenerate every dataset of the committed policies (deterministic; D4RL-layout HDF5 + RLDS):
  python experiments/make_d4rl_protocol.py --out=/tmp/d4rl_protocol [--envs=hopper] [--steps=1000000]

Train the behaviour policies (long; writes snapshots and a checkpoint to --workdir, and the
same command resumes from the checkpoint), then pick and commit them:
  nice -n 19 python experiments/make_d4rl_protocol.py --mode=train_sac --envs=hopper \
      --workdir=runs/d4rl_sac/hopper [--sac_steps=1000000] [--sac_stop_medium_factor=1.25]
  python experiments/make_d4rl_protocol.py --mode=select --envs=hopper --workdir=runs/d4rl_sac/hopper
Re-measure the committed snapshots with more episodes and pick medium / expert again:
  python experiments/make_d4rl_protocol.py --mode=rescore --envs=hopper [--rescore_episodes=30]
Replace only the expert with the best snapshot of a longer run (medium and medium-replay, and
their datasets, stay; measured over --rescore_episodes, refused unless it beats medium):
  python experiments/make_d4rl_protocol.py --mode=select_expert --envs=halfcheetah \
      --workdir=runs/d4rl_sac/halfcheetah [--rescore_episodes=10]
On a 2-core CPU, pin each SAC process to one core (`taskset -c 0 python ...`): JAX 0.10 no
longer honours XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1".
"""

import json

from absl import app, flags

_MODE = flags.DEFINE_enum("mode", "generate", ["generate", "train_sac", "select", "select_expert",
                                             "rescore"],
                          "generate datasets, train SAC, select and commit policies (all, or only the expert), "
                          "or rescore the committed ones.")
_RESCORE_EPISODES = flags.DEFINE_integer("rescore_episodes", 30, "Episodes per snapshot (rescore, "
                                         "select_expert).")
_ENVS = flags.DEFINE_list("envs", ["hopper", "halfcheetah", "walker2d"], "Environments.")
_DATASETS = flags.DEFINE_list("datasets", None, "Dataset kinds (default: all five).")
_OUT = flags.DEFINE_string("out", "/tmp/d4rl_protocol", "Output directory of generated datasets.")
_STEPS = flags.DEFINE_integer("steps", 1_000_000, "Transitions per dataset (D4RL: 1M; medium-replay "
                              "is as long as the SAC run up to the medium policy).")
_SEED = flags.DEFINE_integer("seed", 0, "Base seed of dataset generation.")
_RLDS = flags.DEFINE_bool("rlds", True, "Also convert every HDF5 file to an RLDS dataset.")
_WORKDIR = flags.DEFINE_string("workdir", None, "SAC run directory (train_sac, select).")
_SAC_STEPS = flags.DEFINE_integer("sac_steps", 1_000_000, "SAC environment steps (train_sac).")
_SAC_SEED = flags.DEFINE_integer("sac_seed", 0, "SAC seed (train_sac).")
_SAC_START_STEPS = flags.DEFINE_integer("sac_start_steps", None, "Uniform random steps first "
                                        "(train_sac; default the config's 10k).")
_SAC_SNAPSHOT_EVERY = flags.DEFINE_integer("sac_snapshot_every", None, "Env steps between snapshots, "
                                           "evaluations and checkpoints (train_sac; default 5k).")
_SAC_STOP_MEDIUM_FACTOR = flags.DEFINE_float(
    "sac_stop_medium_factor", 0.0, "Stop after the first snapshot whose return reaches this "
    "multiple of D4RL's medium return (train_sac; 0 = train to --sac_steps). Resume later "
    "without it to train on towards the expert.")


def main(argv):
  del argv
  from jaxinsert.training import cli

  cli.run_main(_run)


def _run():
  from jaxinsert.benchmarks.d4rl import protocol

  envs = [protocol.gymnasium_id(name) for name in _ENVS.value]
  if _MODE.value == "train_sac":
    from jaxinsert.benchmarks.d4rl import sac_training

    if not _WORKDIR.value or len(envs) != 1:
      raise ValueError("--mode=train_sac needs --workdir and exactly one --envs")
    config = sac_training.default_config()
    config.env_steps = _SAC_STEPS.value
    config.seed = _SAC_SEED.value
    if _SAC_START_STEPS.value is not None:
      config.start_steps = _SAC_START_STEPS.value
    if _SAC_SNAPSHOT_EVERY.value is not None:
      config.snapshot_every = _SAC_SNAPSHOT_EVERY.value
    if _SAC_STOP_MEDIUM_FACTOR.value:
      from jaxinsert.benchmarks.d4rl.reference import raw_return

      name = protocol.family(envs[0])
      config.stop_return = _SAC_STOP_MEDIUM_FACTOR.value * float(
          raw_return(name, protocol.MEDIUM_TARGET_SCORE[name]))
    print(json.dumps(sac_training.train_sac(envs[0], _WORKDIR.value, config)))
  elif _MODE.value == "select":
    if not _WORKDIR.value or len(envs) != 1:
      raise ValueError("--mode=select needs --workdir and exactly one --envs")
    print(json.dumps(protocol.select_policies(envs[0], _WORKDIR.value), indent=2))
  elif _MODE.value == "select_expert":
    if not _WORKDIR.value or len(envs) != 1:
      raise ValueError("--mode=select_expert needs --workdir and exactly one --envs")
    manifest = protocol.select_expert(envs[0], _WORKDIR.value, eval_episodes=_RESCORE_EPISODES.value)
    print(json.dumps({key: manifest[key] for key in ("env_id", "medium", "expert", "expert_rule")}))
  elif _MODE.value == "rescore":
    for env_id in envs:
      manifest = protocol.rescore_committed(env_id, episodes=_RESCORE_EPISODES.value)
      print(json.dumps({key: manifest[key] for key in ("env_id", "medium", "expert", "rescored")}))
  else:
    kinds = _DATASETS.value or list(protocol.DATASET_KINDS)
    for env_id in envs:
      for kind in kinds:
        report = protocol.generate_dataset(env_id, kind, _OUT.value, steps=_STEPS.value,
                                           seed=_SEED.value, rlds=_RLDS.value)
        print(json.dumps(report))


if __name__ == "__main__":
  app.run(main)
