#!/usr/bin/env bash
# Links the runtime that CUDA artifacts built for the GPU machine load, into
# LIB_DIR: libcompress_rt.so (the CUDA and CPU runtimes, the static CUDA
# runtime) with the libraries it needs beside it (libomp, oneDNN and what
# oneDNN loads: the GPU machine's image need not have them). Run again after
# a runtime change: the artifacts' libm.so files link it by name, so they
# need no rebuild.
# Usage: bench/cuda/gpu_runtime_lib.sh LIB_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:?usage: gpu_runtime_lib.sh LIB_DIR}")
build=$root/build
mkdir -p "$out"
cache() { grep -m1 "^$1:" "$build/CMakeCache.txt" | cut -d= -f2; }
omp=$(cache OMP_LIBRARY)
dnnl=$(cache DNNL_LIBRARY)
c++ -shared -o "$out/libcompress_rt.so" -Wl,-soname,libcompress_rt.so -Wl,--whole-archive \
  "$build/lib/runtime/cuda/libcompress_runtime_cuda.a" "$build/lib/runtime/cpu/libcompress_runtime_cpu.a" \
  -Wl,--no-whole-archive -Wl,--no-as-needed "$omp" -Wl,--as-needed "$dnnl" \
  "$(cache COMPRESS_CUDART_STATIC)" -lrt -ldl -lm
cp -L "$omp" "$out/libomp.so.5"
cp -L "$dnnl" "$out/$(basename "$(readlink -f "$dnnl")" | sed 's/\.so\..*/.so.2/')"
for dep in $(ldd "$dnnl" | awk '/=>/{print $3}' | grep -E 'libOpenCL|libgomp'); do
  cp -L "$dep" "$out/"
done
