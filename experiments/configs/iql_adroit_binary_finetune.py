"""IQL offline-to-online finetuning on the Adroit binary tasks (thesis ch. 7, E.2; Table 2)."""

from jaxinsert.training.config import online_run_config


def get_config():
  config = online_run_config("iql")
  config.agent.expectile = 0.8        # thesis E.2 dexterous finetuning: "tau = 0.8 and beta = 3.0"
  config.agent.beta = 3.0             # thesis E.2 (inverse temperature)
  config.offline_steps = 25_000       # thesis E.2: "25000 offline training steps"
  config.exploration_noise = 0.03     # thesis E.2: Gaussian noise "sigma = 0.03" for exploration
  config.online_steps = 1_000_000     # thesis E.2: 1M online steps (Table 2 "after 1M steps")
  config.updates_per_env_step = 1     # thesis E.2: "1 gradient update / environment step"
  config.replay_capacity = 2_000_000  # digest 1.2 [REF-CODE]: replay buffer 2e6
  config.initialize_replay_with_offline = True  # thesis E.2: offline data seeds the buffer
  config.offline_ratio = 0.0          # thesis E.2: batches drawn from that one buffer
  return config
