"""Block-level compression of SmolLM2-135M, by perplexity on the Jane Austen protocol (python/compress_models/austen.py;
calibration windows of Sense and Sensibility, evaluation windows of Pride and Prejudice).

Dropping (compress-drop-blocks): a fraction of the 30 blocks chosen by Block Influence (ShortGPT), by the measured
change of removing each block alone (--removal), as the last blocks, or at random (--seeds choices). With --latency
it also times the prefill of one evaluation window (compiled artifacts, alternating runs, fastest of --runs) against
the full model.

Sharing (compress-share-blocks, FoldGPT; rows share-MERGE-CORRECTIONS): groups of 2 over blocks
--share-first..--share-last, the shared weights the mean of the group's or its least-squares merge on the
calibration windows, without and with per-block output-channel scales fitted on them.

    .venv/bin/python bench/block_quality.py --windows 16 --fraction 0.2 --seeds 5 --removal
    .venv/bin/python bench/block_quality.py --windows 4 --fraction 0.25 --latency --rows full,influence
    .venv/bin/python bench/block_quality.py --windows 16 --rows full,share

Each row compiles the model once (compress-compile --passes ...) and runs the artifact in this process; a window's
score is the mean NLL of its tokens 2..W (bench/llm_quality.py)."""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench"))
from compress_models import austen, smollm2  # noqa: E402
from compress_models.artifact import Artifact, compile_model  # noqa: E402
from llm_quality import window_nll  # noqa: E402

BIN = ROOT / "build" / "bin"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def importance(model: Path, calibration: Path, removal: bool, report: Path) -> dict:
    """compress-find-blocks' report: per block its influence (and removal change)."""
    cmd = [str(BIN / "compress-opt"), str(model), f"--calibration={calibration}",
           f"--compress-find-blocks=removal={'true' if removal else 'false'} report={report}", "-o", "/dev/null"]
    log("$ " + " ".join(cmd))
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    log(f"  {time.perf_counter() - start:.0f} s")
    return json.loads(report.read_text())


def compile_row(model: Path, passes: str, calibration: Path | None, out: Path, tokens: int
                ) -> tuple[Artifact, float]:
    seconds = compile_model(BIN / "compress-compile", model, out, "model", f"--input-shape=input_ids=1x{tokens}",
                            passes=passes, calibration=calibration)
    return Artifact(out / "libmodel.so", threads=2), seconds


def artifact_perplexity(art: Artifact, windows: np.ndarray) -> tuple[float, float]:
    """Perplexity and its standard error of `art` over the evaluation windows."""
    nll = np.concatenate([window_nll(art.run({"input_ids": w[None]}, ["logits"])["logits"], w[None])
                          for w in windows])
    return austen.perplexity(nll)


