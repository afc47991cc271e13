#!/usr/bin/env bash
# Configures build-fuzz (clang-22; ASan, UBSan and libFuzzer's coverage on all
# of our code: COMPRESS_FUZZERS) if needed and builds the given targets in it.
# Usage: scripts/sanitized-build.sh TARGET...   (FUZZ_BUILD, FUZZ_JOBS as in fuzz.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$root/build-fuzz}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DCOMPRESS_FUZZERS=ON >"$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
fi
ninja -C "$build" -j "${FUZZ_JOBS:-2}" "$@"
