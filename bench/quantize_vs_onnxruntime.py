"""Weight quantization against onnxruntime's quantizers: MiniLM output error, and the latency of a 4096x11008 linear
layer and of a Llama-7B-width decoder block."""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_vs_onnxruntime import (MODELS, ROOT, THRESHOLD, cell, ensure_model, last_line, log,  # noqa: E402
                                machine_description, measured, minilm_inputs, run_onnxruntime, run_ours,
                                tensor_file, wait_until_idle)

SECTION_BEGIN = "<!-- BEGIN bench/quantize_vs_onnxruntime.py results -->"
SECTION_END = "<!-- END bench/quantize_vs_onnxruntime.py results -->"
DEFAULT_QUANTIZER_PYTHON = "~/.cache/compressir/benchvenv/bin/python"
MINILM_SEQ = 128
LINEAR_K, LINEAR_N = 4096, 11008
LLAMA_HIDDEN, LLAMA_FFN = 4096, 11008
GROUP = 128


# ---------------------------------------------------------------------------------------------------------------
# onnxruntime's quantizers. They run in a separate interpreter (--quantizer-python): the MatMulNBits quantizer's
# GPTQ mode imports torch, which the project's venv does not have.

class FolderReader:
    """onnxruntime CalibrationDataReader over a calibration folder laid out as compress-run's --calibration wants it:
    one subfolder per set, NAME.npy per model input."""

    def __init__(self, folder: Path, names: list[str]):
        self.sets = [{n: np.load(d / tensor_file(n)) for n in names} for d in sorted(folder.iterdir()) if d.is_dir()]
        self.index = 0

    def get_next(self):
        if self.index >= len(self.sets):
            return None
        self.index += 1
        return self.sets[self.index - 1]

    def __iter__(self):
        return self

    def __next__(self):
        data = self.get_next()
        if data is None:
            raise StopIteration
        return data


def ort_quantize(argv: list[str]) -> int:
    """`ort-quantize ALGO IN OUT`: quantizes IN with onnxruntime into OUT (one .onnx file) and prints one JSON line
    {"seconds": ...}. ALGO: default (the MatMulNBits quantizer's own blockwise RTN), rtn (its RTN mode), gptq (its
    GPTQ mode, calibrated on --calibration), dynamic-int8 (quantize_dynamic, QInt8 weights)."""
    ap = argparse.ArgumentParser(prog="quantize_vs_onnxruntime.py ort-quantize")
    ap.add_argument("algo", choices=["default", "rtn", "gptq", "dynamic-int8"])
    ap.add_argument("input", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--block-size", type=int, default=GROUP)
    ap.add_argument("--asymmetric", action="store_true")
    ap.add_argument("--accuracy-level", type=int)
    ap.add_argument("--calibration", type=Path)
    args = ap.parse_args(argv)
    import logging
    logging.getLogger("onnxruntime.quantization").setLevel(logging.WARNING)
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import (GPTQWeightOnlyQuantConfig, MatMulNBitsQuantizer,
                                                                 RTNWeightOnlyQuantConfig)
    start = time.perf_counter()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.algo == "dynamic-int8":
        quantize_dynamic(args.input, args.output, weight_type=QuantType.QInt8)
    else:
        config = None
        if args.algo == "rtn":
            config = RTNWeightOnlyQuantConfig()
        elif args.algo == "gptq":
            names = [i.name for i in onnx.load(args.input, load_external_data=False).graph.input]
            config = GPTQWeightOnlyQuantConfig(calibration_data_reader=FolderReader(args.calibration, names),
                                               percdamp=0.01, block_size=128, actorder=False, mse=False,
                                               perchannel=True)
        quant = MatMulNBitsQuantizer(str(args.input), block_size=args.block_size, is_symmetric=not args.asymmetric,
                                     accuracy_level=args.accuracy_level, algo_config=config)
        quant.process()
        quant.model.save_model_to_file(str(args.output), False)
    print(json.dumps({"seconds": time.perf_counter() - start}))
    return 0


@dataclass(frozen=True)
class OrtQuant:
    """One call of ort-quantize: ALGO and its flags."""
    algo: str
    asymmetric: bool = False
    accuracy_level: int | None = None

    def argv(self) -> list[str]:
        flags = [self.algo, "--block-size", str(GROUP)] + (["--asymmetric"] if self.asymmetric else [])
        return flags + (["--accuracy-level", str(self.accuracy_level)] if self.accuracy_level is not None else [])

    def tag(self) -> str:
        return "-".join([self.algo] + (["asym"] if self.asymmetric else ["sym"] if self.algo != "dynamic-int8" else [])
                        + ([f"acc{self.accuracy_level}"] if self.accuracy_level is not None else []))


def model_files(model: Path) -> list[Path]:
    """The .onnx file and the external data files its initializers name."""
    proto = onnx.load(model, load_external_data=False)
    locations = {e.value for t in proto.graph.initializer if t.data_location == TensorProto.EXTERNAL
                 for e in t.external_data if e.key == "location"}
    return [model] + [model.parent / loc for loc in sorted(locations)]


def up_to_date(target: Path, stamp_file: Path, stamp: str, sources: list[Path]) -> bool:
    """Whether target exists, was made by the command recorded in stamp_file, and is newer than every source."""
    return (target.exists() and stamp_file.is_file() and stamp_file.read_text() == stamp
            and all(target.stat().st_mtime >= s.stat().st_mtime for s in sources))


def ort_quantized(args, q: OrtQuant, model: Path, out: Path,
                  calibration: Path | None = None) -> tuple[Path | None, str]:
    """The model quantized by onnxruntime (cached). Returns (path, "") or (None, why it failed)."""
    cmd = [str(args.quantizer_python), str(Path(__file__).resolve()), "ort-quantize"] + q.argv()
    cmd += [str(model), str(out)]
    if calibration is not None:
        cmd += ["--calibration", str(calibration)]
    stamp, stamp_file = shlex.join(cmd), out.with_name(out.name + ".cmd")
    if up_to_date(out, stamp_file, stamp, model_files(model) + [Path(__file__).resolve()]):
        return out, ""
    if not os.access(args.quantizer_python, os.X_OK):
        return None, f"no interpreter at {args.quantizer_python_shown} (see --quantizer-python)"
    log("$ " + stamp)
    # A fixed hash seed: the GPTQ mode visits layers in the order of a set of names.
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONHASHSEED="0"))
    if proc.returncode != 0:
        # The last line of stderr is the exception (stdout ends in a progress bar).
        return None, "onnxruntime's quantizer failed: " + last_line(proc.stderr or proc.stdout)
    # The quantizers print progress bars on stdout too: the timing is the line ort-quantize printed last.
    timing = re.findall(r'\{"seconds": ([0-9.e+-]+)\}', proc.stdout)
    log(f"quantized in {float(timing[-1]):.1f} s" if timing else "quantized")
    stamp_file.write_text(stamp)
    os.sync()
    return out, ""


