#!/usr/bin/env bash
# Builds what bench/cuda/gpu_check_run.py checks on a GPU machine, which has
# no MLIR or LLVM: every allow-listed ONNX backend case (libonnx-testdata)
# compiled here by compress-compile --target=cuda, each as a small
# lib<case>.so over one shared runtime (libcompress_rt.so, with oneDNN and
# libomp beside it), with the case's inputs and expected outputs. Cases
# compress-compile cannot build ahead of time (those whose shape inputs
# compress-run folds from their values) are listed with the reason.
# Usage: bench/cuda/gpu_check_build.sh OUT_DIR   (then carry OUT_DIR.tar.xz)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:?usage: gpu_check_build.sh OUT_DIR}")
build=$root/build
data=/usr/share/libonnx-testdata/data
rm -rf "$out" && mkdir -p "$out/cases" "$out/lib"

omp=$(grep -m1 '^OMP_LIBRARY:' "$build/CMakeCache.txt" | cut -d= -f2)
dnnl=$(grep -m1 '^DNNL_LIBRARY:' "$build/CMakeCache.txt" | cut -d= -f2)
c++ -shared -o "$out/lib/libcompress_rt.so" -Wl,-soname,libcompress_rt.so -Wl,--whole-archive \
  "$build/lib/runtime/cuda/libcompress_runtime_cuda.a" "$build/lib/runtime/cpu/libcompress_runtime_cpu.a" \
  -Wl,--no-whole-archive -Wl,--no-as-needed "$omp" -Wl,--as-needed "$dnnl" \
  "$(grep -m1 '^COMPRESS_CUDART_STATIC:' "$build/CMakeCache.txt" | cut -d= -f2)" -lrt -ldl -lm
cp -L "$omp" "$out/lib/libomp.so.5"
cp -L "$dnnl" "$out/lib/$(basename "$(readlink -f "$dnnl")" | sed 's/\.so\..*/.so.2/')"
# What oneDNN loads beside the C and C++ runtimes (the GPU machine's image
# need not have them).
for dep in $(ldd "$dnnl" | awk '/=>/{print $3}' | grep -E 'libOpenCL|libgomp'); do
  cp -L "$dep" "$out/lib/"
done

build_case() {
  local name=$1 dir
  dir=$(ls -d "$data"/*/"$name" 2>/dev/null | head -1)
  [ -n "$dir" ] || return 0
  local tmp
  tmp=$(mktemp -d)
  if ! msg=$("$build/bin/compress-compile" "$dir/model.onnx" --target=cuda --name m -o "$tmp/art" 2>&1); then
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
