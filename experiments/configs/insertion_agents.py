"""BC and AWAC beside IQL on the same data, tasks and budgets as insertion_default.py.

  python experiments/insertion.py --config=experiments/configs/insertion_agents.py:awac \\
      --workdir=DIR --config.dataset.path=DEFAULT_DIR/dataset

Pass the default run's dataset so all three agents train on the same episodes. Networks are
128 x 128 for all three (the IQL default's size), so only the objective differs.
"""

from experiments.configs import insertion_default


def get_config(agent_name: str = "awac"):
  if agent_name == "iql":
    return insertion_default.get_config()
  config = insertion_default.pipeline_config(agent_name)
  if agent_name == "awac":
    config.agent.beta = 1.0 / 0.3          # thesis D: lambda = 0.3 for manipulation
    config.agent.policy_hidden_dims = (128, 128)
    config.agent.critic_hidden_dims = (128, 128)
  elif agent_name == "bc":
    config.agent.hidden_dims = (128, 128)
    config.offline_ratio = 0.5             # BC "finetunes" by cloning its replay: a baseline
  else:
    raise ValueError(f"insertion_agents.py compares bc, awac and iql, not {agent_name!r}")
  return config