def ort_bits_per_weight(path: Path) -> float | None:
    """Bits per quantized weight of an onnxruntime-quantized model: the bytes of the initializers its MatMulNBits or
    MatMulInteger/DynamicQuantizeMatMul nodes read as weight, scales and zero points, over the weights' count."""
    model = onnx.load(path)
    inits = {i.name: i for i in model.graph.initializer}
    size = lambda name: (len(inits[name].raw_data) if inits[name].raw_data  # noqa: E731
                         else numpy_helper.to_array(inits[name]).nbytes)
    total_bytes, weights = 0, 0
    for node in model.graph.node:
        if node.op_type == "MatMulNBits":
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            weights += attrs["K"] * attrs["N"]
            total_bytes += sum(size(n) for n in node.input[1:4] if n in inits)
        elif node.op_type in ("MatMulInteger", "DynamicQuantizeMatMul"):
            w = node.input[1]
            if w in inits:
                weights += int(np.prod(inits[w].dims))
                extra = node.input[3:4] if node.op_type == "MatMulInteger" else node.input[2:4]
                total_bytes += size(w) + sum(size(n) for n in extra if n in inits)
    return total_bytes * 8 / weights if weights else None


# ---------------------------------------------------------------------------------------------------------------
# Our side: artifacts compiled with compress-compile, quantized by compress-quantize.

def ours_compiled(args, model: Path, name: str, out: Path, shapes: dict[str, tuple[int, ...]], passes: str,
                  calibration: Path | None = None) -> tuple[Path | None, str]:
    """lib<name>.so of `model` compiled with `passes` (cached). Returns (library, "") or (None, the error)."""
    lib = out / f"lib{name}.so"
    cmd = [str(args.compress_compile), str(model), "-o", str(out), "--name", name]
    cmd += [f"--input-shape={n}={'x'.join(map(str, s))}" for n, s in shapes.items()]
    if passes:
        cmd.append(f"--passes={passes}")
    if calibration is not None:
        cmd.append(f"--calibration={calibration}")
    stamp, stamp_file = shlex.join(cmd), out / "compile.cmd"
    if up_to_date(lib, stamp_file, stamp, [args.compress_compile] + model_files(model)):
        return lib, ""
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    log("$ " + stamp)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, "compress-compile failed: " + last_line(proc.stderr + proc.stdout)
    log(f"compiled in {time.perf_counter() - start:.1f} s")
    stamp_file.write_text(stamp)
    os.sync()
    return lib, ""


# How each of our variants treats activations: float (mode=weight-only, the default: exact weight-only numerics),
# or int8 per row (mode=w8a8 or w4a8, by the weight bits: integer dot products).
def activation_mode(activations: str, bits: int) -> str:
    return "mode=weight-only" if activations == "float" else f"mode=w{bits}a8"


