#!/usr/bin/env bash
# Creates (or reuses) the project's virtual environment in .venv and installs jaxinsert with
# its test and data-format extras. Sourced by the quick-start commands and by CI.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${JAXINSERT_VENV:-$root/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.jaxinsert-installed"
if [ ! -f "$stamp" ] || [ "$root/setup.cfg" -nt "$stamp" ]; then
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -e "$root[dev,formats]"
  touch "$stamp"
fi
# Offscreen rendering for rollout videos needs EGL from Debian's Mesa; best effort, not fatal.
if ! ldconfig -p 2>/dev/null | grep -q libEGL.so.1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get install -y -qq libegl1 libgl1 >/dev/null 2>&1 || \
     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq libegl1 libgl1 >/dev/null 2>&1)) || \
     echo "note: could not install libegl1/libgl1; videos will be skipped" >&2
  fi
fi
export PATH="$venv/bin:$PATH"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
