#!/usr/bin/env bash
# The main job: set up, then import, compile and run all-MiniLM-L6-v2 on the
# CPU and compare it with onnxruntime (scripts/demo.py says what it prints).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
exec "$root/.venv/bin/python" "$root/scripts/demo.py"
