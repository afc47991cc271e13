#!/usr/bin/env bash
# Runs every test: set-up and build, unit tests, lit tests, the ONNX backend
# suite (allow-listed cases), end-to-end checks against onnxruntime, the
# Python package, a project and a pass plugin built against the installed SDK, the file
# readers' unit tests under ASan+UBSan, and the fuzz targets.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh" || { echo "set-up failed"; exit 1; }
export COMPRESS_CACHE=${COMPRESS_CACHE:-$HOME/.cache/compressir}

passed=0 failed=0
stage() {
  local name=$1
  shift
  echo "=== $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "=== $name FAILED"
  fi
}
stage "unit tests" ctest --test-dir "$root/build" --output-on-failure
stage "lit tests" /usr/lib/llvm-22/bin/lit -sv "$root/build/test"
stage "ONNX backend suite" "$root/.venv/bin/python" "$root/test/conformance/run_backend.py" \
  --allowlist "$root/test/conformance/backend_allowlist.txt"
stage "end to end vs onnxruntime" bash "$root/test/e2e/run_all.sh"
# The compressir Python package: the build tree's module, and a wheel of it installed in a fresh venv.
stage "Python package (pytest)" "$root/.venv/bin/python" -m pytest -q -p no:cacheprovider "$root/test/python"
stage "SDK: install, build against it" bash "$root/test/sdk/run.sh"
stage "SDK: a pass plugin built against it, run by the tools" bash "$root/test/sdk/plugin.sh"
stage "sanitizers: unit tests under ASan+UBSan" "$root/scripts/sanitize.sh"
# The fuzz targets (clang, ASan+UBSan) on their corpora and a fixed number of
# new inputs from a fixed seed: longer campaigns run by hand (docs/fuzzing.md).
stage "fuzz targets" env FUZZ_RUNS=2000 "$root/scripts/fuzz.sh"
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
