#!/usr/bin/env bash
# Every GPU record the book needs, in ONE call on a lent GPU machine (a session has 15 min of device
# time in all, 600 s per call, and a machine goes back 30 s after a call: one call is the safe plan).
#
#   1. here, before the call:  bash benchmarks/gpu_session.sh --stage
#        copies Fashion-MNIST (Debian's dataset-fashion-mnist, or $CLASSICNETS_DATA) into .devdata/
#        (git-ignored, 30 MB): the GPU machine reaches no network, so the data must travel with the tree.
#   2. the call (device tool):  run(command='bash benchmarks/gpu_session.sh "$OUT"', carry=[".devdata"], timeout_s=600)
#   3. here, after it:          cp FILES_AT/alexnet_fashion_gpu.json FILES_AT/gpu-record_*.json classicnets/records/
#                               cp FILES_AT/check_harness.json classicnets/records/harness_check_gpu.json
#        then pytest tests/test_bench.py tests/test_records.py tests/test_gpu_session.py and rebuild the book (chapters 6, 8).
#
# In the call, in this order (the deadline is 570 s after the start; each phase has its own timeout):
#   a. AlexNet on Fashion-MNIST, the full GPU recipe  -> alexnet_fashion_gpu.json, train_alexnet.log  (≤ 240 s)
#   b. the harness against two independent timings   -> check_harness.json, check_harness.log       (≤ 100 s)
#   c. the timing record, the gpu-record preset with the time left -> gpu-record_*.json, bench.log
#   plus env.txt (nvidia-smi, python, torch). 7 files: within the 8 that come back from $OUT.
#
#   bash benchmarks/gpu_session.sh --smoke DIR    the same glue on a CPU in ~1 min, tiny settings (a test runs it)
set -uo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

if [[ "${1:-}" == "--stage" ]]; then
  dest="$root/.devdata/fashion-mnist"
  mkdir -p "$dest"
  for src in "${CLASSICNETS_DATA:-}/fashion-mnist" "${CLASSICNETS_DATA:-}" /usr/share/datasets/fashion-mnist; do
    if [[ -n "$src" && -f "$src/train-images-idx3-ubyte.gz" ]]; then
      cp "$src"/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz "$dest/" && du -sh "$dest" && exit 0
    fi
  done
  echo "error: no Fashion-MNIST found: apt-get install dataset-fashion-mnist, or set CLASSICNETS_DATA" >&2
  exit 1
fi

smoke=0
if [[ "${1:-}" == "--smoke" ]]; then smoke=1; shift; fi
out="${1:?usage: gpu_session.sh OUT_DIR | --stage | --smoke OUT_DIR}"
mkdir -p "$out"
start=$SECONDS
deadline=570
left() { echo $(( deadline - (SECONDS - start) )); }
[[ -d "$root/.devdata" ]] && export CLASSICNETS_DATA="$root/.devdata"
export PYTHONUNBUFFERED=1 PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
py=python3

{
  date -u +%Y-%m-%dT%H:%M:%SZ
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw,power.limit \
    --format=csv 2>&1 || echo "no nvidia-smi"   # read-only: the card's settings are left as they are
  $py -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
          "gpu", torch.cuda.get_device_name() if torch.cuda.is_available() else None)'
  echo "CLASSICNETS_DATA=${CLASSICNETS_DATA:-unset}"
} 2>&1 | tee "$out/env.txt"

if (( smoke )); then
  train_args=(--device cpu --subset 512 256 --epochs 1 --input-size 67 --batch-size 64 --no-amp)
  check_args=(--device cpu --quick)
  bench_args=(--device cpu --preset tiny)
  t_train=120 t_check=60
else
  train_args=()
  check_args=()
  bench_args=(--preset gpu-record)
  t_train=240 t_check=100
fi

echo "== a. AlexNet training record ($(left) s left)"
timeout "$t_train" $py benchmarks/train_alexnet_gpu.py "${train_args[@]}" --out "$out/alexnet_fashion_gpu.json" \
  2>&1 | tee "$out/train_alexnet.log"
echo "training exit status ${PIPESTATUS[0]}"

echo "== b. harness cross-check ($(left) s left)"
timeout "$t_check" $py benchmarks/check_harness.py "${check_args[@]}" --out "$out/check_harness.json" \
  2>&1 | tee "$out/check_harness.log"
echo "check exit status ${PIPESTATUS[0]}"

# c. the rest of the call: the preset's cases in its own order (the issue's reference cases first);
# a compiled case may run ~60 s past the budget, so the budget stops short of the deadline
budget=$(( $(left) - 75 ))
if (( budget < 30 )); then echo "== c. skipped: only $(left) s left"; exit 0; fi
echo "== c. timing record, budget ${budget} s"
timeout "$(( $(left) - 5 ))" $py -m classicnets.bench "${bench_args[@]}" --budget "$budget" --out "$out/" \
  2>&1 | tee "$out/bench.log"
echo "bench exit status ${PIPESTATUS[0]}; whole session $(( SECONDS - start )) s"
