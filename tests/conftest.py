"""Shared pytest setup: a traceback dump before any test's timeout, so a hang says where."""

import faulthandler
import os
import sys

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
faulthandler.enable(file=sys.stderr)


def _pin_xdist_worker_to_one_core():
  """Under `pytest -n K` with JAXINSERT_PIN_WORKERS=1, worker i runs on core i mod #cores.

  K single-core workers use the cores without contending for them, and each worker's XLA:CPU
  pool is sized to its one core (the pool is built at the first JAX computation, after this).
  """
  worker = os.environ.get("PYTEST_XDIST_WORKER", "")
  if os.environ.get("JAXINSERT_PIN_WORKERS") != "1" or not worker.startswith("gw"):
    return
  cores = sorted(os.sched_getaffinity(0))
  os.sched_setaffinity(0, {cores[int(worker[2:]) % len(cores)]})


_pin_xdist_worker_to_one_core()


@pytest.fixture(autouse=True)
def _dump_traceback_before_timeout(request):
  marker = request.node.get_closest_marker("timeout")
  limit = marker.args[0] if marker and marker.args else float(request.config.getini("timeout") or 600)
  faulthandler.dump_traceback_later(max(limit - 5, 1), exit=False)
  yield
  faulthandler.cancel_dump_traceback_later()
