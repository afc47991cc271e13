#!/usr/bin/env bash
# The main job: set up, then compile all-MiniLM-L6-v2 for the CPU in float32
# and quantized to int4, run both and compare them with onnxruntime
# (scripts/demo.py says what it prints).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
exec "$root/.venv/bin/python" "$root/scripts/demo.py"
