"""Language-model quality of SmolLM2-135M-Instruct variants: perplexity on the fixed Jane Austen protocol
(python/compress_models/austen.py: consecutive 512-token windows of Pride and Prejudice; calibration from Sense and
Sensibility only), with its standard error over windows.

Rows (--rows, comma-separated):
  ort              the float32 ONNX model with onnxruntime
  compress         the same model compiled by CompressIR (compress-run; --passes and --calibration are forwarded,
                   so compressed variants are measured the same way; --compile-once builds an artifact with
                   compress-compile first and runs it per chunk, so calibration and compilation happen once)
  ort-int4-default, ort-int4-rtn, ort-int4-gptq (symmetric), the same with -asym (asymmetric)
                   onnxruntime's MatMulNBitsQuantizer, int4 g128, in its default / RTN / GPTQ modes
                   (GPTQ calibrated on --ort-gptq-windows Sense and Sensibility windows),
                   run by onnxruntime; quantized through bench/quantize_vs_onnxruntime.py ort-quantize in
                   --quantizer-python and cached under $COMPRESS_CACHE/smollm2/ort-quantized/
  reference        the numpy forward of test/e2e/smollm2_reference.py (slow; float64)

    python bench/llm_quality.py --windows 4 --start 2000                 # REFERENCES.md's 4 windows: about 23.6
    python bench/llm_quality.py                                          # the full protocol, onnxruntime
    python bench/llm_quality.py --rows compress --windows 2 \\
        --passes 'compress-quantize{bits=4 group-size=128}'
    python bench/llm_quality.py --rows compress --windows 8 --compile-once \\
        --passes 'compress-quantize{bits=4 group-size=128 method=gptq}' --calibration DIR
    # DIR: python -m compress_models.austen --write-calibration DIR --sets 32

A window's score is the mean natural-log NLL of its tokens 2..512 given their prefix in the window; perplexity =
exp(mean over all scored tokens); the standard error is the per-window means' standard deviation over sqrt(windows),
times the perplexity.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
from compress_models import austen, cache_dir, smollm2  # noqa: E402

# Row -> (MatMulNBitsQuantizer mode, symmetric). Symmetric is the quantizer's command-line default.
ORT_QUANT_MODES = {f"ort-int4-{mode}{suffix}": (mode, suffix == "")
                   for mode in ("default", "rtn", "gptq") for suffix in ("", "-asym")}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def window_nll(logits: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Per-window mean NLL of ids[:, 1:] from logits [n, W, V] (positions 0..W-2 predict 1..W-1); sums in float64."""
    out = np.empty(len(ids))
    for i in range(len(ids)):
        lg = np.asarray(logits[i, :-1], np.float32)
        m = lg.max(axis=-1, keepdims=True)
        logz = m[:, 0].astype(np.float64) + np.log(np.exp(lg - m).sum(axis=-1, dtype=np.float64))
        out[i] = np.mean(logz - lg[np.arange(len(lg)), ids[i, 1:]])
    return out


def model_inputs(ids: np.ndarray, with_mask: bool) -> dict[str, np.ndarray]:
    inputs = {"input_ids": np.ascontiguousarray(ids, np.int64)}
    if with_mask:
        inputs["attention_mask"] = np.ones_like(inputs["input_ids"])
    return inputs


def chunks(windows: np.ndarray, size: int):
    for i in range(0, len(windows), size):
        yield windows[i:i + size]


# ---------------------------------------------------------------------------------------------------------------
# Rows. Each returns the per-window NLLs and a dict of extra facts (timings).

def run_ort(args, windows: np.ndarray, model: Path) -> tuple[np.ndarray, dict]:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    start = time.perf_counter()
    sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    load = time.perf_counter() - start
    with_mask = any(i.name == "attention_mask" for i in sess.get_inputs())
    nll, run = [], 0.0
    for chunk in chunks(windows, args.batch):
        start = time.perf_counter()
        logits = sess.run(["logits"], model_inputs(chunk, with_mask))[0]
        run += time.perf_counter() - start
        nll.append(window_nll(logits, chunk))
        log(f"  {sum(map(len, nll))}/{len(windows)} windows, {run:.1f} s")
    return np.concatenate(nll), {"load_s": load, "run_s": run}


def compress_command(args, target: Path, inputs: dict[str, Path], out_dir: Path) -> list[str]:
    cmd = [str(args.compress_run), str(target), "--output-dir", str(out_dir)]
    for name, path in inputs.items():
        cmd += ["--input", f"{name}={path}"]
    return cmd


