"""Run-level configuration shared by the CLIs; presets in experiments/configs/ start from these.

Agent hyper-parameters live in `config.agent` (the agent module's `get_config()`); everything
about the run (data, budget, evaluation, logging) lives beside it. Any field is overridable on
the command line: `--config.agent.expectile=0.9 --config.max_steps=10000`.
"""

from __future__ import annotations

import json
import numbers
from typing import Any, Dict, Mapping

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
  config.env.name = "pointmass"               # jaxinsert env name, a gymnasium id ("Hopper-v5"),
                                              # or "" for no evaluation (third-party data)
  config.env.kwargs = ""                      # JSON object of keyword arguments for the env
                                              # ('{"max_episode_steps": 200}'); "" = none
  config.env.num_envs = 10                    # environments evaluated in parallel
  return config


def env_kwargs(config: ml_collections.ConfigDict) -> Dict[str, Any]:
  """`config.env.kwargs` parsed (a JSON object string, or empty for none)."""
  raw = config.env.get("kwargs", "")
  if isinstance(raw, Mapping):
    return dict(raw)
  if not raw:
    return {}
  try:
    value = json.loads(raw)
  except json.JSONDecodeError as error:
    raise ConfigError(f"config.env.kwargs={raw!r} is not JSON ({error.msg} at column {error.colno}); "
                      "give an object such as '{\"max_episode_steps\": 200}'") from None
  if not isinstance(value, dict):
    raise ConfigError(f"config.env.kwargs={raw!r} must be a JSON object, got {type(value).__name__}")
  return value


def online_run_config(agent_name: str) -> ml_collections.ConfigDict:
  config = _run_fields(agent_name)
  config.offline_steps = 25_000               # offline updates before interaction (0 = none)
  config.offline_checkpoint_interval = 5_000  # updates between pretraining checkpoints, so a
                                              # killed pretraining resumes (0 = only at the end)
  config.online_steps = 100_000               # environment steps (per environment) after that
  config.updates_per_env_step = 1             # gradient updates per environment step (UTD)
  config.offline_ratio = 0.5                  # fraction of each batch drawn from offline data
  config.initialize_replay_with_offline = False  # replay ring starts holding the offline data
                                              # (official IQL finetuning: True, offline_ratio 0)
  config.replay_capacity = 1_000_000          # online replay ring capacity (transitions)
  config.exploration_noise = 0.0              # Gaussian std added to actions while collecting
  config.explore_with_mean = False            # collect with the policy's mean (+ the noise above,
                                              # DDPG-style) instead of a sample of the policy
  config.stop_after_consecutive_successes = 0  # stop once this many episodes in a row have
                                              # succeeded (ODA's finetuning rule: 50; 0 = never;
                                              # host loop only; a resume restarts the count)
  config.online_loop = "host"                 # host: one dispatch per env step, one seed, any env;
                                              # scan: functional envs only, seeds vmapped, one
                                              # compiled call per chunk (training/online_scan.py)
  config.env.num_envs = 1                     # environments stepped in parallel while collecting
  config.eval_interval = 10_000               # environment steps between evaluations
  config.checkpoint_interval = 50_000         # environment steps between online checkpoints
  if "cosine_decay_steps" in config.agent:
    # No actor learning-rate decay while finetuning (official IQL AntMaze finetune config).
    config.agent.cosine_decay_steps = 0
  return config


class ConfigError(ValueError):
  """A config field holds a value the run cannot use; the message names the field."""


def _check(config, name: str, allowed: str, ok) -> None:
  value = config
  for part in name.split("."):
    if part not in value:
      return  # a config built without this field (older presets); nothing to check
    value = value[part]
  try:
    good = bool(ok(value))
  except TypeError:
    good = False
  if not good:
    raise ConfigError(f"config.{name}={value!r}: allowed values are {allowed}")


