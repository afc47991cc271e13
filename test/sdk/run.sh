#!/usr/bin/env bash
# Installs the build into a temporary prefix, builds test/sdk against it with
# find_package(CompressIR), and runs the result: the SDK's install rules,
# headers and CMake package are complete.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$root/build" --prefix "$work/prefix" >/dev/null
cmake -S "$root/test/sdk" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/quantize-one" | grep -q "compress.quantized_linear" || {
  echo "the SDK consumer did not quantize its layer"
  exit 1
}
test -x "$work/prefix/bin/compress-compile" && test -f "$work/prefix/include/compress/compress_runtime.h"
echo "SDK: installed, built against, ran"
