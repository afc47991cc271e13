#!/usr/bin/env bash
# Builds what bench/cuda/gpu_check_run.py checks on a GPU machine, which has
# no MLIR or LLVM: every allow-listed ONNX backend case (libonnx-testdata)
# compiled here by compress-compile --target=cuda, each as a small
# lib<case>.so over one shared runtime (libcompress_rt.so, with oneDNN and
# libomp beside it), with the case's inputs and expected outputs. Cases
# compress-compile cannot build ahead of time (those whose shape inputs
# compress-run folds from their values) are listed with the reason.
# Usage: bench/cuda/gpu_check_build.sh OUT_DIR   (then carry OUT_DIR.tar.xz)
# COMPRESS_COMPILE names another compress-compile (a copy, while build/ is rebuilt).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:?usage: gpu_check_build.sh OUT_DIR}")
build=$root/build
data=/usr/share/libonnx-testdata/data
rm -rf "$out" && mkdir -p "$out/cases" "$out/lib"

"$root/bench/cuda/gpu_runtime_lib.sh" "$out/lib"

build_case() {
  local name=$1 dir
  dir=$(ls -d "$data"/*/"$name" 2>/dev/null | head -1)
  [ -n "$dir" ] || return 0
  local tmp
  tmp=$(mktemp -d)
  if ! msg=$("${COMPRESS_COMPILE:-$build/bin/compress-compile}" "$dir/model.onnx" --target=cuda --name m -o "$tmp/art" 2>&1); then
    echo "$name: $(echo "$msg" | head -1)" >> "$out/not_compiled.txt"
    rm -rf "$tmp"
    return 0
  fi
  local case=$out/cases/$name
  mkdir -p "$case"
  (cd "$tmp/art" && ar x libm.a && cc -shared -o "$case/libm.so" m.o m_model.o -L"$out/lib" -lcompress_rt)
  cp "$tmp/art/m.weights" "$case/"
  cp "$dir"/test_data_set_0/*.pb "$case/"
  rm -rf "$tmp"
}
export -f build_case
export build data out
grep -v '^#' "$root/test/conformance/backend_allowlist.txt" | grep . |
  xargs -P "$(nproc)" -I{} bash -c 'build_case {}'
echo "built $(ls "$out/cases" | wc -l) cases; $(wc -l < "$out/not_compiled.txt" 2>/dev/null || echo 0) not compiled ahead of time"
tar -C "$(dirname "$out")" -cJf "$out.tar.xz" "$(basename "$out")"
ls -la "$out.tar.xz"