def fastest_prefill(artifacts: dict, ids: np.ndarray, runs: int) -> dict:
    """Per artifact, the fastest of `runs` prefills of `ids` in seconds, after one warm-up each; the artifacts
    alternate run by run, so that they share the machine's state alike."""
    feeds = {"input_ids": ids[None]}
    times = {name: [] for name in artifacts}
    for art in artifacts.values():
        art.run(feeds, ["logits"])  # warm-up
    for _ in range(runs):
        for name, art in artifacts.items():
            start = time.perf_counter()
            art.run(feeds, ["logits"])
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def drop_passes(blocks: list[int]) -> str:
    return f"compress-drop-blocks{{blocks={','.join(map(str, blocks))}}}" if blocks else ""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=16, help="evaluation windows")
    ap.add_argument("--calibration-sets", type=int, default=8, help="calibration windows")
    ap.add_argument("--fraction", type=float, default=0.2, help="fraction of the blocks dropped")
    ap.add_argument("--seeds", type=int, default=5, help="random choices")
    ap.add_argument("--removal", action="store_true", help="also rank by the measured removal change (slow)")
    ap.add_argument("--importance-report", type=Path,
                    help="rank by this compress-find-blocks report (same --calibration-sets) instead of measuring")
    ap.add_argument("--rows", help="comma-separated subset of: full, influence, removal, last, random, share")
    ap.add_argument("--share-first", type=int, default=5, help="first block shared")
    ap.add_argument("--share-last", type=int, default=24, help="last block shared")
    ap.add_argument("--latency", action="store_true", help="also time one window's prefill per row against full")
    ap.add_argument("--runs", type=int, default=5, help="--latency: timed runs per row")
    ap.add_argument("--json", type=Path, help="write the figures there")
    args = ap.parse_args(argv)

    model = smollm2.fetch()["ids"]
    windows = austen.evaluation_windows(args.windows)
    tokens = windows.shape[1]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        calibration = tmp / "calibration"
        austen.write_calibration(calibration, austen.calibration_windows(args.calibration_sets))
        wanted = args.rows.split(",") if args.rows else None
        want = lambda row: wanted is None or row in wanted or row.split("-")[0] in wanted  # noqa: E731
        rows = {"full": ("", None, [])}
        blocks = []
        if any(want(r) for r in ("influence", "removal", "last", "random")):
            report = (json.loads(args.importance_report.read_text()) if args.importance_report
                      else importance(model, calibration, args.removal, tmp / "blocks.json"))
            blocks = report["blocks"]
            n = len(blocks)
            drop = int(round(args.fraction * n))
            rank = lambda key: sorted(sorted(range(n), key=lambda b: blocks[b][key])[:drop])  # noqa: E731
            choices = {"influence": rank("influence")}
            if "removal" in blocks[0]:
                choices["removal"] = rank("removal")
            choices["last"] = list(range(n - drop, n))
            for seed in range(args.seeds):
                choices[f"random-{seed}"] = sorted(
                    np.random.default_rng(seed).choice(n, drop, replace=False).tolist())
            rows.update({k: (drop_passes(v), None, v) for k, v in choices.items()})
        span = f"first={args.share_first} last={args.share_last} group=2"
        for merge in ("mean", "least-squares"):
            for corrections in ("none", "scales"):
                rows[f"share-{merge}-{corrections}"] = (
                    f"compress-share-blocks{{{span} merge={merge} corrections={corrections}}}",
                    calibration if merge == "least-squares" or corrections == "scales" else None, [])
        rows = {k: v for k, v in rows.items() if want(k)}
        results, artifacts = {}, {}
        for name, (passes, row_calibration, chosen) in rows.items():
            art, seconds = compile_row(model, passes, row_calibration, tmp / name, tokens)
            ppl, se = artifact_perplexity(art, windows)
            weights = (tmp / name / "model.weights").stat().st_size
            results[name] = {"passes": passes, "blocks": chosen, "perplexity": ppl, "standard_error": se,
                             "compile_s": seconds, "weights_bytes": weights}
            log(f"{name:10s} {chosen} perplexity {ppl:.3f} ± {se:.3f}")
            if args.latency:
                artifacts[name] = art
            else:
                art.close()
        if args.latency:
            fastest = fastest_prefill(artifacts, windows[0], args.runs)
            for name in artifacts:
                results[name]["prefill_ms"] = 1e3 * fastest[name]
                results[name]["prefill_ratio"] = fastest[name] / fastest["full"] if "full" in fastest else None
    print(f"SmolLM2-135M; {args.windows} evaluation windows of {tokens} tokens (Pride and Prejudice), "
          f"{args.calibration_sets} calibration windows (Sense and Sensibility)\n")
    print("| row | blocks dropped | weights MB | perplexity | " + ("prefill ms | vs full |" if args.latency else ""))
    print("| --- | --- | ---: | ---: | " + ("---: | ---: |" if args.latency else ""))
    for name, r in results.items():
        line = (f"| {name} | {', '.join(map(str, r['blocks'])) or '-'} | {r['weights_bytes'] / 1e6:.1f} | "
                f"{r['perplexity']:.2f} ± {r['standard_error']:.2f} |")
        if args.latency:
            line += f" {r['prefill_ms']:.0f} | {r['prefill_ratio']:.3f} |"
        print(line)
    randoms = [r["perplexity"] for k, r in results.items() if k.startswith("random-")]
    if randoms:
        print(f"\nmean of the {len(randoms)} random choices: {np.mean(randoms):.2f}")
    if blocks:
        print("\nper block: " + ", ".join(
            f"{b['index']}: {b['influence']:.4f}" + (f"/{b['removal']:.4f}" if "removal" in b else "")
            for b in blocks) + " (influence" + ("/removal" if "removal" in blocks[0] else "") + ")")
    if args.json:
        args.json.write_text(json.dumps({"blocks": blocks, "rows": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
