#!/usr/bin/env bash
# The main job: set up, then compress SmolLM2-135M-Instruct to int4 (GPTQ,
# calibrated on Jane Austen) and compare it with the float32 model on this CPU:
# size, prompt and generation speed, generated text, perplexity, time to
# compress; then MiniLM sentence embeddings in float32 and int4 (cosine
# similarity, retrieval). scripts/demo.py says what it prints.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
exec "$root/.venv/bin/python" "$root/scripts/demo.py"
