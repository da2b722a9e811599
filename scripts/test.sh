#!/usr/bin/env bash
# The test command of the README: installs what it needs, then runs the fast test tiers.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/setup_env.sh"
cd "$root"
# One pytest worker per core, each pinned to its core (tests/conftest.py): the tests are many
# small XLA programs, so two single-core workers finish sooner than one process on two cores.
# JAXINSERT_TEST_WORKERS=0 runs in one process.
workers="${JAXINSERT_TEST_WORKERS:-$(nproc)}"
if [ "$workers" -gt 1 ]; then
  export JAXINSERT_PIN_WORKERS=1
  exec python -m pytest -q -n "$workers" --dist=loadfile --max-worker-restart=0 -m "not slow and not benchmark" --durations=20 "$@"
fi
exec python -m pytest -q -m "not slow and not benchmark" --durations=20 "$@"
