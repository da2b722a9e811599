"""The published D4RL hyper-parameters of each agent, as run configs.

The library holds them because the D4RL runner (`jaxinsert.benchmarks.d4rl.run`) trains with
them; `experiments/configs/{iql_locomotion,bc_default,awac_default}.py` are these functions
under `--config=`.
"""

from jaxinsert.training.config import offline_run_config, online_run_config


def iql_locomotion():
  """IQL on MuJoCo locomotion (thesis ch. 7, appendix E.2; official IQL mujoco config)."""
  config = offline_run_config("iql")
  config.agent.expectile = 0.7        # thesis E.2: "tau = 0.7 and beta = 3.0" (locomotion)
  config.agent.beta = 3.0             # thesis E.2 (inverse temperature)
  config.dataset.reward_preprocessing = "locomotion_return_range"  # thesis E.2; x1000 [REF-CODE]
  config.max_steps = 1_000_000        # digest 1.2 [REF-CODE]: 1e6 updates
  config.batch_size = 256             # digest 1.2 [REF-CODE]
  config.eval_episodes = 10           # thesis E.3: 10 evaluation trajectories (x 10 seeds)
  config.eval_interval = 5000         # digest 1.2 [REF-CODE]: evaluate every 5000 steps
  return config


def bc():
  """Behaviour cloning baseline (thesis Table 1 "BC" column): the run defaults, nothing tuned."""
  config = offline_run_config("bc")
  config.agent.hidden_dims = (256, 256)  # thesis E.2: "256 hidden units for all networks"
  return config


def awac_mujoco():
  """AWAC offline pretraining then online finetuning, MuJoCo settings (thesis Table 16)."""
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
