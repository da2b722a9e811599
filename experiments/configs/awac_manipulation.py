"""AWAC on the dexterous manipulation tasks: Table 16 with lambda = 0.3 and Q clamped <= 0."""

from experiments.configs import awac_default


def get_config():
  config = awac_default.get_config()
  config.agent.beta = 1.0 / 0.3       # beta = 1/lambda; thesis D: "lambda = 0.3 for manipulation"
  config.agent.clamp_q_nonpositive = True  # thesis D: rewards non-positive, "clamp the Q value"
  return config
