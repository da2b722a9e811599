"""IQL on Franka Kitchen and Adroit (thesis ch. 7, appendix E.2, Table 20)."""

from jaxinsert.training.config import offline_run_config


def get_config():
  config = offline_run_config("iql")
  config.agent.expectile = 0.7        # thesis E.2: "tau = 0.7 and ... beta = 0.5" (Kitchen/Adroit)
  config.agent.beta = 0.5             # thesis E.2 (inverse temperature)
  config.agent.dropout_rate = 0.1     # thesis E.2: policy dropout "with dropout rate of 0.1"
  config.max_steps = 1_000_000        # digest 1.2 [REF-CODE]: 1e6 updates
  config.batch_size = 256             # digest 1.2 [REF-CODE]
  return config
