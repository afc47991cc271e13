"""Perplexity of SmolLM2-135M-Instruct pruned by compress-prune, on the Austen protocol (bench/llm_quality.py: windows
of Pride and Prejudice; calibration windows of Sense and Sensibility only).

Rows: the float model; magnitude, Wanda and SparseGPT at 50% unstructured sparsity and at 2:4; Wanda with OWL's
allocation; SparseGPT 2:4 jointly with int4 g128 against SparseGPT 2:4 followed by separate RTN int4 g128. Every
linear layer of the 30 blocks is pruned; the tied lm_head is not (as in the Wanda and SparseGPT papers). The issue's
criteria: Wanda's and SparseGPT's perplexity increases each at most half of magnitude's, at 50% and at 2:4; the
joint 2:4 + int4 below 2:4 then RTN int4.

    python bench/prune_quality.py --windows 40 --calibration-sets 16 --markdown docs/benchmarks.md
    python bench/prune_quality.py --rows dense,wanda-50 --windows 4          # a quick look

Each row's result is kept in --results (by default $COMPRESS_CACHE/prune_quality.json, keyed by row, passes, windows
and calibration sets), so an interrupted run resumes where it stopped; --fresh measures every row again.
"""
import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench"))
from compress_models import austen, cache_dir  # noqa: E402
import llm_quality  # noqa: E402

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
MARK_BEGIN, MARK_END = "<!-- BEGIN bench/prune_quality.py results -->", "<!-- END bench/prune_quality.py results -->"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default=",".join(ROWS), help="comma-separated subset of: " + ", ".join(ROWS))
    ap.add_argument("--windows", type=int, default=40, help="evaluation windows (512 tokens each)")
    ap.add_argument("--calibration-sets", type=int, default=16, help="calibration windows (512 tokens each)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bin", type=Path, default=ROOT / "build" / "bin",
                    help="folder of compress-run and compress-compile (a copy keeps a long run off a rebuild)")
    ap.add_argument("--results", type=Path, help="where each row's result is kept (default: in $COMPRESS_CACHE)")
    ap.add_argument("--fresh", action="store_true", help="measure every row again")
    ap.add_argument("--markdown", type=Path, help="replace this script's section of the file with the table")
    args = ap.parse_args(argv)

    calibration = cache_dir() / "smollm2" / f"austen-calibration-{args.calibration_sets}"
    if not calibration.exists():
        austen.write_calibration(calibration, austen.calibration_windows(args.calibration_sets))
    store = args.results or cache_dir() / "prune_quality.json"
    saved = json.loads(store.read_text()) if store.exists() and not args.fresh else {}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for row in [r.strip() for r in args.rows.split(",") if r.strip()]:
            if row not in ROWS:
                sys.exit(f"unknown row '{row}' (rows: {', '.join(ROWS)})")
            passes = ROWS[row]
            key = json.dumps([row, passes, args.windows, args.calibration_sets])
            if key in saved:
                log(f"{row}: measured before ({store})")
                results.append(saved[key])
                continue
            out = Path(tmp) / (re.sub(r"\W+", "_", row) + ".json")
            cli = ["--rows", "compress", "--windows", str(args.windows), "--threads", str(args.threads),
                   "--json", str(out), "--compress-run", str(args.bin / "compress-run"),
                   "--compress-compile", str(args.bin / "compress-compile")]
            if passes:
                cli += ["--compile-once", "--passes", passes, "--calibration", str(calibration)]
            log(f"{row}: {passes}")
            start = time.perf_counter()
            status = llm_quality.main(cli)
            data = json.loads(out.read_text())["rows"][0]
            if status != 0 or "error" in data:
                sys.exit(f"{row} failed: {data.get('error')}")
            results.append({"row": row, "passes": passes, "perplexity": data["perplexity"],
                            "standard_error": data["standard_error"], "compile_s": data.get("compile_s"),
                            "wall_s": time.perf_counter() - start})
            saved[key] = results[-1]
            store.write_text(json.dumps(saved, indent=1))
            log(f"{row}: perplexity {data['perplexity']:.3f}")

    dense = next((r["perplexity"] for r in results if r["row"] == "dense"), None)
    lines = [f"Windows: {args.windows} x {austen.WINDOW_TOKENS} tokens of Pride and Prejudice from token 0; "
             f"calibration: {args.calibration_sets} windows of Sense and Sensibility; {args.threads} threads.", "",
             "| row | passes | perplexity | ± s.e. | increase over float | compile s |",
             "|---|---|---|---|---|---|"]
    for r in results:
        increase = f"{r['perplexity'] - dense:+.3f}" if dense is not None else "-"
        compile_s = f"{r['compile_s']:.0f}" if r["compile_s"] else "-"
        lines.append(f"| {r['row']} | `{r['passes'] or '(float32)'}` | {r['perplexity']:.3f} | "
                     f"{r['standard_error']:.3f} | {increase} | {compile_s} |")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        text = args.markdown.read_text()
        section = f"{MARK_BEGIN}\n{table}\n{MARK_END}"
        if MARK_BEGIN in text:
            text = re.sub(re.escape(MARK_BEGIN) + ".*?" + re.escape(MARK_END), lambda _: section, text, flags=re.S)
        else:
            text += "\n" + section + "\n"
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
