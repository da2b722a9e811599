"""Speed benchmarks: `python experiments/bench.py --what=updates|iql_reference|data|env|online`.

Each prints a human-readable table and, as its last line, one JSON object with the figures.
"""

import json

from absl import app, flags

_WHAT = flags.DEFINE_enum("what", "updates", ["updates", "iql_reference", "data", "env", "online"], "What to measure.")
_AGENTS = flags.DEFINE_list("agents", None, "Agents to measure (--what=updates); default all.")


def main(argv):
  del argv
  import importlib

  module = importlib.import_module(f"experiments.benchmarks.{_WHAT.value}")
  kwargs = {"agents": _AGENTS.value} if _WHAT.value == "updates" and _AGENTS.value else {}
  results = module.run(**kwargs)
  print(json.dumps(results, default=float))


if __name__ == "__main__":
  app.run(main)
