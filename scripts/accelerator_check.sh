#!/usr/bin/env bash
# The prepared accelerator check (issue 13), for the lent GPU machine (see README, "Speed"):
#   IQL updates/s at 1 and 16 vmapped seeds beside a per-step-dispatch loop, MJX policy steps/s
#   at batch 4,096, the scanned online loop against the host loop, then the main job's stage
#   times; each part under its own time limit so the
#   whole stays under 5 minutes. Writes accelerator.json (and main-job/summary.json) to $OUT
#   when set, else to runs/accelerator/.
# The device image has jax/flax/optax/chex/orbax but not mujoco, mujoco-mjx, ml-collections or
# gymnasium: carry them as Python 3.12 wheels in .whl (the device README says how); they are
# installed into /tmp/site when present. Runs here too (`--quick`: every size shrunk).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-runs/accelerator}"
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 MUJOCO_GL="${MUJOCO_GL:-egl}"
python3 -c "import jax; print('jax', jax.__version__, jax.devices())"
timeout "${ACCEL_TIMEOUT:-120}" python3 -m experiments.benchmarks.accelerator "$@" | tee "$out/accelerator.log"
tail -n 1 "$out/accelerator.log" > "$out/accelerator.json"
if [ "${1:-}" != "--quick" ]; then
  # The scanned online loop against the host loop (point mass, 1 and 4 seeds), cut at 60 s.
  timeout 60 python3 -c "import json; from experiments.benchmarks import online; print(json.dumps(online.run(env_steps=2000)))" \
    > "$out/online_loop.log" 2>&1; tail -n 1 "$out/online_loop.log"
  # The main job at its default config, cut at 170 s: the stages it finished, with their times.
  timeout 170 python3 experiments/insertion.py --config=experiments/configs/insertion_default.py \
    --workdir=/tmp/main-job > "$out/main_job.log" 2>&1
  python3 - "$out" <<'PY'
import glob, json, os, sys
times = {os.path.basename(p)[:-5]: round(json.load(open(p))["seconds"], 1)
         for p in sorted(glob.glob("/tmp/main-job/stages/*.json"))}
print("main job stage seconds (finished within 170 s):", times)
json.dump(times, open(os.path.join(sys.argv[1], "main_job_stages.json"), "w"))
PY
fi
