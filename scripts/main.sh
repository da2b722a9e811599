#!/usr/bin/env bash
# The README's main job: installs what it needs, then the ODA pipeline with its main config
# (experiments/configs/oda_default.py:main): collect scripted data on six training connectors
# -> meta-train ODA offline (3 seeds) -> zero-shot from 20 demonstrations on three held-out
# connectors -> online finetuning of each seed left below 95/100 -> the before/after table.
# About 20 minutes on the 2-core CPU. Re-running resumes; extra flags pass through (e.g.
# --config.finetune.online_steps=500). The IQL insertion pipeline, the previous main job, is
# experiments/insertion.py with experiments/configs/insertion_default.py.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/setup_env.sh"
cd "$root"
exec python experiments/oda.py --config=experiments/configs/oda_default.py:main \
  --workdir="${WORKDIR:-runs/oda_main}" "$@"
