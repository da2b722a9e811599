"""Chapter 9's analogue: P controller alone, pure RL and residual RL on USB-, D-Sub- and
Model-E-like connectors with perfect goals and +-1 mm goal noise, 25 trials each.

  python experiments/insertion.py \\
      --config=experiments/configs/insertion_ch9.py:residual --workdir=DIR
  (:p_controller, :pure_rl, :residual)

Both learners are SAC (the thesis's best residual learner) trained online from scratch with the
true sparse reward (eq. 47) on the three noisy-goal tasks at once, the same budget for both, and
evaluated (deterministic policy) on all six tasks. Residual RL executes
clip(pi_H(s) + pi_theta(s)) with pi_H = -kp (x - x*), kp = [1, 1, 0.3], and stores pi_theta's
action (thesis Algorithm 6).
"""

from experiments.configs import insertion_default

METHODS = {"p_controller": ("controller", "p_controller"), "pure_rl": ("online", ""),
           "residual": ("online", "p_controller")}


def get_config(method: str = "residual"):
  if method not in METHODS:
    raise ValueError(f"insertion_ch9.py methods: {sorted(METHODS)}, not {method!r}")
  config = insertion_default.pipeline_config("sac")
  config.pipeline.method, config.pipeline.residual_base = METHODS[method]
  config.agent.hidden_dims = (128, 128)
  config.agent.initial_temperature = 0.1   # sparse 0/1 reward: alpha = 1 would drown it in entropy
  # std <= 0.1 (1 mm per step), about what the target entropy -3 asks for anyway. Measured: with
  # the default cap (std up to e^2) residual exploration buried the P controller, no episode
  # succeeded, and after 120 episodes the deterministic residual policy failed everywhere.
  config.agent.log_std_max = -2.3
  config.tasks.train = ""
  config.tasks.held_out = "ch9:noisy"      # learned on: +-1 mm goal noise, three connectors
  config.tasks.also_evaluate = "ch9:perfect"
  config.tasks.goal_noise_m = -1.0         # keep the suite's noise (0 perfect, 1 mm noisy)
  config.offline_steps = 0
  config.offline_ratio = 0.0               # nothing offline: batches from the online replay
  config.env.num_envs = 6                  # two environments per connector
  config.online_steps = 2_000              # per environment: 12k steps, ~480 episodes in all
  config.eval_interval = 3_000
  config.checkpoint_interval = 6_000
  config.pipeline.eval_trials = 25         # thesis Table 3: 25 executions per setting
  config.pipeline.online_eval_trials = 10
  config.pipeline.evaluate_training_tasks = False
  return config
