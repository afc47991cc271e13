#!/usr/bin/env bash
# The unit tests of the input readers, the ONNX loader and atomic outputs,
# built with ASan and UBSan (in build-fuzz, beside the fuzz targets) and run
# with leak checking: any sanitizer report fails the run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$root/build-fuzz}
"$root/scripts/sanitized-build.sh" compress-sanitized-unittests
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$build/bin/compress-sanitized-unittests"
