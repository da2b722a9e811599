"""Behaviour cloning baseline (thesis Table 1 "BC" column): the run defaults, nothing tuned."""

from jaxinsert.training.config import offline_run_config


def get_config():
  config = offline_run_config("bc")
  config.agent.hidden_dims = (256, 256)  # thesis E.2: "256 hidden units for all networks"
  return config
