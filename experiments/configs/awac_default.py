"""AWAC offline pretraining then online finetuning, MuJoCo settings (thesis Table 16)."""

from jaxinsert.training.config import online_run_config


def get_config():
  config = online_run_config("awac")
  config.agent.beta = 1.0 / 1.0       # beta = 1/lambda; thesis D: "lambda = 1.0 for the MuJoCo"
  config.agent.policy_hidden_dims = (256, 256, 256, 256)  # Table 16: Policy Hidden Sizes
  config.agent.critic_hidden_dims = (256, 256, 256, 256)  # Table 16: Q Hidden Sizes
  config.agent.policy_weight_decay = 1e-4  # Table 16: Policy Weight Decay
  config.agent.actor_lr = 3e-4        # Table 16: Policy Learning Rate
  config.agent.critic_lr = 3e-4       # Table 16: Q Learning Rate
  config.agent.target_tau = 5e-3      # Table 16: Target Network tau
  config.agent.discount = 0.99        # Table 16: Discount Factor
  config.batch_size = 1024            # Table 16: RL Batch Size
  config.offline_steps = 25_000       # Table 16: Number of pretraining steps
  config.updates_per_env_step = 1     # Table 16: Training Batches Per Timestep
  config.replay_capacity = 1_000_000  # Table 16: Replay Buffer Size
  config.exploration_noise = 0.0      # Table 16: Exploration Noise "None (stochastic policy)"
  config.initialize_replay_with_offline = True  # thesis ch. 6: prior data seeds the buffer
  config.offline_ratio = 0.0          # thesis ch. 6: batches drawn from that one buffer
  return config