def run_compress(args, windows: np.ndarray, model: Path) -> tuple[np.ndarray, dict]:
    """compress-run on chunks of args.compress_batch windows; the JIT compiles (and runs the passes) per call
    unless --compile-once made an artifact first."""
    import onnx
    with_mask = any(i.name == "attention_mask" for i in onnx.load(str(model), load_external_data=False).graph.input)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    passes = ([f"--passes={args.passes}"] if args.passes else []) + (
        [f"--calibration={args.calibration}"] if args.calibration else [])
    facts = {"passes": args.passes or "", "calibration": str(args.calibration or "")}
    work = Path(tempfile.mkdtemp(prefix="llm_quality_"))
    try:
        target, extra, chunk_size = model, passes, args.compress_batch
        sets = sorted(Path(args.calibration).glob("*.npz")) if args.calibration else []
        if sets and not args.compile_once:
            # Sets are checked against the shapes compiled for, which compress-run takes from the inputs.
            chunk_size = int(np.load(sets[0])["input_ids"].shape[0])
            log("note: the JIT calibrates again for every chunk; --compile-once calibrates once")
        if args.compile_once:
            # One window per run at a static [1, W]: calibration sets ([1, W], as compress_models.austen writes
            # them) are checked against the compiled shapes.
            chunk_size = 1
            shapes = [f"--input-shape=input_ids=1x{windows.shape[1]}"]
            if with_mask:
                shapes.append(f"--input-shape=attention_mask=1x{windows.shape[1]}")
            cmd = [str(args.compress_compile), str(model), "-o", str(work / "artifact"), "--name", "model"] + shapes
            log("$ " + " ".join(cmd + passes))
            start = time.perf_counter()
            proc = subprocess.run(cmd + passes, capture_output=True, text=True, env=env)
            facts["compile_s"] = time.perf_counter() - start
            if proc.returncode != 0:
                raise RuntimeError("compress-compile failed:\n" + (proc.stderr + proc.stdout)[-4000:])
            target, extra = work / "artifact" / "libmodel.so", ["--num-threads", str(args.threads)]
            facts["weights_bytes"] = (work / "artifact" / "model.weights").stat().st_size
        nll, total = [], 0.0
        for k, chunk in enumerate(chunks(windows, chunk_size)):
            inputs = {}
            for name, value in model_inputs(chunk, with_mask).items():
                inputs[name] = work / f"{name}.npy"
                np.save(inputs[name], value)
            out_dir = work / "out"
            shutil.rmtree(out_dir, ignore_errors=True)
            cmd = compress_command(args, target, inputs, out_dir) + extra
            if k == 0:
                log("$ " + " ".join(cmd))
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            total += time.perf_counter() - start
            if proc.returncode != 0:
                raise RuntimeError("compress-run failed:\n" + (proc.stderr + proc.stdout)[-4000:])
            nll.append(window_nll(np.load(out_dir / "logits.npy"), chunk))
            log(f"  {sum(map(len, nll))}/{len(windows)} windows, {total:.1f} s")
        facts["compress_run_s"] = total
        return np.concatenate(nll), facts
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_npy_sets(folder: Path, windows: np.ndarray, with_mask: bool) -> None:
    """Calibration sets as subfolders of NAME.npy, the layout bench/quantize_vs_onnxruntime.py's reader takes."""
    shutil.rmtree(folder, ignore_errors=True)
    for i, w in enumerate(windows):
        d = folder / f"set_{i:04d}"
        d.mkdir(parents=True)
        for name, value in model_inputs(w[None], with_mask).items():
            np.save(d / f"{name}.npy", value)


