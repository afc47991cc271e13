"""Perplexity of SmolLM2-135M-Instruct compressed by rows of pass pipelines, on the Austen protocol
(bench/llm_quality.py: windows of Pride and Prejudice; calibration windows of Sense and Sensibility only).

The command line and the table shared by the quality benchmarks of compression passes (bench/prune_quality.py,
bench/factorize_quality.py): each defines its rows, {name: passes or None for the float model}. Each row's result is
kept in --results (keyed by row, passes, windows and calibration sets), so an interrupted run resumes where it
stopped; --fresh measures every row again. "weights MB" is the compiled artifact's weights file (10^6 bytes; the
float32 token embedding, 113 MB, included), when the row compiled one.
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


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def main(script: str, doc: str, rows: dict, results_name: str, argv=None) -> int:
    """Runs the rows asked for on the command line; `script` names the section of --markdown it replaces."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default=",".join(rows), help="comma-separated subset of: " + ", ".join(rows))
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
    store = args.results or cache_dir() / results_name
    saved = json.loads(store.read_text()) if store.exists() and not args.fresh else {}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for row in [r.strip() for r in args.rows.split(",") if r.strip()]:
            if row not in rows:
                sys.exit(f"unknown row '{row}' (rows: {', '.join(rows)})")
            passes = rows[row]
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
                            "weights_bytes": data.get("weights_bytes"),
                            "wall_s": time.perf_counter() - start})
            saved[key] = results[-1]
            store.write_text(json.dumps(saved, indent=1))
            log(f"{row}: perplexity {data['perplexity']:.3f}")

    dense = next((r["perplexity"] for r in results if r["row"] == "dense"), None)
    lines = [f"Windows: {args.windows} x {austen.WINDOW_TOKENS} tokens of Pride and Prejudice from token 0; "
             f"calibration: {args.calibration_sets} windows of Sense and Sensibility; {args.threads} threads.", "",
             "| row | passes | perplexity | ± s.e. | increase over float | weights MB | compile s |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        increase = f"{r['perplexity'] - dense:+.3f}" if dense is not None else "-"
        compile_s = f"{r['compile_s']:.0f}" if r["compile_s"] else "-"
        weights = f"{r['weights_bytes'] / 1e6:.1f}" if r.get("weights_bytes") else "-"
        lines.append(f"| {r['row']} | `{r['passes'] or '(float32)'}` | {r['perplexity']:.3f} | "
                     f"{r['standard_error']:.3f} | {increase} | {weights} | {compile_s} |")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        begin, end = f"<!-- BEGIN {script} results -->", f"<!-- END {script} results -->"
        text = args.markdown.read_text()
        section = f"{begin}\n{table}\n{end}"
        if begin in text:
            text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: section, text, flags=re.S)
        else:
            text += "\n" + section + "\n"
        args.markdown.write_text(text)
    return 0
