"""The main job: import all-MiniLM-L6-v2 (built from its shipped weights),
compile it ahead of time for this CPU in float32 and quantized to int4 (GPTQ,
groups of 128, calibrated on a few input sets), run both artifacts, check them
against onnxruntime and report what quantization gained: weights size,
latency and the output error it costs."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
BIN = ROOT / "build" / "bin"
CACHE = Path(os.environ.get("COMPRESS_CACHE", Path.home() / ".cache" / "compressir"))
SEQ = 128
THREADS = 2
CALIBRATION_SETS = 4
# What the quantized artifact gets: int4 weights in groups of 128 with zero points, by GPTQ; activations
# quantized to int8 per row at run time (mode=w4a8), so that products run on integer dot products.
QUANTIZE = "compress-quantize{bits=4 group-size=128 symmetric=false method=gptq mode=w4a8 report=REPORT}"
# An int4 model moves MiniLM's outputs by about 24% (docs/benchmarks.md); far more means something broke.
QUANTIZED_ERROR_LIMIT = 0.5


def token_ids(rng: np.random.Generator) -> np.ndarray:
    """[CLS], SEQ - 2 random word-piece ids, [SEP]: one batch row."""
    return np.concatenate([[101], rng.integers(1000, 30522, SEQ - 2), [102]]).astype(np.int64)[None]


def build_model() -> Path:
    model = CACHE / "minilm" / "minilm.onnx"
    if not model.exists():
        subprocess.run([sys.executable, "-m", "compress_models.minilm", "-o", str(model)],
                       check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "python")})
    return model


def layer_summary(mlir: str) -> str:
    counts = {op: len(re.findall(rf"compress\.{op} ", mlir)) for op in ("linear", "conv2d", "embedding")}
    return ", ".join(f"{n} {op}" for op, n in counts.items() if n)


def compile_model(model: Path, out: Path, passes: str = "", calibration: Path | None = None) -> float:
    """compress-compile for 1 x SEQ tokens; returns the seconds it took."""
    cmd = [str(BIN / "compress-compile"), str(model), "-o", str(out), "--name", "minilm",
           f"--input-shape=input_ids=1x{SEQ}", f"--input-shape=attention_mask=1x{SEQ}"]
    if passes:
        cmd.append(f"--passes={passes}")
    if calibration:
        cmd.append(f"--calibration={calibration}")
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


def run_artifact(artifact: Path, inputs: Path) -> tuple[str, float, dict[str, np.ndarray]]:
    """Benchmarks the artifact on the inputs: compress-run's timing line, its median ms, and the outputs."""
    out = artifact / "outputs"
    run = subprocess.run([str(BIN / "compress-run"), str(artifact / "libminilm.so"),
                          "--input", f"input_ids={inputs}/input_ids.npy",
                          "--input", f"attention_mask={inputs}/attention_mask.npy",
                          "--output-dir", str(out), "--benchmark", "20", "--num-threads", str(THREADS)],
                         check=True, capture_output=True, text=True)
    median = float(re.search(r"median ([0-9.]+) ms", run.stdout).group(1))
    return run.stdout.strip(), median, {p.stem: np.load(p) for p in out.glob("*.npy")}


def relative_errors(outputs: dict[str, np.ndarray], session, expected) -> dict[str, float]:
    """||ours - onnxruntime|| / ||onnxruntime|| per output."""
    return {o.name: float(np.linalg.norm(outputs[re.sub(r"[^A-Za-z0-9_.-]", "_", o.name)].astype(np.float64) - r)
                          / np.linalg.norm(r.astype(np.float64)))
            for o, r in zip(session.get_outputs(), expected)}


def main() -> int:
    model = build_model()
    work = Path(tempfile.mkdtemp(prefix="compress-demo-"))
    ids = token_ids(np.random.default_rng(0))
    mask = np.ones_like(ids)
    np.save(work / "input_ids.npy", ids)
    np.save(work / "attention_mask.npy", mask)
    # Calibration sets for GPTQ: other random token rows, never the evaluated one.
    calibration = work / "calibration"
    for i in range(CALIBRATION_SETS):
        (calibration / f"set{i}").mkdir(parents=True)
        calibration_ids = token_ids(np.random.default_rng([1, i]))
        np.save(calibration / f"set{i}" / "input_ids.npy", calibration_ids)
        np.save(calibration / f"set{i}" / "attention_mask.npy", np.ones_like(calibration_ids))

    mlir = subprocess.run([str(BIN / "compress-opt"), str(model), f"--input-shape=input_ids=1x{SEQ}",
                           f"--input-shape=attention_mask=1x{SEQ}"],
                          check=True, capture_output=True, text=True).stdout
    print(f"model: all-MiniLM-L6-v2, {model.stat().st_size / 2**20:.1f} MiB of ONNX")
    print(f"imported: {layer_summary(mlir)} (the layers compression passes rewrite)")

    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    feeds = {"input_ids": ids, "attention_mask": mask}
    expected = session.run(None, feeds)
    times = []
    for _ in range(20):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append((time.perf_counter() - start) * 1e3)
    ort_median = sorted(times)[10]

    float_dir, int4_dir, report = work / "fp32", work / "int4", work / "quantize-report.json"
    seconds = compile_model(model, float_dir)
    weights = (float_dir / "minilm.weights").stat().st_size
    print(f"fp32: compiled ahead of time in {seconds:.1f} s: libminilm.so "
          f"{(float_dir / 'libminilm.so').stat().st_size / 2**10:.0f} KiB of code, minilm.weights "
          f"{weights / 2**20:.1f} MiB (mmapped at run time)")
    line, float_median, outputs = run_artifact(float_dir, work)
    print(f"  1 x {SEQ} tokens, {THREADS} threads: {line}")
    float_errors = relative_errors(outputs, session, expected)
    for name, rel in float_errors.items():
        print(f"  {name}: relative error vs onnxruntime {rel:.2e}")

    passes = QUANTIZE.replace("REPORT", str(report))
    seconds = compile_model(model, int4_dir, passes, calibration)
    totals = json.loads(report.read_text())["totals"]
    bits = totals["bytes_after"] * 8 / (totals["bytes_before"] / 4)
    int4_weights = (int4_dir / "minilm.weights").stat().st_size
    print(f"int4: --passes \"{QUANTIZE.replace(' report=REPORT', '')}\" with {CALIBRATION_SETS} calibration "
          f"sets, compiled in {seconds:.1f} s: {totals['layers']} layers at {bits:.2f} bits per weight, "
          f"minilm.weights {int4_weights / 2**20:.1f} MiB")
    line, int4_median, outputs = run_artifact(int4_dir, work)
    print(f"  1 x {SEQ} tokens, {THREADS} threads: {line}")
    int4_errors = relative_errors(outputs, session, expected)
    for name, rel in int4_errors.items():
        print(f"  {name}: relative error vs onnxruntime fp32 {rel:.3f}")

    print(f"onnxruntime fp32, same inputs and threads: median {ort_median:.3f} ms over 20 runs")
    print(f"gained: weights {weights / int4_weights:.1f}x smaller ({weights / 2**20:.1f} -> "
          f"{int4_weights / 2**20:.1f} MiB; the float32 embedding tables stay), latency {float_median:.2f} -> "
          f"{int4_median:.2f} ms ({float_median / int4_median:.2f}x; onnxruntime fp32 {ort_median:.2f} ms), "
          f"for an output error of {max(int4_errors.values()):.1%}")
    return 0 if max(float_errors.values()) < 1e-4 and max(int4_errors.values()) < QUANTIZED_ERROR_LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
