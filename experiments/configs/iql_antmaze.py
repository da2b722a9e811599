"""IQL on AntMaze (thesis ch. 7, appendix E.2; official IQL antmaze config)."""

from jaxinsert.training.config import offline_run_config


def get_config():
  config = offline_run_config("iql")
  config.agent.expectile = 0.9        # thesis E.2: "tau = 0.9 and beta = 10.0" (AntMaze)
  config.agent.beta = 10.0            # thesis E.2 (inverse temperature)
  config.dataset.reward_preprocessing = "antmaze_minus_one"  # thesis E.2: subtract 1 from rewards
  config.max_steps = 1_000_000        # digest 1.2 [REF-CODE]: 1e6 updates
  config.batch_size = 256             # digest 1.2 [REF-CODE]
  config.eval_episodes = 100          # thesis E.3: "average over 100 evaluation trajectories"
  config.eval_interval = 100_000      # digest 1.2 [REF-CODE README]: every 100000 steps
  return config
