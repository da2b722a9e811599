"""A finished PTP workdir opened for the diagnosis scripts (ptp_diagnose.py,
ptp_walled_probe.py): its config file's settings with the run's seed and task, the pipeline and
the saved agents of every seed. No flags here, so both scripts can import it."""

import importlib.util
from typing import Any, Tuple


def open_run(config_arg: str, workdir: str, seed: int, task: str, agents: str,
             **fields: Any) -> Tuple[Any, Any, Any]:
  """(config, pipeline, agents) of the run in `workdir`; `config_arg` is "file[:size]"."""
  from jaxinsert.training import ptp_pipeline

  path, _, size = config_arg.partition(":")
  spec = importlib.util.spec_from_file_location("ptp_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(size or "default")
  config.seed, config.env.task = seed, task
  for name, value in fields.items():
    config[name] = value
  pipeline = ptp_pipeline.PTPPipeline(config, workdir, progress=False)
  return config, pipeline, pipeline.saved_agents(agents)
