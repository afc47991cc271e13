#!/usr/bin/env bash
# End-to-end check: builds/fetches MiniLM and PP-OCR into the model cache, then compares compress-run with
# onnxruntime on each. Extra arguments go to compare_with_onnxruntime.py (e.g. --compress-run PATH).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
py=${PYTHON:-$root/.venv/bin/python}
export COMPRESS_CACHE=${COMPRESS_CACHE:-$HOME/.cache/compressir}
export PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}"
minilm_dir=$COMPRESS_CACHE/minilm

# Models first; a failure here is an environment problem, not a test result, so stop at once.
set -e
[ -f "$minilm_dir/minilm.onnx" ] || "$py" -m compress_models.minilm -o "$minilm_dir/minilm.onnx"
[ -f "$minilm_dir/minilm_ext.onnx" ] && [ -f "$minilm_dir/minilm_ext.onnx.data" ] ||
  "$py" -m compress_models.minilm --external-data -o "$minilm_dir/minilm_ext.onnx"
ppocr=$("$py" -m compress_models.ppocr)
set +e
model_for() { printf '%s\n' "$ppocr" | sed -n "s/^$1: //p"; }

passed=0 failed=0
run() {
  if "$py" "$root/test/e2e/compare_with_onnxruntime.py" "$1" --model-key "$2" "${@:3}"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
}
run "$minilm_dir/minilm.onnx" minilm "$@"
run "$minilm_dir/minilm_ext.onnx" minilm "$@"
# The same graph compiled for its symbolic [batch, sequence] shapes.
run "$minilm_dir/minilm.onnx" minilm --keep-dynamic-shapes "$@"
run "$(model_for det)" ppocr-det "$@"
run "$(model_for rec)" ppocr-rec "$@"
run "$(model_for cls)" ppocr-cls "$@"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
