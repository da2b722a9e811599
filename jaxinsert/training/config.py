"""Run-level configuration shared by the CLIs; presets in experiments/configs/ start from these.

Agent hyper-parameters live in `config.agent` (the agent module's `get_config()`); everything
about the run (data, budget, evaluation, logging) lives beside it. Any field is overridable on
the command line: `--config.agent.expectile=0.9 --config.max_steps=10000`.
"""

from __future__ import annotations

import ml_collections

from jaxinsert.agents import get_agent


def offline_run_config(agent_name: str) -> ml_collections.ConfigDict:
  config = _run_fields(agent_name)
  # The IQL actor's cosine decay runs over the whole offline budget (a live reference, so
  # --config.max_steps moves it too).
  if "cosine_decay_steps" in config.agent:
    config.agent.cosine_decay_steps = config.get_ref("max_steps")
  return config


def _run_fields(agent_name: str) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.agent_name = agent_name              # one of jaxinsert.agents.AGENT_NAMES
  config.agent = get_agent(agent_name).get_config()
  config.seed = 0                             # base seed; seed i of a vmapped group uses seed + i
  config.num_seeds = 1                        # seeds trained at once with vmap (one program)
  config.max_steps = 1_000_000                # gradient updates in total (per seed)
  config.batch_size = 256                     # transitions per update (per seed)
  config.steps_per_call = 1000                # updates per host call, run as one lax.scan
  config.log_interval = 5000                  # updates between metric logs (multiple of steps_per_call)
  config.eval_interval = 50_000               # updates between evaluations (0 = only at the end)
  config.eval_episodes = 10                   # deterministic-policy episodes per evaluation
  config.checkpoint_interval = 100_000        # updates between checkpoints (0 = only at the end)
  config.keep_checkpoints = 2                 # newest checkpoints kept on disk

  config.dataset = ml_collections.ConfigDict()
  config.dataset.kind = "builtin"             # builtin | rlds | d4rl_hdf5
  config.dataset.name = "pointmass-mixed"     # builtin dataset name (kind=builtin)
  config.dataset.path = ""                    # dataset directory or file (kind=rlds / d4rl_hdf5)
  config.dataset.reward_preprocessing = "none"  # none | locomotion_return_range | antmaze_minus_one
  config.dataset.action_clip = 1.0 - 1e-5     # official IQL clips dataset actions to +-(1 - 1e-5)

  config.env = ml_collections.ConfigDict()
  config.env.name = "pointmass"               # jaxinsert env name, or a gymnasium id ("Hopper-v5")
  config.env.num_envs = 10                    # environments evaluated in parallel
  return config


def online_run_config(agent_name: str) -> ml_collections.ConfigDict:
  config = _run_fields(agent_name)
  config.offline_steps = 25_000               # offline updates before interaction (0 = none)
  config.online_steps = 100_000               # environment steps (per environment) after that
  config.updates_per_env_step = 1             # gradient updates per environment step (UTD)
  config.offline_ratio = 0.5                  # fraction of each batch drawn from offline data
  config.initialize_replay_with_offline = False  # replay ring starts holding the offline data
                                              # (official IQL finetuning: True, offline_ratio 0)
  config.replay_capacity = 1_000_000          # online replay ring capacity (transitions)
  config.exploration_noise = 0.0              # Gaussian std added to actions while collecting
  config.env.num_envs = 1                     # environments stepped in parallel while collecting
  config.eval_interval = 10_000               # environment steps between evaluations
  config.checkpoint_interval = 50_000         # environment steps between online checkpoints
  if "cosine_decay_steps" in config.agent:
    # No actor learning-rate decay while finetuning (official IQL AntMaze finetune config).
    config.agent.cosine_decay_steps = 0
  return config
