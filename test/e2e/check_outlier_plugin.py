"""The example pass plugin (examples/outlier-quantize, built in the tree) on SmolLM2-135M, run by run_all.sh:
compress-run loads it with --load-pass-plugin and runs outlier-aware-quantize{top-k=8 bits=4 group-size=128}
with calibration (one Sense and Sensibility window), then

  report      every linear layer is rewritten (the embeddings are left as they are), with its outlier channels
              and an output error on the calibration data no larger than plain RTN's of the same bits and groups;
  perplexity  on a Pride and Prejudice window of 512 tokens, the outlier-aware model's perplexity is closer to the
              float model's (run by onnxruntime) than compress-quantize{bits=4 group-size=128} (RTN) brings it.

Measured: perplexity 16.14 float, 30.80 RTN, 19.87 outlier-aware; about 2.5 minutes on 2 cores (two compilations
of the model and one calibration sweep).
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
from compress_models import austen, smollm2  # noqa: E402
from e2e_tools import Checks  # noqa: E402

TOKENS = 512
TOP_K, BITS, GROUP = 8, 4, 128
THREADS = 2
check = Checks()
failures = check.failures


def run(cmd: list) -> None:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{(proc.stderr + proc.stdout)[-3000:]}")


def mean_nll(logits: np.ndarray, ids: np.ndarray) -> float:
    """Mean negative log-likelihood of each next token under the logits [T, V] of ids [T]."""
    z = logits[:-1].astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(ids) - 1), ids[1:]].mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compress-run", type=Path, default=ROOT / "build" / "bin" / "compress-run")
    ap.add_argument("--plugin", type=Path, default=ROOT / "build" / "lib" / "libOutlierQuantize.so")
    args, _ = ap.parse_known_args(argv)  # run_all.sh passes its other arguments through
    for path in (args.compress_run, args.plugin):
        if not path.exists():
            print(f"outlier plugin: no {path}")
            return 1
    model = smollm2.fetch()["ids"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # The calibration window has the prompt's shape: compress-run measures on the module it compiles.
        austen.write_calibration(tmp / "calibration", austen.calibration_windows(1, tokens=TOKENS))
        ids = austen.evaluation_windows(1, tokens=TOKENS)[0]
        np.save(tmp / "ids.npy", ids[None])
        report_path = tmp / "report.json"
        so = ort.SessionOptions()
        so.intra_op_num_threads = THREADS
        float_logits = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"]).run(
            ["logits"], {"input_ids": ids[None]})[0]
        nll = {"float": mean_nll(float_logits[0], ids)}
        print(f"     float (onnxruntime): perplexity {np.exp(nll['float']):.3f}", flush=True)
        runs = {
            "rtn": [f"--passes=compress-quantize{{bits={BITS} group-size={GROUP}}}"],
            "outlier-aware": [f"--load-pass-plugin={args.plugin}", f"--calibration={tmp / 'calibration'}",
                              f"--passes=outlier-aware-quantize{{top-k={TOP_K} bits={BITS} group-size={GROUP} "
                              f"report={report_path}}}"],
        }
        for name, options in runs.items():
            try:
                run([args.compress_run, model, "--input", f"input_ids={tmp / 'ids.npy'}", "--output-dir",
                     tmp / name, "--num-threads", THREADS, *options])
            except RuntimeError as e:
                check(False, f"{name}: compress-run failed: {e}")
                continue
            nll[name] = mean_nll(np.load(tmp / name / "logits.npy")[0], ids)
            print(f"     {name}: perplexity {np.exp(nll[name]):.3f}", flush=True)

        if report_path.exists():
            layers = json.loads(report_path.read_text())["layers"]
            rewritten = [e for e in layers if "skipped" not in e]
            left = sorted({e["kind"] for e in layers if "skipped" in e})
            check(len(rewritten) == smollm2.LAYERS * 7 + 1 and left == ["embedding"]
                  and all(len(e["outlier_channels"]) == TOP_K for e in rewritten),
                  f"report: {len(rewritten)} linear layers rewritten (expected {smollm2.LAYERS} x 7 + lm_head), "
                  f"{TOP_K} outlier channels each; left as they are: {left}")
            worse = [e["name"] for e in rewritten if e["output_relative_error"] > e["rtn_output_relative_error"]]
            errors = np.array([[e["output_relative_error"], e["rtn_output_relative_error"]] for e in rewritten])
            check(not worse, f"report: output error on the calibration data, mean {errors[:, 0].mean():.4f} "
                             f"against RTN's {errors[:, 1].mean():.4f}; larger than RTN's in {worse}")
        if len(nll) == len(runs) + 1:
            gap = {name: np.exp(nll[name]) - np.exp(nll["float"]) for name in ("rtn", "outlier-aware")}
            check(gap["outlier-aware"] < gap["rtn"],
                  f"perplexity: outlier-aware {gap['outlier-aware']:+.3f} over float, RTN {gap['rtn']:+.3f}")
    print(f"outlier plugin: {len(failures)} failed, {check.seconds():.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