def ort_quantized(args, mode: str, symmetric: bool, model: Path) -> tuple[Path, dict]:
    """The model quantized by onnxruntime's MatMulNBitsQuantizer (cached by its settings)."""
    sym = "sym" if symmetric else "asym"
    extra = f"-cal{args.ort_gptq_windows}x{args.window_tokens}" if mode == "gptq" else ""
    out = cache_dir() / "smollm2" / "ort-quantized" / f"{model.stem}-int4-g128-{sym}-{mode}{extra}.onnx"
    stamp = out.with_name(out.name + ".stamp")
    want = json.dumps({"model": str(model), "mtime": model.stat().st_mtime, "protocol": austen.PROTOCOL_VERSION})
    if out.is_file() and stamp.is_file() and stamp.read_text() == want:
        return out, {}
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(args.quantizer_python), str(ROOT / "bench" / "quantize_vs_onnxruntime.py"), "ort-quantize", mode,
           str(model), str(out), "--block-size", "128"] + ([] if symmetric else ["--asymmetric"])
    cal = None
    if mode == "gptq":
        import onnx
        with_mask = any(i.name == "attention_mask"
                        for i in onnx.load(str(model), load_external_data=False).graph.input)
        cal = Path(tempfile.mkdtemp(prefix="llm_quality_cal_"))
        write_npy_sets(cal, austen.calibration_windows(args.ort_gptq_windows, args.window_tokens), with_mask)
        cmd += ["--calibration", str(cal)]
    log("$ " + " ".join(cmd))
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONHASHSEED="0"))
    seconds = time.perf_counter() - start
    if cal:
        shutil.rmtree(cal, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError("onnxruntime's quantizer failed:\n" + (proc.stderr or proc.stdout)[-4000:])
    stamp.write_text(want)
    return out, {"quantize_s": seconds}


def run_reference(args, windows: np.ndarray, model: Path) -> tuple[np.ndarray, dict]:
    sys.path.insert(0, str(ROOT / "test" / "e2e"))
    from smollm2_reference import Reference
    ref = Reference(smollm2.fetch()["gguf"])
    start = time.perf_counter()
    nll = np.array([ref.window_nll(w) for w in windows])
    return nll, {"run_s": time.perf_counter() - start}


def run_row(row: str, args, windows: np.ndarray, paths: dict) -> tuple[np.ndarray, dict]:
    model = Path(args.model) if args.model else paths[args.variant]
    if row == "ort":
        return run_ort(args, windows, model)
    if row == "compress":
        return run_compress(args, windows, model)
    if row == "reference":
        return run_reference(args, windows, model)
    if row in ORT_QUANT_MODES:
        quantized, facts = ort_quantized(args, *ORT_QUANT_MODES[row], model)
        nll, more = run_ort(args, windows, quantized)
        return nll, {**facts, **more, "model": str(quantized)}
    raise SystemExit(f"unknown row {row!r}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="ort", help="comma-separated: ort, compress, reference, " +
                    ", ".join(ORT_QUANT_MODES))
    ap.add_argument("--windows", type=int, help="evaluate the first N windows (default: every complete window)")
    ap.add_argument("--window-tokens", type=int, default=austen.WINDOW_TOKENS)
    ap.add_argument("--start", type=int, default=0, help="first token of the first window (protocol: 0)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1, help="windows per onnxruntime run")
    ap.add_argument("--variant", choices=["ids", "nocache"], default="ids",
                    help="which cached graph: input_ids only (ids) or input_ids + attention_mask (nocache)")
    ap.add_argument("--model", type=Path, help="another .onnx with the same inputs and a logits output")
    ap.add_argument("--compress-run", type=Path, default=ROOT / "build" / "bin" / "compress-run")
    ap.add_argument("--compress-compile", type=Path, default=ROOT / "build" / "bin" / "compress-compile")
    ap.add_argument("--passes", help="forwarded to compress-run/compress-compile (compress row)")
    ap.add_argument("--calibration", type=Path, help="forwarded to compress-run/compress-compile (compress row)")
    ap.add_argument("--compress-batch", type=int, default=4,
                    help="windows per compress-run call (1 with --compile-once; with .npz --calibration sets, their "
                         "batch, since they are checked against the shapes compiled for)")
    ap.add_argument("--compile-once", action="store_true",
                    help="compress row: compress-compile an artifact once, then run it per chunk")
    bench_venv = Path.home() / ".cache" / "compressir" / "benchvenv" / "bin" / "python"
    ap.add_argument("--quantizer-python", type=Path,
                    default=bench_venv if bench_venv.exists() else Path(sys.executable),
                    help="interpreter for onnxruntime's quantizers: the GPTQ mode imports torch, which the project's "
                         "venv lacks (docs/benchmarks.md: ~/.cache/compressir/benchvenv, the default when present)")
    ap.add_argument("--ort-gptq-windows", type=int, default=8, help="calibration windows for ort-int4-gptq "
                    "(its GPTQ runs the whole model once per distinct MatMul input and window)")
    ap.add_argument("--json", type=Path, help="write the figures and per-window NLLs there")
    args = ap.parse_args(argv)

    paths = smollm2.fetch()
    windows = austen.evaluation_windows(args.windows, args.window_tokens, args.start)
    log(f"{len(windows)} windows of {args.window_tokens} tokens of {austen.BOOKS[austen.EVALUATION_BOOK]} "
        f"from token {args.start}")
    results = []
    for row in [r.strip() for r in args.rows.split(",") if r.strip()]:
        log(f"row {row}")
        try:
            nll, facts = run_row(row, args, windows, paths)
        except RuntimeError as e:
            print(f"{row}: FAILED: {e}")
            results.append({"row": row, "error": str(e)})
            continue
        ppl, se = austen.perplexity(nll)
        print(f"{row:18s} windows {len(nll):4d}  perplexity {ppl:8.4f} ± {se:.4f} ({100 * se / ppl:.2f}%)  "
              + "  ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in facts.items()),
              flush=True)
        results.append({"row": row, "perplexity": ppl, "standard_error": se, "window_nll": nll.tolist(), **facts})
    if args.json:
        args.json.write_text(json.dumps({"protocol": austen.PROTOCOL_VERSION, "windows": len(windows),
                                         "window_tokens": args.window_tokens, "start": args.start,
                                         "threads": args.threads, "rows": results}, indent=1))
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