def quantize_passes(bits: int, group: int, symmetric: bool, method: str, report: Path,
                    activations: str = "float", extra: str = "") -> str:
    """The --passes value for compress-quantize with these options (and `extra` ones), writing its report to
    `report`."""
    return (f"compress-quantize{{bits={bits} group-size={group} symmetric={'true' if symmetric else 'false'} "
            f"method={method} {activation_mode(activations, bits)} {extra + ' ' if extra else ''}report={report}}}")


def report_bits_per_weight(report: Path) -> float | None:
    """bytes_after * 8 / weights over the model, from compress-quantize's report (weights are float32 before)."""
    if not report.is_file():
        return None
    totals = json.loads(report.read_text())["totals"]
    return totals["bytes_after"] * 8 / (totals["bytes_before"] / 4)


def report_layer_error(report: Path) -> float | None:
    """sqrt(sum of the layers' squared output_relative_error) from compress-quantize's report: what the model's
    relative output error comes to when each layer adds its own independent error (None without calibration)."""
    if not report.is_file():
        return None
    errors = [layer.get("output_relative_error") for layer in json.loads(report.read_text())["layers"]]
    return float(np.sqrt(sum(e * e for e in errors))) if errors and None not in errors else None


def run_artifact(args, lib: Path, inputs: dict[str, np.ndarray], work: Path) -> dict[str, np.ndarray]:
    """One run of the artifact through compress-run; its outputs by name. Raises RuntimeError on failure."""
    in_dir, out_dir = work / "inputs", work / "outputs"
    shutil.rmtree(work, ignore_errors=True)
    in_dir.mkdir(parents=True)
    cmd = [str(args.compress_run), str(lib), "--output-dir", str(out_dir), "--num-threads", str(args.threads)]
    for name, value in inputs.items():
        np.save(in_dir / tensor_file(name), value)
        cmd += ["--input", f"{name}={in_dir / tensor_file(name)}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        raise RuntimeError("compress-run failed: " + last_line(proc.stderr + proc.stdout))
    return {p.stem: np.load(p) for p in out_dir.glob("*.npy")}


def megabytes(path: Path) -> float | None:
    """The size of a file in MB (10^6 bytes), None when it is absent."""
    return path.stat().st_size / 1e6 if path.is_file() else None


def relative_error(got: np.ndarray, ref: np.ndarray) -> float:
    """||got - ref|| / ||ref|| in float64."""
    if got.shape != ref.shape:
        raise RuntimeError(f"output shape {list(got.shape)}, reference {list(ref.shape)}")
    r = ref.astype(np.float64)
    return float(np.linalg.norm(got.astype(np.float64) - r) / max(np.linalg.norm(r), 1e-30))


def ort_outputs(model: Path, inputs: dict[str, np.ndarray], threads: int) -> dict[str, np.ndarray]:
    """The outputs of onnxruntime (CPU, default graph optimisations) on one input set, by name."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, inputs)))


# ---------------------------------------------------------------------------------------------------------------
# Part 1: accuracy on MiniLM.

@dataclass
class AccuracyRow:
    label: str
    scheme: str
    ours: bool
    bits_per_weight: float | None = None
    file_mb: float | None = None   # ours: the artifact's <name>.weights; onnxruntime: the quantized .onnx
    errors: dict[str, float] = field(default_factory=dict)   # output -> mean relative error over evaluation sets
    layer_error: float | None = None   # ours: sqrt(sum over layers of output_relative_error^2) from the report
    error: str = ""


def write_sets(folder: Path, sets: list[dict[str, np.ndarray]]) -> None:
    """Writes input sets as --calibration reads them: folder/setNN/NAME.npy."""
    shutil.rmtree(folder, ignore_errors=True)
    for i, inputs in enumerate(sets):
        (folder / f"set{i:02d}").mkdir(parents=True)
        for name, value in inputs.items():
            np.save(folder / f"set{i:02d}" / tensor_file(name), value)


WEIGHT_NOISE = [0.001, 0.003, 0.008]


def noisy_model(model: Path, out: Path, noise: float, seed: int) -> Path:
    """`model` with Gaussian noise of norm noise * ||W|| added to every 2-D MatMul weight (cached)."""
    if out.is_file() and out.stat().st_mtime >= model.stat().st_mtime:
        return out
    m = onnx.load(model)
    weights = {n.input[1] for n in m.graph.node if n.op_type == "MatMul"}
    rng = np.random.default_rng([seed, 4])
    for init in m.graph.initializer:
        if init.name in weights and len(init.dims) == 2:
            w = numpy_helper.to_array(init).astype(np.float64)
            d = rng.standard_normal(w.shape)
            w += d * (noise * np.linalg.norm(w) / np.linalg.norm(d))
            init.CopyFrom(numpy_helper.from_array(w.astype(np.float32), init.name))
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, out.with_name(out.name + ".tmp"))
    out.with_name(out.name + ".tmp").replace(out)
    return out


def accuracy(args, work: Path) -> tuple[list[AccuracyRow], dict]:
    """Output error of each quantizer on MiniLM's evaluation sets against onnxruntime on the float model."""
    model = ensure_model(MODELS["minilm"], args.cache, False)
    calib = [minilm_inputs(np.random.default_rng([args.seed, 0, i]), 1, MINILM_SEQ) for i in range(args.calib_sets)]
    evals = [minilm_inputs(np.random.default_rng([args.seed, 1, i]), 1, MINILM_SEQ) for i in range(args.eval_sets)]
    calib_dir = work / f"minilm-calibration-seed{args.seed}"
    write_sets(calib_dir, calib)
    refs = [ort_outputs(model, inputs, args.threads) for inputs in evals]
    shapes = {name: value.shape for name, value in evals[0].items()}

    rows: list[AccuracyRow] = []

    def evaluate(row: AccuracyRow, outputs_of) -> None:
        """Mean relative error of each output over the evaluation sets; outputs_of(inputs) gives the outputs."""
        sums: dict[str, float] = {}
        try:
            for inputs, ref in zip(evals, refs):
                outputs = outputs_of(inputs)
                for name, expected in ref.items():
                    if name not in outputs:
                        raise RuntimeError(f"output '{name}' was not written")
                    sums[name] = sums.get(name, 0.0) + relative_error(outputs[name], expected)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            row.error = str(e).replace(str(args.cache), "$COMPRESS_CACHE")
            return
        row.errors = {name: s / len(evals) for name, s in sums.items()}
        log(f"{row.label} ({row.scheme}): " + ", ".join(f"{n} {v:.4f}" for n, v in row.errors.items()))

    # (bits, group, symmetric, method, activations, other pass options)
    ours = [
        ("ours fp32", "no quantization", None),
        ("ours int8 RTN", "per output channel, symmetric", (8, 0, True, "rtn", "float", "")),
        ("ours int8 RTN", "per output channel, symmetric; int8 activations", (8, 0, True, "rtn", "int8", "")),
        ("ours int8 GPTQ", "per output channel, symmetric", (8, 0, True, "gptq", "float", "")),
        ("ours int8 GPTQ", "per output channel, symmetric, act-order", (8, 0, True, "gptq", "float", "act-order=true")),
        ("ours int4 RTN", "g128 symmetric", (4, GROUP, True, "rtn", "float", "")),
        ("ours int4 RTN", "g128 asymmetric", (4, GROUP, False, "rtn", "float", "")),
        ("ours int4 GPTQ", "g128 symmetric", (4, GROUP, True, "gptq", "float", "")),
        ("ours int4 GPTQ", "g128 asymmetric", (4, GROUP, False, "gptq", "float", "")),
        ("ours int4 GPTQ", "g128 asymmetric; int8 activations", (4, GROUP, False, "gptq", "int8", "")),
    ]
    for label, scheme, q in ours:
        tag = "fp32" if q is None else f"w{q[0]}g{q[1]}-{'sym' if q[2] else 'asym'}-{q[3]}-a{q[4]}"
        tag += "-" + q[5].replace("=", "-") if q is not None and q[5] else ""
        out = args.cache / "artifacts" / "quantize" / f"minilm-{tag}"
        report = out.with_name(out.name + ".report.json")
        passes = "" if q is None else quantize_passes(*q[:4], report, q[4], q[5])
        row = AccuracyRow(label, scheme, True)
        # Every quantized variant gets the calibration data: GPTQ needs it, and with it the report gives each
        # layer's output error on that data (RTN's weights do not depend on it).
        lib, err = ours_compiled(args, model, "minilm", out, shapes, passes, calib_dir if q is not None else None)
        if lib is None:
            row.error = err
        else:
            row.bits_per_weight = 32.0 if q is None else report_bits_per_weight(report)
            row.layer_error = None if q is None else report_layer_error(report)
            row.file_mb = megabytes(out / "minilm.weights")
            evaluate(row, lambda inputs: run_artifact(args, lib, inputs, work / "minilm-run"))
        rows.append(row)

    theirs = [
        ("ORT MatMulNBits default", "g128 symmetric", OrtQuant("default")),
        ("ORT MatMulNBits default", "g128 asymmetric", OrtQuant("default", asymmetric=True)),
        ("ORT MatMulNBits RTN", "g128 symmetric", OrtQuant("rtn")),
        ("ORT MatMulNBits RTN", "g128 asymmetric", OrtQuant("rtn", asymmetric=True)),
        ("ORT MatMulNBits GPTQ", "g128 symmetric", OrtQuant("gptq")),
        ("ORT MatMulNBits GPTQ", "g128 asymmetric", OrtQuant("gptq", asymmetric=True)),
        ("ORT quantize_dynamic int8", "per tensor; activations and embeddings int8 too", OrtQuant("dynamic-int8")),
    ]
    # How far the model moves when its weights move by a known amount: each MatMul weight W plus Gaussian noise
    # of norm NOISE * ||W|| (int8 per-channel rounding of a Gaussian-like weight has a relative error of ~0.8%).
    for noise in WEIGHT_NOISE:
        row = AccuracyRow("reference: fp32 + weight noise", f"Gaussian, ||dW|| / ||W|| = {noise:.1%}", False)
        path = noisy_model(model, args.cache / "bench" / "quantize" / f"minilm-noise{noise:g}.onnx", noise,
                           args.seed)
        row.bits_per_weight, row.file_mb = 32.0, megabytes(path)
        evaluate(row, lambda inputs: ort_outputs(path, inputs, args.threads))
        rows.append(row)

    for label, scheme, q in theirs:
        row = AccuracyRow(label, scheme, False)
        path, err = ort_quantized(args, q, model, args.cache / "ort-quantized" / f"minilm-{q.tag()}.onnx",
                                  calib_dir if q.algo == "gptq" else None)
        if path is None:
            row.error = err
        else:
            row.bits_per_weight = ort_bits_per_weight(path)
            row.file_mb = megabytes(path)
            evaluate(row, lambda inputs: ort_outputs(path, inputs, args.threads))
        rows.append(row)
    return rows, {"calib": len(calib), "eval": len(evals)}


def accuracy_table(rows: list[AccuracyRow]) -> str:
    names = list(dict.fromkeys(n for r in rows for n in r.errors)) or ["last_hidden_state", "sentence_embedding"]
    lines = ["| quantizer | scheme | bits / weight | weights file MB | "
             + " | ".join(f"{n} rel. error" for n in names) + " | layers' errors, root sum of squares | notes |",
             "| --- | --- | ---: | ---: | " + " | ".join("---:" for _ in names) + " | ---: | --- |"]
    for r in rows:
        bpw = f"{r.bits_per_weight:.2f}" if r.bits_per_weight is not None else "-"
        size = f"{r.file_mb:.1f}" if r.file_mb is not None else "-"
        errs = [f"{r.errors[n]:.4f}" if n in r.errors else "-" for n in names]
        layers = f"{r.layer_error:.4f}" if r.layer_error is not None else "-"
        lines.append(f"| {r.label} | {r.scheme} | {bpw} | {size} | " + " | ".join(errs)
                     + f" | {layers} | {cell(('**not run**: ' + r.error) if r.error else '-')} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Part 2: speed of one 4096 x 11008 linear layer and of a Llama-7B-width decoder block.

def build_linear(path: Path, seed: int) -> Path:
    """MatMul of x [batch, 4096] by a seeded [4096, 11008] float32 initializer (standard normal / sqrt(4096))."""
    if path.is_file():
        return path
    w = (np.random.default_rng([seed, 2]).standard_normal((LINEAR_K, LINEAR_N), dtype=np.float32)
         / np.float32(np.sqrt(LINEAR_K)))
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="linear")], "linear",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", LINEAR_K])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", LINEAR_N])],
                              [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="compressir-bench")
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path.with_name(path.name + ".tmp"))
    path.with_name(path.name + ".tmp").replace(path)
    os.sync()
    return path


