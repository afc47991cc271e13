#!/usr/bin/env bash
# The one command the lent H200 runs: builds the int4 linear benchmark, runs
# it (checks + timings beside cuBLAS) and the PyTorch anchors; logs to $OUT.
# Usage: bench/cuda/run_h200.sh [all|bench|anchors|profile|full] [bench args]
# all: bench + anchors; profile: bench + ncu on one launch of the main
# kernels; full: all three.
set -uo pipefail
cd "$(dirname "$0")/../.."
what=${1:-all}
shift || true
out=${OUT:-/tmp/int4-linear-out}
mkdir -p "$out"
bin=/tmp/int4_linear_bench

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,power.draw,temperature.gpu \
  --format=csv | tee "$out/gpu.txt"

status=0
if [[ $what != anchors ]]; then
  nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -I. -Xptxas -v \
    bench/cuda/int4_linear_bench.cu lib/runtime/cuda/Int4Linear.cu -lcublas \
    -o "$bin" >"$out/build.log" 2>&1 || { cat "$out/build.log"; exit 1; }
  command -v cuobjdump >/dev/null &&
    cuobjdump --dump-sass "$bin" 2>/dev/null | gzip >"$out/sass.txt.gz"
  timeout 400 "$bin" "$@" 2>&1 | tee "$out/bench.log"
  status=$?
fi
if [[ $what == profile || $what == full ]]; then
  ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  timeout 180 "$ncu" --clock-control none --section SpeedOfLight \
    --section Occupancy --section WarpStateStats --section LaunchStats \
    --section MemoryWorkloadAnalysis --section SchedulerStats \
    "$bin" --profile >"$out/ncu.txt" 2>&1
  grep -E "^  [a-zA-Z_].*\(|Duration|DRAM Throughput|Issued Warp" "$out/ncu.txt" |
    sed -E 's/\(const __half.*\) \(/(/' | head -60
fi
if [[ $what == all || $what == anchors || $what == full ]]; then
  PYTHONUNBUFFERED=1 timeout 420 python3 bench/cuda/anchors.py 2>&1 | tee "$out/anchors.log"
  anchors=$?
  [[ $status == 0 ]] && status=$anchors
fi
nvidia-smi --query-gpu=clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv,noheader \
  | tee -a "$out/gpu.txt"
exit $status
