#!/usr/bin/env bash
# Installs the build into a temporary prefix, builds the example pass plugin
# (examples/outlier-quantize) out of the tree against it with
# find_package(CompressIR), and loads it into the installed tools: its pass
# rewrites the layers (the same IR checks as test/plugins), computes what a
# numpy implementation of it does, and the model compiled with it and
# calibration data computes what the float model does, better than plain RTN.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
python=$root/.venv/bin/python
filecheck=/usr/lib/llvm-22/bin/FileCheck
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Runs a command quietly, printing its output only when it fails.
quiet() {
  local log
  log=$("$@" 2>&1) || { echo "$log"; echo "failed: $*"; return 1; }
}
quiet cmake --install "$root/build" --prefix "$work/prefix"
quiet cmake -S "$root/examples/outlier-quantize" -B "$work/build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix"
quiet cmake --build "$work/build"
plugin=$work/build/libOutlierQuantize.so
bin=$work/prefix/bin
model=$work/model
"$python" "$root/test/plugins/inputs/make_outlier_mlp.py" "$model"

"$bin/compress-opt" "$model/mlp.onnx" --load-pass-plugin="$plugin" --calibration "$model/calib" \
  --passes "outlier-aware-quantize{top-k=4 group-size=32}" >"$work/out.mlir"
"$filecheck" "$root/test/plugins/outlier-aware-quantize.test" --check-prefix=IR \
  --input-file "$work/out.mlir"

"$bin/compress-run" "$model/mlp.onnx" --load-pass-plugin="$plugin" --calibration "$model/calib" \
  --passes "outlier-aware-quantize{top-k=4 group-size=32}" --input x="$model/x.npy" \
  --output-dir "$work/both"
"$python" "$root/test/plugins/inputs/outlier_reference.py" "$model" 4 4 32 "$work/both/y.npy"

"$bin/compress-compile" "$model/mlp.onnx" --load-pass-plugin="$plugin" --calibration "$model/calib" \
  --passes "outlier-aware-quantize{top-k=4 group-size=32 skip=fc2}" -o "$work/art"
"$bin/compress-run" "$work/art/libmlp.so" --input x="$model/x.npy" --output-dir "$work/outlier"
"$bin/compress-run" "$model/mlp.onnx" --passes "compress-quantize{bits=4 group-size=32 skip=fc2}" \
  --input x="$model/x.npy" --output-dir "$work/rtn"
"$python" "$root/test/plugins/inputs/check_outlier_error.py" "$model/expected.npy" \
  "$work/outlier/y.npy" "$work/rtn/y.npy"
echo "SDK: the example plugin built against the installed package, loaded, ran"
