#!/usr/bin/env bash
# End-to-end check: builds/fetches MiniLM, PP-OCR and SmolLM2 into the model cache, then compares compress-run
# with onnxruntime on each (SmolLM2: test/e2e/check_smollm2.py). Extra arguments go to compare_with_onnxruntime.py
# and check_smollm2.py (e.g. --compress-run PATH).
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
# SmolLM2-135M (three graphs sharing one weights file, tokenizer.json) in $COMPRESS_CACHE/smollm2.
"$py" -m compress_models.smollm2 >/dev/null
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
# SmolLM2: onnxruntime vs a numpy reference, cache decoding, the Austen protocol's windows, perplexity on
# 2 windows (onnxruntime vs the reference, compress-run vs onnxruntime); about a minute on 2 cores.
if "$py" "$root/test/e2e/check_smollm2.py" "$@"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
# SmolLM2 with 25% of its MLP channels removed by compress-prune pattern=structured: parameters, ranking, outputs
# against the numpy reference with the same channels deleted; under 2 minutes on 2 cores (prefill latency with
# --latency, run by hand).
if "$py" "$root/test/e2e/check_structured_prune.py" "$@"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
# Decoder blocks with a key/value cache (llama_block.py --kv-cache, small width): prefill, one decode step and the
# cache against the model without a cache (onnxruntime), and compress-run against onnxruntime; seconds.
if "$py" "$root/test/e2e/check_llama_block_cache.py" "$@"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
# compress-drop-blocks against onnxruntime on llama_block.py's models (the last of 3 blocks dropped = its 2-block
# model, with and without a cache); seconds.
if "$py" "$root/test/e2e/check_drop_blocks.py" "$@"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
# compress-token-skip against routing written in ONNX and run by onnxruntime (skip-kv false and true, with a
# cache), a decode step against the full prefill, skip=0 against the unrouted model; seconds.
if "$py" "$root/test/e2e/check_token_skip.py" "$@"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
# Already-quantized models: the MLP and MiniLM quantized by onnxruntime's quantize_dynamic, quantize_static (QDQ)
# and MatMulNBitsQuantizer (4 and 8 bits), compress-run against onnxruntime on each quantized model within the
# tolerances check_quantized_models.py documents; quantized once into $COMPRESS_CACHE/quantized.
if "$py" "$root/test/e2e/check_quantized_models.py" "$@"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
# The example pass plugin (examples/outlier-quantize) loaded into compress-run: outlier-aware-quantize on SmolLM2
# with calibration, its report, and its perplexity against float (onnxruntime) and plain RTN; about 2 minutes on 2 cores.
if "$py" "$root/test/e2e/check_outlier_plugin.py" "$@"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
# compress-export: exported models run by onnxruntime against compress-run with the same passes (every layer form,
# the refusals; MiniLM and SmolLM2 int4, sizes against onnxruntime's quantizer); about 30 s.
if "$py" "$root/test/e2e/check_export.py" "$@"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
