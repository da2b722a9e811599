"""Where the actor of an IQL or AWAC run left by experiments/d4rl_benchmark.py puts its weight.

  python experiments/d4rl_diagnose.py --workdir=runs/hopper_medium_iql_150k [--seed=0] [--window=50]

Restores the run's last checkpoint and prints, for its dataset file: V against the discounted
Monte-Carlo return, V / return / advantage k steps before terminals, and the share of the
actor's exp(beta * A) weight that lands in the last --window steps before terminals
(jaxinsert.benchmarks.d4rl.diagnostics). Writes WORKDIR/diagnose_seed<SEED>.json.
"""

from absl import app, flags

_WORKDIR = flags.DEFINE_string("workdir", None, "A d4rl_benchmark.py run directory (IQL or AWAC).")
_SEED = flags.DEFINE_integer("seed", 0, "Which of the run's vmapped seeds.")
_WINDOW = flags.DEFINE_integer("window", 50, "Steps before a terminal counted as 'near' it.")
flags.mark_flags_as_required(["workdir"])

from jaxinsert.benchmarks.d4rl.run import diagnose


def main(argv):
  del argv
  from jaxinsert.training import cli

  cli.run_main(lambda: print(diagnose(_WORKDIR.value, _SEED.value, _WINDOW.value)[1]))


if __name__ == "__main__":
  app.run(main)
