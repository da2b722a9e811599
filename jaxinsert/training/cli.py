"""Shared behaviour of the absl CLIs: quiet library logs and one-line errors for bad input."""

from __future__ import annotations

import sys
import json
from typing import Any, Callable, Dict

# Errors that mean "the user's input or run directory is wrong", reported as one line with a
# non-zero exit instead of a traceback. Anything else is a bug and keeps its traceback.
_USER_ERRORS = (ValueError, FileNotFoundError, KeyError)


def user_errors():
  from jaxinsert.data.errors import DataError
  from jaxinsert.training.checkpoints import CheckpointError
  from jaxinsert.training.offline import DivergenceError

  return _USER_ERRORS + (DataError, CheckpointError, DivergenceError)


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

  app.run(main)