@dataclass(frozen=True)
class SpeedLayer:
    """What the speed part times: a model with one float input and one output, at each batch of --batches."""
    key: str                                  # its --speed-models name
    name: str                                 # compress-compile --name, and the prefix of its cached artifacts
    title: str                                # the heading of its table
    about: str                                # what the paragraph under the heading says about it first
    input: str
    output: str
    shape: Callable[[int], tuple[int, ...]]   # batch -> the input's shape
    model: Callable[..., Path]                # args -> the .onnx, built into the cache if absent
    macs: Callable[[int], int]                # batch -> multiply-adds of the products the quantizers rewrite


SPEED_LAYERS = [
    SpeedLayer("linear", "linear", f"one {LINEAR_K} x {LINEAR_N} linear layer (MatMul by a float32 initializer)",
               "Batch = rows of `x`.", "x", "y", lambda batch: (batch, LINEAR_K),
               lambda args: build_linear(args.cache / "linear" / f"linear_{LINEAR_K}x{LINEAR_N}_seed{args.seed}.onnx",
                                         args.seed),
               lambda batch: batch * LINEAR_K * LINEAR_N),
    SpeedLayer("llama-block", "llama_block", "Llama-7B-width decoder block",
               "`python/compress_models/llama_block.py`: hidden 4096, 32 heads, SwiGLU 11008, RMSNorm, rotary, "
               "causal attention without KV cache. Batch = tokens of one sequence: `hidden [1, batch, 4096]`. The "
               "quantizers rewrite its seven projections (4096 x 4096 q, k, v, o; 4096 x 11008 gate, up; "
               "11008 x 4096 down).", "hidden", "output", lambda batch: (1, batch, LLAMA_HIDDEN),
               lambda args: ensure_model(MODELS["llama_block"], args.cache, False),
               lambda batch: batch * (4 * LLAMA_HIDDEN * LLAMA_HIDDEN + 3 * LLAMA_HIDDEN * LLAMA_FFN)),
]


