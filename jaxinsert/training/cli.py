"""Shared behaviour of the absl CLIs: quiet library logs and one-line errors for bad input."""

from __future__ import annotations

import sys
import json
from typing import Any, Callable, Dict, Optional

# Errors that mean "the user's input or run directory is wrong", reported as one line with a
# non-zero exit instead of a traceback. Anything else is a bug and keeps its traceback.
_USER_ERRORS = (ValueError, FileNotFoundError, KeyError)


def user_errors():
  from jaxinsert.data.errors import DataError
  from jaxinsert.training.checkpoints import CheckpointError
  from jaxinsert.training.offline import DivergenceError
  from jaxinsert.training.stages import StageMismatchError

  return _USER_ERRORS + (DataError, CheckpointError, DivergenceError, StageMismatchError)


def define_config_and_workdir_flags():
  """`--config=FILE` (with `--config.FIELD=VALUE` overrides) and `--workdir=DIR`, both required."""
  from absl import flags
  from ml_collections import config_flags

  config = config_flags.DEFINE_config_file("config", None, "Run config file.", lock_config=True)
  workdir = flags.DEFINE_string("workdir", None, "Run directory (created; resumed if it exists).")
  flags.mark_flags_as_required(["config", "workdir"])
  return config, workdir


def run_main(body: Callable[[], None]) -> None:
  """Runs `body` with orbax's INFO logs silenced; user errors exit 1 with 'error: ...'."""
  from absl import logging as absl_logging

  absl_logging.set_verbosity(absl_logging.WARNING)  # orbax logs every save at INFO
  try:
    body()
  except user_errors() as error:
    print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
    sys.exit(1)


def define_pipeline_main(run_path: str) -> Callable[[Any], None]:
  """The absl `main` of a stage-pipeline CLI: `--config`, `--workdir` and `--redo` flags, then
  `run(config, workdir, redo=...)` from "module:function" `run_path` (imported late, so that
  `--help` is quick)."""
  import importlib

  from absl import flags

  config, workdir = define_config_and_workdir_flags()
  redo = flags.DEFINE_bool("redo", False, "run again the finished stages whose settings changed")

  def main(argv) -> None:
    del argv
    module, name = run_path.split(":")
    run = getattr(importlib.import_module(module), name)
    run_main(lambda: run(config.value, workdir.value, redo=redo.value))
  return main


def config_override_problem(argv) -> Optional[str]:
  """One line naming the first `--config.FIELD=VALUE` whose FIELD the config file lacks."""
  import importlib.util

  from jaxinsert.training.config import unknown_field_message

  path = None
  for number, arg in enumerate(argv):
    if arg.startswith("--config="):
      path = arg.split("=", 1)[1]
    elif arg == "--config" and number + 1 < len(argv):
      path = argv[number + 1]
  if not path:
    return None
  path, _, config_arg = path.partition(":")
  try:
    spec = importlib.util.spec_from_file_location("_jaxinsert_config_file", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config(config_arg) if config_arg else module.get_config()
  except Exception as error:  # the config file itself is broken: say so, in one line
    return f"--config={path}: cannot load the config file ({type(error).__name__}: {error})"
  for arg in argv:
    if arg.startswith("--config.") and "=" in arg:
      field = arg[len("--config."):].split("=", 1)[0]
      node = config
      for part in field.split("."):
        if not hasattr(node, "keys") or part not in node:
          return unknown_field_message(config, field)
        node = node[part]
  return None


def parse_flags(argv):
  """absl's flag parsing, with an unknown `--config.FIELD` (or any bad flag) reported as one
  line and exit 1 instead of a traceback."""
  from absl import flags

  try:
    return flags.FLAGS(argv)
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as error:
    message = config_override_problem(argv[1:]) or " ".join(str(error).split())
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def launch(run: Callable[[Any, str], Dict[str, Any]],
           summarize: Callable[[Dict[str, Any]], Dict[str, Any]]) -> None:
  """The whole of a `--config=... --workdir=...` CLI: parse, run, print one JSON summary line."""
  from absl import app

  config_flag, workdir_flag = define_config_and_workdir_flags()

  def main(argv):
    del argv

    def body():
      results = run(config_flag.value, workdir_flag.value)
      print(json.dumps({"workdir": workdir_flag.value, **summarize(results)}))

    run_main(body)

  app.run(main, flags_parser=parse_flags)
