"""Shared pytest setup: a traceback dump before any test's timeout, so a hang says where."""

import faulthandler
import os
import sys

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
faulthandler.enable(file=sys.stderr)


@pytest.fixture(autouse=True)
def _dump_traceback_before_timeout(request):
  marker = request.node.get_closest_marker("timeout")
  limit = marker.args[0] if marker and marker.args else float(request.config.getini("timeout") or 600)
  faulthandler.dump_traceback_later(max(limit - 5, 1), exit=False)
  yield
  faulthandler.cancel_dump_traceback_later()
