"""The D4RL locomotion preset of an agent, for experiments/d4rl_benchmark.py:
`--config=experiments/configs/d4rl_offline.py:iql` (or `:bc`, `:awac`), any field then
overridden with `--config.FIELD=VALUE` as in every other CLI."""

from jaxinsert.benchmarks.d4rl.run import PUBLISHED_COLUMN, agent_config


def get_config(agent: str = "iql"):
  if agent not in PUBLISHED_COLUMN:
    raise ValueError(f"no D4RL preset for agent {agent!r}; known: {', '.join(PUBLISHED_COLUMN)}")
  return agent_config(agent)
