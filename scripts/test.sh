#!/usr/bin/env bash
# The test command of the README: installs what it needs, then runs the fast test tiers.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/setup_env.sh"
cd "$root"
exec python -m pytest -q -m "not slow and not benchmark" "$@"