@dataclass
class SpeedRow:
    batch: int
    label: str
    median_ms: float | None = None
    min_ms: float | None = None
    rel_error: float | None = None   # against onnxruntime fp32 at the same batch
    file_mb: float | None = None     # ours: the artifact's <name>.weights; onnxruntime: the .onnx and its data
    notes: list[str] = field(default_factory=list)

    def ours_failed(self) -> bool:
        """Whether this is one of our variants and it has no time, or it is our fp32 and its output is wrong."""
        wrong = self.label == "ours fp32" and self.rel_error is not None and self.rel_error >= THRESHOLD
        return self.label.startswith("ours") and (self.median_ms is None or wrong)


SPEED_ORT = [("ORT fp32", None), ("ORT int8 dynamic", OrtQuant("dynamic-int8")),
             ("ORT MatMulNBits int4 g128", OrtQuant("default")),
             ("ORT MatMulNBits int4 g128, accuracy_level 4", OrtQuant("default", accuracy_level=4))]
SPEED_OURS = [("ours fp32", None),
              ("ours int8 per-channel, float activations", (8, 0, True, "rtn", "float")),
              ("ours int8 per-channel, int8 activations (w8a8)", (8, 0, True, "rtn", "int8")),
              ("ours int4 g128, float activations", (4, GROUP, True, "rtn", "float")),
              ("ours int4 g128, int8 activations", (4, GROUP, True, "rtn", "int8"))]


