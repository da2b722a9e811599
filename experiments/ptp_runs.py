"""A finished PTP workdir opened for the diagnosis scripts (ptp_diagnose.py, ptp_eval_agents.py,
ptp_latent_norms.py, ptp_plan_levels.py, ptp_walled_probe.py, ptp_lid_probe.py): its config
file's settings with the run's seed and task, the pipeline and the saved agents of every seed.
The flags that name the run are defined by `define_run_flags`, called by each script (none at
import)."""

import importlib.util
from typing import Any, Optional, Tuple

from absl import flags


def define_run_flags(agents: str = "offline", task: Optional[str] = "tray_socket",
                     workdir_help: str = "a finished PTP workdir") -> None:
  """--workdir, --config, --seed, --agents and (unless `task` is None: the script fixes it)
  --task, the flags that name a finished run; `open_flagged_run` reads them."""
  flags.DEFINE_string("workdir", None, workdir_help, required=True)
  flags.DEFINE_string("config", "experiments/configs/ptp_default.py", "config file[:size]")
  flags.DEFINE_integer("seed", 0, "the run's config.seed")
  if task is not None:
    flags.DEFINE_string("task", task, "the run's config.env.task")
  flags.DEFINE_string("agents", agents, "offline, or finetuned/<method> (ptp, final_goal, ...)")


def open_flagged_run(task: Optional[str] = None, **fields: Any) -> Tuple[Any, Any, Any]:
  """`open_run` on the flags of `define_run_flags` (`task` for a script without --task)."""
  f = flags.FLAGS
  return open_run(f.config, f.workdir, f.seed, task or f.task, f.agents, **fields)


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


def plan_cuts(env: Any, plan_positions: Any) -> Any:
  """Which jumps of plans cut one of `env`'s obstacles: positions (..., K + 1, state_dim) (3, or 4
  with a lid), the start then the subgoals, -> NumPy bool (..., K), jump j from point j to j + 1."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  flat = jnp.asarray(plan_positions).reshape((-1,) + tuple(plan_positions.shape[-2:]))
  pair = jax.vmap(jax.vmap(env.cuts_obstacles))(flat[:, :-1], flat[:, 1:])
  return np.asarray(pair).reshape(tuple(plan_positions.shape[:-2]) + (-1,))


def ptp_plans(pipeline: Any, states: Any, models: Any, seed_keys: Any, episodes: int
              ) -> Tuple[Any, Any]:
  """Deterministic `ptp` episodes with empty plan buffers under the pipeline's current planner
  settings, per seed: (the episodes' outputs as NumPy, the plans as positions (seeds, episodes,
  K + 1, 3), the start first)."""
  import jax
  import numpy as np

  from jaxinsert.training.ptp_loops import PTPLoops

  env, settings = pipeline.env, pipeline._settings()
  empty = pipeline._loops_for(jax.tree_util.tree_map(lambda x: x[0], models)).empty_buffers()
  run = jax.jit(jax.vmap(lambda s, m, k: PTPLoops(env, *m, pipeline.agent_config, settings)
                         .episodes(s, empty, k, episodes, "ptp", True)))
  out = jax.tree_util.tree_map(np.asarray, run(states, models, seed_keys))
  start = np.asarray(jax.vmap(lambda k: jax.vmap(lambda kk: env.reset(
      jax.random.split(kk, 3)[0]).obs)(jax.random.split(k, episodes)))(seed_keys))
  return out, np.concatenate([start[..., None, :], out["subgoals"]], -2)
