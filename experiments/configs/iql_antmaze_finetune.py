"""IQL offline-to-online finetuning on AntMaze (thesis ch. 7, E.2; Table 2; official config)."""

from jaxinsert.training.config import online_run_config


def get_config():
  config = online_run_config("iql")
  config.agent.expectile = 0.9        # thesis E.2: "tau = 0.9 and beta = 10.0" (AntMaze)
  config.agent.beta = 10.0            # thesis E.2 (inverse temperature)
  config.agent.cosine_decay_steps = 0  # digest 1.2 [REF-CODE]: opt_decay_schedule=None
  config.dataset.reward_preprocessing = "antmaze_minus_one"  # thesis E.2: r - 1
  config.offline_steps = 1_000_000    # thesis E.2: "offline RL for 1M gradient steps"
  config.online_steps = 1_000_000     # thesis E.2 / Table 2: 1M online steps
  config.updates_per_env_step = 1     # thesis E.2: "1 gradient update / environment step"
  config.replay_capacity = 2_000_000  # digest 1.2 [REF-CODE]: --replay_buffer_size 2000000
  config.initialize_replay_with_offline = True  # thesis E.2: offline data seeds the buffer
  config.offline_ratio = 0.0          # thesis E.2: batches drawn from that one buffer
  config.eval_episodes = 100          # thesis E.3: 100 evaluation trajectories (AntMaze)
  return config
