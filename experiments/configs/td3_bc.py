"""TD3+BC (Fujimoto & Gu 2021), the Table 1 baseline, with the paper's hyper-parameters."""

from jaxinsert.training.config import offline_run_config


def get_config():
  config = offline_run_config("td3")
  config.agent.bc_alpha = 2.5         # Fujimoto & Gu 2021: alpha = 2.5
  config.agent.policy_delay = 2       # Fujimoto & Gu 2021, Table (TD3 defaults): policy freq 2
  config.agent.target_policy_noise = 0.2  # Fujimoto & Gu 2021: policy noise 0.2
  config.agent.target_noise_clip = 0.5    # Fujimoto & Gu 2021: noise clip 0.5
  config.agent.actor_lr = 3e-4        # Fujimoto & Gu 2021: learning rate 3e-4
  config.agent.critic_lr = 3e-4       # Fujimoto & Gu 2021: learning rate 3e-4
  config.agent.hidden_dims = (256, 256)  # Fujimoto & Gu 2021: 2 x 256
  config.agent.target_tau = 0.005     # Fujimoto & Gu 2021: target update rate 5e-3
  config.agent.discount = 0.99        # Fujimoto & Gu 2021
  config.max_steps = 1_000_000        # Fujimoto & Gu 2021: 1M training steps
  config.batch_size = 256             # Fujimoto & Gu 2021: mini-batch 256
  return config
