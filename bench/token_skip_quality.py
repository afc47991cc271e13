"""Token-skip routing (compress-token-skip, FTP-style routers fitted without training) on SmolLM2-135M, by perplexity
on the Jane Austen protocol (python/compress_models/austen.py; calibration windows of Sense and Sensibility,
evaluation windows of Pride and Prejudice), with CPU prefill latency of the routed blocks.

Rows: the full model; routers fitted by least squares skipping --skip of the routed blocks' tokens (blocks 1 to 28,
all but the first and last; --fit sequential or once); random routers at the same per-block rates (--seeds seeds,
thresholds on the unrouted model); and dropping whole blocks
by Block Influence for the same compute saved (a skipped token still runs its key and value projections, so a
skipped token-block saves 1 - kv_share of a block's linear work: round(skip x 28 x (1 - kv_share)) blocks).

With --latency: prefill of one evaluation window (compiled artifacts, 2 threads, alternating runs, fastest of
--runs) of the full model, the routed model and the model without blocks 1 to 28; the routed blocks' time is
the difference to the last, so the ratio routed / full counts only the blocks (not the embedding and head).

    .venv/bin/python bench/token_skip_quality.py --windows 16 --calibration-sets 4 --skip 0.3 --seeds 5
    .venv/bin/python bench/token_skip_quality.py --windows 2 --rows full,fitted,none --latency"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench"))
from block_quality import artifact_perplexity, compile_row, drop_passes, fastest_prefill, importance, log  # noqa: E402
from compress_models import austen, smollm2  # noqa: E402

BLOCKS, FIRST, LAST = 30, 1, 28
# SmolLM2-135M: hidden 576, 3 key/value heads of 64, MLP 1536. Per token, the key and value projections are
# 2 x 576 x 192 of the block's 4 x ... linear multiply-adds.
KV_SHARE = (2 * 576 * 192) / (2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=16, help="evaluation windows")
    ap.add_argument("--calibration-sets", type=int, default=4, help="calibration windows")
    ap.add_argument("--skip", type=float, default=0.3, help="fraction of the routed blocks' tokens skipped")
    ap.add_argument("--seeds", type=int, default=5, help="random routers")
    ap.add_argument("--schedule", default="updates", help="compress-token-skip's schedule= (updates, uniform)")
    ap.add_argument("--fit", default="sequential", help="the fitted row's fit= (sequential, once); random rows: once")
    ap.add_argument("--rows", help="comma-separated subset of: full, fitted, random, drop, none")
    ap.add_argument("--latency", action="store_true", help="also time one window's prefill per row")
    ap.add_argument("--runs", type=int, default=5, help="--latency: timed runs per row")
    ap.add_argument("--json", type=Path, help="write the figures there")
    args = ap.parse_args(argv)

    model = smollm2.fetch()["ids"]
    windows = austen.evaluation_windows(args.windows)
    tokens = windows.shape[1]
    span = f"first={FIRST} last={LAST} skip={args.skip} schedule={args.schedule}"
    dropped = int(round(args.skip * (LAST - FIRST + 1) * (1 - KV_SHARE)))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        calibration = tmp / "calibration"
        austen.write_calibration(calibration, austen.calibration_windows(args.calibration_sets))
        wanted = args.rows.split(",") if args.rows else None
        want = lambda row: wanted is None or row in wanted or row.split("-")[0] in wanted  # noqa: E731
        rows = {"full": ("", None, None),
                "fitted": (f"compress-token-skip{{{span} fit={args.fit} report={tmp / 'fitted.json'}}}",
                           calibration, tmp / "fitted.json")}
        for seed in range(args.seeds):
            report = tmp / f"random-{seed}.json"
            rows[f"random-{seed}"] = (
                f"compress-token-skip{{{span} router=random seed={seed} fit=once report={report}}}", calibration,
                report)
        if want("drop"):
            blocks = importance(model, calibration, False, tmp / "blocks.json")["blocks"]
            chosen = sorted(sorted(range(len(blocks)), key=lambda b: blocks[b]["influence"])[:dropped])
            rows["drop"] = (drop_passes(chosen), None, None)
        rows["none"] = (drop_passes(list(range(FIRST, LAST + 1))), None, None)
        rows = {k: v for k, v in rows.items() if want(k)}
        artifacts = {}
        for name, (passes, row_calibration, report) in rows.items():
            art, seconds = compile_row(model, passes, row_calibration, tmp / name, tokens)
            ppl, se = artifact_perplexity(art, windows)
            results[name] = {"passes": passes, "perplexity": ppl, "standard_error": se, "compile_s": seconds}
            if report:
                routed = json.loads(report.read_text())["blocks"]
                results[name]["skip_rates"] = [round(b["skip_rate"], 3) for b in routed]
                results[name]["correlations"] = [round(b.get("prediction_correlation", 0.0), 3) for b in routed]
            log(f"{name:10s} perplexity {ppl:.3f} ± {se:.3f}")
            if args.latency:
                artifacts[name] = art
            else:
                art.close()
        if args.latency:
            fastest = fastest_prefill(artifacts, windows[0], args.runs)
            for name in artifacts:
                results[name]["prefill_ms"] = 1e3 * fastest[name]
            if "none" in fastest and "full" in fastest:
                base = fastest["none"]
                for name in artifacts:
                    if name != "none":
                        results[name]["blocks_ms"] = 1e3 * (fastest[name] - base)
                        results[name]["blocks_ratio"] = (fastest[name] - base) / (fastest["full"] - base)
    print(f"SmolLM2-135M; {args.windows} evaluation windows of {tokens} tokens (Pride and Prejudice), "
          f"{args.calibration_sets} calibration windows (Sense and Sensibility); skip {args.skip} of blocks "
          f"{FIRST}-{LAST}'s tokens; drop row: {dropped} blocks\n")
    print("| row | perplexity |" + (" prefill ms | routed blocks ms | vs full |" if args.latency else ""))
    print("| --- | ---: |" + (" ---: | ---: | ---: |" if args.latency else ""))
    for name, r in results.items():
        line = f"| {name} | {r['perplexity']:.2f} ± {r['standard_error']:.2f} |"
        if args.latency:
            line += (f" {r['prefill_ms']:.0f} | " + (f"{r['blocks_ms']:.0f} | {r['blocks_ratio']:.3f} |"
                                                     if "blocks_ms" in r else "- | - |"))
        print(line)
    randoms = [r["perplexity"] for k, r in results.items() if k.startswith("random-")]
    if randoms:
        print(f"\nmean of the {len(randoms)} random routers: {np.mean(randoms):.2f}")
    if "fitted" in results:
        print(f"\nfitted per-block skip rates (calibration): {results['fitted']['skip_rates']}")
        print(f"fitted prediction correlations: {results['fitted']['correlations']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