def _integer(minimum: int):
  return lambda value: (isinstance(value, numbers.Integral) and not isinstance(value, bool)
                        and value >= minimum)


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks every run field the loops use before any data is loaded or any update runs.

  Raises ConfigError with one line naming the field and the values it may take. Agent fields
  are the agent's own business (its `create` checks them).
  """
  from jaxinsert.agents import AGENT_NAMES
  from jaxinsert.data.transitions import REWARD_PREPROCESSING

  _check(config, "agent_name", f"one of {', '.join(AGENT_NAMES)}", lambda v: v in AGENT_NAMES)
  for name in ("num_seeds", "batch_size", "steps_per_call", "log_interval", "eval_episodes",
               "keep_checkpoints", "env.num_envs"):
    _check(config, name, "an integer >= 1", _integer(1))
  for name in ("max_steps", "eval_interval", "checkpoint_interval", "offline_checkpoint_interval",
               "seed"):
    _check(config, name, "an integer >= 0" + (" (0 = only at the end)" if "interval" in name else ""),
           _integer(0))
  _check(config, "dataset.kind", "builtin, rlds or d4rl_hdf5", lambda v: v in ("builtin", "rlds", "d4rl_hdf5"))
  _check(config, "dataset.reward_preprocessing", ", ".join(REWARD_PREPROCESSING),
         lambda v: v in REWARD_PREPROCESSING)
  _check(config, "dataset.action_clip", "a number in (0, inf), or 0/None for no clipping",
         lambda v: v is None or (float(v) >= 0 and v == v))
  for name in ("offline_steps", "online_steps"):
    _check(config, name, "an integer >= 0", _integer(0))
  _check(config, "updates_per_env_step", "an integer >= 1", _integer(1))
  _check(config, "replay_capacity", "an integer >= 1", _integer(1))
  _check(config, "offline_ratio", "a number in [0, 1]", lambda v: 0.0 <= float(v) <= 1.0)
  _check(config, "exploration_noise", "a number >= 0", lambda v: float(v) >= 0.0)
  if "stop_after_consecutive_successes" in config:
    _check(config, "stop_after_consecutive_successes", "an integer >= 0 (0: never stop early)",
           _integer(0))
    if config.stop_after_consecutive_successes and config.get("online_loop") == "scan":
      raise ConfigError("config.stop_after_consecutive_successes needs online_loop=host (the "
                        "scanned loop runs whole chunks)")
  _check(config, "online_loop", "host or scan", lambda v: v in ("host", "scan"))
  if "env" in config:
    env_kwargs(config)  # refuses a malformed JSON string before any data is loaded


def unknown_field_message(config: ml_collections.ConfigDict, dotted: str) -> str:
  """One line for `--config.FIELD=...` naming a field the config does not have, with the
  fields it does have at that level (closest first)."""
  import difflib

  parts = dotted.split(".")
  node, known_prefix = config, []
  for part in parts:
    if isinstance(node, (dict, ml_collections.ConfigDict)) and part in node:
      node, known_prefix = node[part], known_prefix + [part]
      continue
    fields = sorted(node.keys()) if isinstance(node, (dict, ml_collections.ConfigDict)) else []
    where = "config" + "".join(f".{p}" for p in known_prefix)
    close = difflib.get_close_matches(part, fields, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"config.{dotted}: {where} has no field {part!r}{hint}; its fields are {', '.join(fields)}"
  return f"config.{dotted}: cannot be set"


def parse_variants(text: str):
  """`name:field=value,...;name:...` -> [(name, {field: value-string})], the variant syntax of
  the probe scripts (`experiments/lotj_policy_probe.py`, `lotj_precision_probe.py`)."""
  variants = []
  for part in filter(None, (p.strip() for p in text.split(";"))):
    name, _, body = part.partition(":")
    fields = {}
    for item in filter(None, (i.strip() for i in body.split(","))):
      key, sep, value = item.partition("=")
      if not sep:
        raise ValueError(f"variant {name!r}: {item!r} is not field=value")
      fields[key.strip()] = value.strip()
    variants.append((name.strip(), fields))
  if not variants:
    raise ValueError("--variants is empty")
  return variants


def with_fields(base: ml_collections.ConfigDict, fields: Mapping[str, str]) -> ml_collections.ConfigDict:
  """A copy of `base` with dotted `fields` set from their strings (Python literals, or a bare
  word as a string); an unknown field is refused naming the fields there, a wrong type by
  ConfigDict."""
  import ast

  config = ml_collections.ConfigDict(base.to_dict())
  for key, value in fields.items():
    *path, leaf = key.split(".")
    target = config
    for name in path:
      target = target.get(name)
      if not isinstance(target, ml_collections.ConfigDict):
        raise KeyError(unknown_field_message(config, key))
    if leaf not in target:
      raise KeyError(unknown_field_message(config, key))
    try:
      value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      pass                                # a bare word is a string
    target[leaf] = value                  # ConfigDict refuses a value of the wrong type
  return config
