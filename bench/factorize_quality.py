"""Perplexity of SmolLM2-135M-Instruct factorized by compress-factorize, on the Austen protocol (bench/llm_quality.py:
windows of Pride and Prejudice; calibration windows of Sense and Sensibility only).

Rows: the float model; every linear layer of the 30 blocks (the tied lm_head stays dense, as in SVD-LLM) factorized to
keep 90% and 80% of its parameters by plain SVD, activation-aware SVD (SVD-LLM's whitening) and Fisher-weighted SVD
with the activation proxy; 80% of the parameters allocated across layers by output error (budget=); EoRA: int4 g128
RTN and SparseGPT 2:4, each alone and with a rank-32 compensation on every layer (float, and 4-bit factors). The
issue's criteria: activation-aware far below svd, fisher between them or better; each compensation below the same
compression alone.

    python bench/factorize_quality.py --windows 32 --calibration-sets 16 --markdown docs/benchmarks.md
    python bench/factorize_quality.py --rows dense,activation-aware-80 --windows 4          # a quick look

Rows are run and tabled by bench/perplexity_rows.py (results kept in $COMPRESS_CACHE/factorize_quality.json).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import perplexity_rows  # noqa: E402

SKIP = "skip=lm_head"
INT4 = f"compress-quantize{{bits=4 group-size=128 {SKIP}}}"
SPARSE = f"compress-prune{{method=sparsegpt pattern=2:4 {SKIP}}}"
EORA = f"compress-factorize{{compensate=1 rank=32 {SKIP}}}"
EORA4 = f"compress-factorize{{compensate=1 rank=32 bits=4 group-size=64 {SKIP}}}"
ROWS = {"dense": None}
for kept in (90, 80):
    for method in ("svd", "activation-aware", "fisher"):
        ROWS[f"{method}-{kept}"] = f"compress-factorize{{method={method} ratio={kept / 100} {SKIP}}}"
ROWS["activation-aware-budget-80"] = f"compress-factorize{{budget=0.8 {SKIP}}}"
ROWS.update({
    "rtn-int4": INT4,
    "rtn-int4+eora-32": f"{INT4},{EORA}",
    "rtn-int4+eora-32-int4": f"{INT4},{EORA4}",
    "sparsegpt-2:4": SPARSE,
    "sparsegpt-2:4+eora-32": f"{SPARSE},{EORA}",
})

if __name__ == "__main__":
    sys.exit(perplexity_rows.main("bench/factorize_quality.py", __doc__, ROWS, "factorize_quality.json"))
