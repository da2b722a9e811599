#!/usr/bin/env bash
# The README's main job: installs what it needs, then trains IQL offline on the built-in
# point-mass task and evaluates it (a few minutes on a 2-core CPU). Extra flags pass through.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/setup_env.sh"
cd "$root"
exec python experiments/train_offline.py --config=experiments/configs/quickstart.py \
  --workdir="${WORKDIR:-runs/quickstart}" "$@"
