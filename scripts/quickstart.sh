#!/usr/bin/env bash
# A one-minute smoke run of the offline stack: IQL, three vmapped seeds, on the built-in
# point-mass task (no simulator, no dataset to collect). Extra flags pass through.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/setup_env.sh"
cd "$root"
exec python experiments/train_offline.py --config=experiments/configs/quickstart.py \
  --workdir="${WORKDIR:-runs/quickstart}" "$@"
