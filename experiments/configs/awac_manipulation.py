"""AWAC on the dexterous manipulation tasks: Table 16 with lambda = 0.3 and Q clamped <= 0."""

from jaxinsert.benchmarks.d4rl.presets import awac_mujoco


def get_config():
  config = awac_mujoco()
  config.agent.beta = 1.0 / 0.3       # beta = 1/lambda; thesis D: "lambda = 0.3 for manipulation"
  config.agent.clamp_q_nonpositive = True  # thesis D: rewards non-positive, "clamp the Q value"
  return config
