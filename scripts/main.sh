#!/usr/bin/env bash
# The README's main job: installs what it needs, then runs the insertion pipeline with its
# default config (collect scripted data on six training connectors -> IQL offline -> zero-shot
# on two held-out connectors -> online finetuning there -> evaluation), printing the success
# table. Re-running resumes; extra flags pass through (e.g. --config.online_steps=500).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/setup_env.sh"
cd "$root"
exec python experiments/insertion.py --config=experiments/configs/insertion_default.py \
  --workdir="${WORKDIR:-runs/insertion}" "$@"
