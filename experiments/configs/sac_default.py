"""SAC trained online from scratch: the expert/medium policies behind generated locomotion data."""

from jaxinsert.training.config import online_run_config


def get_config():
  config = online_run_config("sac")
  config.offline_steps = 0            # pure online RL: no offline phase
  config.offline_ratio = 0.0          # batches only from the online replay
  config.online_steps = 1_000_000     # Haarnoja et al. 2018b: 1M steps on MuJoCo
  config.updates_per_env_step = 1     # Haarnoja et al. 2018b: one gradient step per env step
  config.replay_capacity = 1_000_000  # Haarnoja et al. 2018b, Table 1: replay buffer 1e6
  config.batch_size = 256             # Haarnoja et al. 2018b, Table 1: minibatch 256
  config.agent.hidden_dims = (256, 256)  # Haarnoja et al. 2018b, Table 1: 2 x 256
  config.agent.discount = 0.99        # Haarnoja et al. 2018b, Table 1
  config.agent.target_tau = 0.005     # Haarnoja et al. 2018b, Table 1
  config.agent.target_entropy_scale = -1.0  # Haarnoja et al. 2018b: target entropy -dim(A)
  return config