VNNI_BOUND = "bound: integer products at the VNNI peak"


def vnni_peak(args) -> tuple[float | None, str]:
    """The machine's vpdpbusd rate with args.threads threads (bench/vnni_peak.c, built into the cache): the best of
    three runs, in instructions per second. Returns (rate, "") or (None, why there is none)."""
    source = Path(__file__).resolve().parent / "vnni_peak.c"
    exe = args.cache / "bench" / "vnni_peak"
    if not exe.is_file() or exe.stat().st_mtime < source.stat().st_mtime:
        compiler = shutil.which("cc")
        if compiler is None:
            return None, "no C compiler (cc) to build bench/vnni_peak.c"
        proc = subprocess.run([compiler, "-O2", "-pthread", "-o", str(exe), str(source)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            return None, "bench/vnni_peak.c did not build: " + last_line(proc.stderr)
    if args.wait_idle > 0:
        wait_until_idle(args.wait_idle)
    rates = []
    for _ in range(3):
        proc = subprocess.run([str(exe), str(args.threads)], capture_output=True, text=True)
        if proc.returncode != 0:
            return None, last_line(proc.stderr)
        rates.append(json.loads(proc.stdout)["vpdpbusd_per_second"])
    return max(rates), ""


def vnni_bound_row(args, layer: SpeedLayer, batch: int) -> SpeedRow:
    """The time the quantized products of `layer` at `batch` take at the VNNI peak measured now: each vpdpbusd does
    64 multiply-adds, so no int8 kernel on this machine, ours or onnxruntime's, can take less."""
    row = SpeedRow(batch, VNNI_BOUND)
    rate, err = vnni_peak(args)
    if rate is None:
        row.notes.append("not measured: " + err)
        return row
    row.median_ms = row.min_ms = layer.macs(batch) / 64 / rate * 1e3
    row.notes.append(f"{layer.macs(batch) / 1e9:.2f}e9 multiply-adds / (64 x {rate:.3g} vpdpbusd/s measured "
                     f"with {args.threads} threads just before this batch)")
    return row


def speed(args, work: Path, layer: SpeedLayer) -> tuple[list[SpeedRow], float | None]:
    """Latency of each variant of `layer` at each batch; the rows and our int4 g128 bits per weight."""
    model = layer.model(args)
    # Everything is quantized and compiled first, so that no building overlaps a timed run.
    ort_models: dict[str, tuple[Path | None, str]] = {}
    for label, q in SPEED_ORT:
        ort_models[label] = (model, "") if q is None else ort_quantized(
            args, q, model, args.cache / "ort-quantized" / f"{model.stem}-{q.tag()}.onnx")
    ours_libs: dict[tuple[str, int], tuple[Path | None, str]] = {}
    int4_report = None
    for batch in args.batches:
        for label, q in SPEED_OURS:
            tag = "fp32" if q is None else f"w{q[0]}g{q[1]}-a{q[4]}"
            out = args.cache / "artifacts" / "quantize" / f"{layer.name}-{tag}-b{batch}"
            report = out.with_name(out.name + ".report.json")
            ours_libs[(label, batch)] = ours_compiled(args, model, layer.name, out, {layer.input: layer.shape(batch)},
                                                      "" if q is None else quantize_passes(*q[:4], report, q[4]))
            if q is not None and q[0] == 4 and ours_libs[(label, batch)][0] is not None:
                int4_report = report

    def timed(row: SpeedRow, run):
        """Calls run() (a side's warm-up and timed runs, as measured() takes it), puts its median and minimum into
        row and returns its outputs: onnxruntime's by name, or the folder compress-run wrote them into."""
        (result, row.median_ms, row.min_ms, _), cores = measured(row.label, args, run)
        if cores >= 0.1:
            row.notes.append(f"other processes used {cores:.1f} cores meanwhile")
        return result

    rows = []
    for batch in args.batches:
        inputs = {layer.input: np.random.default_rng([args.seed, 3, batch]).standard_normal(layer.shape(batch),
                                                                                            dtype=np.float32)}
        log(f"== {layer.title}, batch {batch}")
        rows.append(vnni_bound_row(args, layer, batch))
        ref = None
        for label, q in SPEED_ORT:
            row = SpeedRow(batch, label)
            path, err = ort_models[label]
            if path is None:
                row.notes.append("not run: " + err)
            else:
                row.file_mb = sum(megabytes(f) or 0.0 for f in model_files(path))
                outputs = timed(row, lambda: run_onnxruntime(path, inputs, args.threads, args.runs))
                if q is None:
                    ref = outputs[layer.output]
                if ref is not None:
                    row.rel_error = relative_error(outputs[layer.output], ref)
            rows.append(row)
        for label, q in SPEED_OURS:
            row = SpeedRow(batch, label)
            lib, err = ours_libs[(label, batch)]
            if lib is None:
                row.notes.append("not run: " + err)
                rows.append(row)
                continue
            row.file_mb = megabytes(lib.parent / f"{layer.name}.weights")
            try:
                out_dir = timed(row, lambda: run_ours(args.compress_run, lib, inputs, work / f"{layer.name}-run",
                                                      args.threads, args.runs, args.timeout))
                if ref is not None:
                    row.rel_error = relative_error(np.load(out_dir / tensor_file(layer.output)), ref)
            except RuntimeError as e:
                row.notes.append(str(e).replace(str(args.cache), "$COMPRESS_CACHE"))
            if q is None and row.rel_error is not None and row.rel_error >= THRESHOLD:
                row.notes.append(f"wrong result: differs from ORT fp32 by {THRESHOLD:g} or more")
            rows.append(row)
    return rows, report_bits_per_weight(int4_report) if int4_report else None


def speed_table(rows: list[SpeedRow]) -> str:
    refs = ["ORT fp32", "ORT int8 dynamic", "ORT MatMulNBits int4 g128"]
    lines = ["| batch | implementation | median ms | min ms | / ORT fp32 | / ORT int8 dynamic | / ORT MatMulNBits "
             "| rel. error vs ORT fp32 | weights file MB | notes |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        base = {x.label: x.median_ms for x in rows if x.batch == r.batch}
        ratios = [f"{r.median_ms / base[k]:.2f}" if r.median_ms and base.get(k) else "-" for k in refs]
        med = f"{r.median_ms:.2f}" if r.median_ms is not None else "-"
        mn = f"{r.min_ms:.2f}" if r.min_ms is not None else "-"
        err = f"{r.rel_error:.1e}" if r.rel_error is not None else "-"
        size = f"{r.file_mb:.1f}" if r.file_mb is not None else "-"
        lines.append(f"| {r.batch} | {r.label} | {med} | {mn} | " + " | ".join(ratios)
                     + f" | {err} | {size} | {cell('; '.join(r.notes)) or '-'} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------

def write_section(path: Path, body: list[str]) -> None:
    """Replaces the section of `path` between SECTION_BEGIN and SECTION_END, appending one if absent."""
    section = "\n".join([SECTION_BEGIN] + body + [SECTION_END])
    text = path.read_text() if path.is_file() else ""
    if SECTION_BEGIN in text and SECTION_END in text:
        head, rest = text.split(SECTION_BEGIN, 1)
        text = head + section + rest.split(SECTION_END, 1)[1]
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + section + "\n"
    path.write_text(text)


def quantizer_versions(python: Path) -> str:
    """Versions of the packages in the quantizer interpreter, as one line."""
    code = ("import importlib.metadata as m\n"
            "print(', '.join(f'{p} {m.version(p)}' for p in ('onnxruntime', 'onnx', 'onnx_ir', 'torch', 'numpy')"
            " if __import__('importlib.util').util.find_spec(p)))")
    if not os.access(python, os.X_OK):
        return "no such interpreter"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else "unavailable"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "ort-quantize":
        return ort_quantize(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2, help="threads for both runtimes (default 2)")
    ap.add_argument("--runs", type=int, default=21, help="timed runs per variant, after one warm-up run")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 128],
                    help="batches of the speed part: rows of the linear layer, tokens of the decoder block")
    ap.add_argument("--calib-sets", type=int, default=8, help="MiniLM calibration sets (1 x 128 tokens each)")
    ap.add_argument("--eval-sets", type=int, default=4, help="MiniLM evaluation sets (1 x 128 tokens each)")
    ap.add_argument("--parts", nargs="+", choices=["accuracy", "speed"], default=["accuracy", "speed"])
    ap.add_argument("--speed-models", nargs="+", choices=[x.key for x in SPEED_LAYERS],
                    default=[x.key for x in SPEED_LAYERS], help="what the speed part times (default all: %(choices)s)")
    ap.add_argument("--seed", type=int, default=0, help="seed of weights and inputs")
    ap.add_argument("--markdown", type=Path, metavar="FILE", help="write the results into a section of FILE")
    ap.add_argument("--quantizer-python", default=DEFAULT_QUANTIZER_PYTHON,
                    help="interpreter with onnxruntime, onnx_ir and torch that runs onnxruntime's quantizers "
                         f"(default {DEFAULT_QUANTIZER_PYTHON})")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="before each timed variant, wait up to SECONDS for other processes to leave the CPU")
    ap.add_argument("--retries", type=int, default=2,
                    help="measure a variant again, up to this many times, when other processes used 0.1 core or "
                         "more during its runs (default 2)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds one compress-run call may take")
    ap.add_argument("--bin-dir", type=Path, default=ROOT / "build" / "bin",
                    help="where compress-compile and compress-run are (default build/bin)")
    args = ap.parse_args(argv)
    if args.threads < 1 or args.runs < 1 or args.retries < 0 or args.calib_sets < 1 or args.eval_sets < 1:
        ap.error("--threads, --runs, --calib-sets and --eval-sets must be at least 1, --retries at least 0")
    args.compress_compile = (args.bin_dir / "compress-compile").resolve()
    args.compress_run = (args.bin_dir / "compress-run").resolve()
    for tool in (args.compress_compile, args.compress_run):
        if not os.access(tool, os.X_OK):
            ap.error(f"{tool} is not an executable")
    args.quantizer_python_shown = args.quantizer_python
    args.quantizer_python = Path(os.path.expanduser(args.quantizer_python))
    args.cache = Path(os.environ.get("COMPRESS_CACHE") or Path.home() / ".cache" / "compressir").resolve()
    work = args.cache / "bench" / "quantize"
    work.mkdir(parents=True, exist_ok=True)
    exe = Path(sys.executable)
    exe_shown = os.path.relpath(exe, ROOT) if exe.is_relative_to(ROOT) else "python3"
    command = shlex.join([exe_shown, os.path.relpath(Path(__file__).resolve(), ROOT)] + list(argv))
    machine = machine_description()

    acc_rows, counts = accuracy(args, work) if "accuracy" in args.parts else ([], {})
    speeds = [(x, *speed(args, work, x)) for x in SPEED_LAYERS
              if "speed" in args.parts and x.key in args.speed_models]

    body = [f"## Results ({time.strftime('%Y-%m-%d')})", ""] + [f"- {line}" for line in machine]
    body += [f"- onnxruntime's quantizers ran in `{args.quantizer_python_shown}`: "
             f"{quantizer_versions(args.quantizer_python)}",
             f"- Threads: {args.threads}; seed {args.seed}",
             "- Command (from the repository root):", "", "  ```sh", f"  {command}", "  ```", ""]
    if acc_rows:
        table = accuracy_table(acc_rows)
        print(table + "\n")
        body += [f"### Accuracy: all-MiniLM-L6-v2, {counts['calib']} calibration and {counts['eval']} evaluation "
                 f"sets of 1 x {MINILM_SEQ} tokens", "",
                 "Relative error ||q - fp32|| / ||fp32|| of each output against onnxruntime on the float model, "
                 "mean over the evaluation sets. Bits / weight over the 36 quantized MatMul weights (scales and "
                 "zero points included). Weights file: our artifact's `<name>.weights`, onnxruntime's .onnx file "
                 "(MB = 10^6 bytes). Layers' errors: sqrt(sum over the 36 layers of e^2), e being a layer's "
                 "relative output error on the calibration data in the compress-quantize report (its inputs taken "
                 "with the layers before it quantized): the model's error if every layer adds its own independent "
                 "error.", "", table, ""]
    for layer, rows, int4_bpw in speeds:
        table = speed_table(rows)
        print(f"### Speed: {layer.title}\n\n{table}\n")
        bpw = f"{int4_bpw:.2f}" if int4_bpw is not None else "unknown (no report)"
        body += [f"### Speed: {layer.title}", "",
                 f"{layer.about} Median and minimum of {args.runs} timed runs after one warm-up run; ratios are this "
                 "row's median over the named onnxruntime row's median at the same batch. Our int4 g128 weight takes "
                 f"{bpw} bits per weight (compress-quantize report: bytes_after * 8 / weights). Weights file: our "
                 "artifact's `<name>.weights`, onnxruntime's .onnx file with its external data (MB = 10^6 bytes). "
                 f"The `{VNNI_BOUND}` row is no implementation: the time its quantized products take at the "
                 "machine's VNNI peak (64 multiply-adds per vpdpbusd, rate measured by bench/vnni_peak.c right "
                 "before the batch's runs), below which no int8 kernel can go.", "", table, ""]
    if args.markdown:
        write_section(args.markdown, body)
        log(f"wrote the results into {args.markdown}")
    # onnxruntime's quantizers failing is a result (the tables say why); our side failing is an error.
    failed = [r for r in acc_rows if r.ours and r.error]
    failed += [r for _, rows, _ in speeds for r in rows if r.ours_failed()]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
