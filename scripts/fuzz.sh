#!/usr/bin/env bash
# Builds the libFuzzer targets of test/fuzz in build-fuzz (clang-22, ASan and
# UBSan on all of our code), seeds their corpora, and runs each for SECONDS.
# A crash, sanitizer report, hang (-timeout) or allocation over the limits
# stops a target and leaves the input in build-fuzz/crashes/TARGET/; the
# script then exits non-zero. Keep each reproducer in
# test/fuzz/regressions/TARGET/ (the lit suite replays them).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (TARGET: onnx-import, npy,
# calibration-sets, dialect-parse; default all; SECONDS default 60). With FUZZ_RUNS=N each
# target instead runs its corpus and N inputs from seed 1: the same work every
# time (what CI runs, so that its result does not depend on luck).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(onnx-import npy calibration-sets dialect-parse)
build=${FUZZ_BUILD:-$root/build-fuzz}

"$root/scripts/sanitized-build.sh" compress-fuzzers

# Seeds: the backend suite's models, .npy/.npz files numpy writes, the lit
# tests' MLIR (split at `// -----`), and every kept reproducer.
corpus=$build/corpus
seed() {
  local target=$1
  mkdir -p "$corpus/$target"
  [ -z "$(ls -A "$corpus/$target")" ] || return 0
  case $target in
    onnx-import)
      for f in /usr/share/libonnx-testdata/data/node/*/model.onnx; do
        cp "$f" "$corpus/$target/$(basename "$(dirname "$f")").onnx"
      done ;;
    npy) "$root/.venv/bin/python" "$root/test/fuzz/make_npy_seeds.py" "$corpus/$target" ;;
    calibration-sets) "$root/.venv/bin/python" "$root/test/fuzz/make_calibration_seeds.py" "$corpus/$target" ;;
    dialect-parse)
      find "$root/test" -name '*.mlir' -print0 | while IFS= read -r -d '' f; do
        csplit -s -z -f "$corpus/$target/$(basename "$f" .mlir)-" "$f" '/^\/\/ -----/' '{*}' 2>/dev/null ||
          cp "$f" "$corpus/$target/"
      done ;;
  esac
  if [ -d "$root/test/fuzz/regressions/$target" ]; then
    cp "$root/test/fuzz/regressions/$target"/* "$corpus/$target/" 2>/dev/null || true
  fi
}

status=0
for target in "${targets[@]}"; do
  seed "$target"
  mkdir -p "$build/crashes/$target"
  echo "== fuzz-$target: ${FUZZ_RUNS:+$FUZZ_RUNS runs, not }${seconds} s, from $(ls "$corpus/$target" | wc -l) inputs"
  if [ -n "${FUZZ_RUNS:-}" ]; then
    budget=(-runs="$FUZZ_RUNS" -seed=1)
  else
    budget=(-max_total_time="$seconds")
  fi
  "$build/bin/fuzz-$target" "${budget[@]}" -timeout=20 -rss_limit_mb=3072 \
    -malloc_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/crashes/$target/" \
    "$corpus/$target" 2>&1 | grep -E "^(#[0-9]+[[:space:]]+(INITED|DONE)|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written|    #[0-9]+ 0x)" || true
  if [ -n "$(ls -A "$build/crashes/$target")" ]; then
    echo "fuzz-$target: failing inputs in $build/crashes/$target" >&2
    status=1
  fi
done
exit $status
