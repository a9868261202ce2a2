#!/usr/bin/env bash
# Make the GPU record shown by book/08_gpu_timing.ipynb.
#   bash benchmarks/gpu_record.sh [OUT]     OUT: a folder (default classicnets/records/) or a .json path
# An estimated 4–6 minutes on an H100 (not yet run on one); the gpu-record preset starts no case after
# 450 s, and the JSON is rewritten after every case, so even a run stopped by the timeout below leaves a
# usable (incomplete) record.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-classicnets/records/}"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw,power.limit \
  --format=csv || true   # read-only: the card's settings are left as they are
export PYTHONUNBUFFERED=1
timeout 570 python3 -m classicnets.bench --preset gpu-record --out "$out"
