"""IQL on MuJoCo locomotion (thesis ch. 7, appendix E.2; official IQL mujoco config)."""

from jaxinsert.training.config import offline_run_config


def get_config():
  config = offline_run_config("iql")
  config.agent.expectile = 0.7        # thesis E.2: "tau = 0.7 and beta = 3.0" (locomotion)
  config.agent.beta = 3.0             # thesis E.2 (inverse temperature)
  config.dataset.reward_preprocessing = "locomotion_return_range"  # thesis E.2; x1000 [REF-CODE]
  config.max_steps = 1_000_000        # digest 1.2 [REF-CODE]: 1e6 updates
  config.batch_size = 256             # digest 1.2 [REF-CODE]
  config.eval_episodes = 10           # thesis E.3: 10 evaluation trajectories (x 10 seeds)
  config.eval_interval = 5000         # digest 1.2 [REF-CODE]: evaluate every 5000 steps
  return config
