"""Perplexity of SmolLM2-135M-Instruct pruned by compress-prune, on the Austen protocol (bench/llm_quality.py: windows
of Pride and Prejudice; calibration windows of Sense and Sensibility only).

Rows: the float model; magnitude, Wanda and SparseGPT at 50% unstructured sparsity and at 2:4; Wanda with OWL's
allocation; SparseGPT 2:4 jointly with int4 g128 against SparseGPT 2:4 followed by separate RTN int4 g128. Every
linear layer of the 30 blocks is pruned; the tied lm_head is not (as in the Wanda and SparseGPT papers). The issue's
criteria: Wanda's and SparseGPT's perplexity increases each at most half of magnitude's, at 50% and at 2:4; the
joint 2:4 + int4 below 2:4 then RTN int4.

    python bench/prune_quality.py --windows 40 --calibration-sets 16 --markdown docs/benchmarks.md
    python bench/prune_quality.py --rows dense,wanda-50 --windows 4          # a quick look

Rows are run and tabled by bench/perplexity_rows.py (results kept in $COMPRESS_CACHE/prune_quality.json).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import perplexity_rows  # noqa: E402

SKIP = "skip=lm_head"
ROWS = {
    "dense": None,
    "magnitude-50": f"compress-prune{{sparsity=0.5 {SKIP}}}",
    "wanda-50": f"compress-prune{{method=wanda sparsity=0.5 {SKIP}}}",
    "sparsegpt-50": f"compress-prune{{method=sparsegpt sparsity=0.5 {SKIP}}}",
    "wanda-owl-50": f"compress-prune{{method=wanda sparsity=0.5 allocate=owl {SKIP}}}",
    "magnitude-2:4": f"compress-prune{{pattern=2:4 {SKIP}}}",
    "wanda-2:4": f"compress-prune{{method=wanda pattern=2:4 {SKIP}}}",
    "sparsegpt-2:4": f"compress-prune{{method=sparsegpt pattern=2:4 {SKIP}}}",
    "sparsegpt-2:4+int4-joint": f"compress-prune{{method=sparsegpt pattern=2:4 bits=4 group-size=128 {SKIP}}}",
    "sparsegpt-2:4-then-rtn-int4": f"compress-prune{{method=sparsegpt pattern=2:4 format=dense {SKIP}}},"
                              f"compress-quantize{{bits=4 group-size=128 {SKIP}}}",
}


if __name__ == "__main__":
    sys.exit(perplexity_rows.main("bench/prune_quality.py", __doc__, ROWS, "prune_quality.json"))
