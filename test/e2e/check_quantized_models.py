"""Already-quantized models: a small MLP and MiniLM quantized by onnxruntime's own tools (quantize_dynamic,
quantize_static in QDQ format with a small calibration set, MatMulNBitsQuantizer at 4 and 8 bits), each run by
compress-run and by onnxruntime on the same inputs (compare_with_onnxruntime.py) within the tolerance below.

Tolerances (relative error of each output, ||ours - onnxruntime|| / ||onnxruntime||; docs/models.md has the
measured values):
- MatMulNBits: both sides dequantize the weights and multiply float activations: 1e-5.
- quantize_static QDQ, against onnxruntime at its 'basic' optimization level (the graph's own numerics): 1e-5.
  At level 'all' onnxruntime fuses QDQ groups into integer kernels that round differently (on MiniLM its own
  output moves by 0.65 between the two levels), so no tolerance against it would mean anything.
- quantize_dynamic (DynamicQuantizeLinear + MatMulInteger): the first quantized layer's codes, scale, zero
  point and int32 products must equal onnxruntime's exactly. The outputs: float rounding differences of 1e-6
  (a LayerNorm summed in another order) move an activation across a rounding boundary, and a per-tensor dynamic
  scale carries such a change to every later layer; onnxruntime's own output moves by 0.12 when MiniLM's
  LayerNorm biases are perturbed by 1e-6. MLP 1e-3, MiniLM 0.1."""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic,
                                      quantize_static)
from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

import compare_with_onnxruntime as compare

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ("dynamic", "qdq", "nbits4", "nbits8")
# (onnxruntime optimization level, tolerance) per model and variant.
CHECKS = {"dynamic": ("all", {"mlp": 1e-3, "minilm": 0.1}), "qdq": ("basic", {"mlp": 1e-5, "minilm": 1e-5}),
          "nbits4": ("all", {"mlp": 1e-5, "minilm": 1e-5}), "nbits8": ("all", {"mlp": 1e-5, "minilm": 1e-5})}
MLP_INPUT = "x=float32:8x64"



def mlp(path: Path) -> None:
    """x [batch, 64] -> MatMul + Add -> Relu -> Gemm (transB) -> Relu -> MatMul: the layers the quantizers rewrite."""
    rng = np.random.default_rng(1)
    w = lambda *s: numpy_helper.from_array((rng.standard_normal(s) / np.sqrt(s[0])).astype(np.float32))  # noqa: E731
    inits = [w(64, 128), w(128), w(96, 128), w(96), w(96, 32)]
    for t, name in zip(inits, ["w1", "b1", "w2", "b2", "w3"]):
        t.name = name
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h1"]), helper.make_node("Add", ["h1", "b1"], ["h2"]),
             helper.make_node("Relu", ["h2"], ["h3"]),
             helper.make_node("Gemm", ["h3", "w2", "b2"], ["h4"], transB=1), helper.make_node("Relu", ["h4"], ["h5"]),
             helper.make_node("MatMul", ["h5", "w3"], ["y"])]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 32])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)


class Reader(CalibrationDataReader):
    """A few seeded input sets, as compare_with_onnxruntime makes them (other seeds than the compared run)."""

    def __init__(self, model: onnx.ModelProto, key: str | None, specs: list[str], sets: int = 4):
        self.sets = iter([compare.make_inputs(model, key, specs, seed) for seed in range(100, 100 + sets)])

    def get_next(self):
        return next(self.sets, None)


def quantize(src: Path, dst: Path, variant: str, key: str | None, specs: list[str]) -> None:
    """Writes `src` quantized by onnxruntime's `variant` tool to `dst`."""
    if variant == "dynamic":
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
    elif variant == "qdq":
        model = onnx.load(str(src))
        quantize_static(src, dst, Reader(model, key, specs), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    else:
        bits = int(variant.removeprefix("nbits"))
        config = DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=bits == 8, bits=bits)
        quantizer = MatMulNBitsQuantizer(onnx.load(str(src)), algo_config=config)
        quantizer.process()
        quantizer.model.save_model_to_file(str(dst), False)


def first_layer_probe(src: Path, dst: Path) -> None:
    """`src` with the first DynamicQuantizeLinear's outputs and the first MatMulInteger's int32 product as its
    outputs: integers that must equal onnxruntime's exactly."""
    model = onnx.load(str(src))
    dql = next(n for n in model.graph.node if n.op_type == "DynamicQuantizeLinear")
    mmi = next(n for n in model.graph.node if n.op_type == "MatMulInteger" and n.input[0] == dql.output[0])
    model.graph.ClearField("output")
    for name in [*dql.output, mmi.output[0]]:
        model.graph.output.append(helper.make_empty_tensor_value_info(name))
    # Their types and shapes, from onnxruntime's shape inference.
    model = onnx.shape_inference.infer_shapes(model)
    known = {v.name: v for v in model.graph.value_info}
    outputs = [known[o.name] for o in model.graph.output]
    model.graph.ClearField("output")
    model.graph.output.extend(outputs)
    onnx.save(model, dst)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--compress-run", type=Path, default=ROOT / "build" / "bin" / "compress-run")
    ap.add_argument("--cache", type=Path, help="where the quantized models go (default: $COMPRESS_CACHE/quantized)")
    ap.add_argument("--minilm", type=Path, help="MiniLM's ONNX file (default: $COMPRESS_CACHE/minilm/minilm.onnx)")
    ap.add_argument("--skip-minilm", action="store_true")
    args, _ = ap.parse_known_args(argv)
    cache = Path(os.environ.get("COMPRESS_CACHE", Path.home() / ".cache" / "compressir"))
    out = args.cache or cache / "quantized"
    out.mkdir(parents=True, exist_ok=True)
    bases = [("mlp", out / "mlp.onnx", None, [MLP_INPUT])]
    if not (out / "mlp.onnx").is_file():
        mlp(out / "mlp.onnx")
    if not args.skip_minilm:
        bases.append(("minilm", args.minilm or cache / "minilm" / "minilm.onnx", "minilm", []))
    failed = []
    for name, src, key, specs in bases:
        inputs = ["--model-key", key] if key else [a for s in specs for a in ("--input", s)]

        def check(model: Path, level: str, tol: float) -> None:
            start = time.time()
            cmd = [str(model), "--compress-run", str(args.compress_run), "--threshold", str(tol),
                   "--ort-optimization", level, "--work-dir", str(ROOT / "build" / "e2e" / f"quantized_{model.stem}")]
            if compare.main(cmd + inputs) != 0:
                failed.append(model.stem)
            print(f"  ({model.stem}: {time.time() - start:.1f}s)", flush=True)

        for variant in VARIANTS:
            dst = out / f"{name}_{variant}.onnx"
            if not dst.is_file():
                quantize(src, dst, variant, key, specs)
            level, tol = CHECKS[variant][0], CHECKS[variant][1][name]
            check(dst, level, tol)
            if variant == "dynamic":
                probe = out / f"{name}_dynamic_probe.onnx"
                first_layer_probe(dst, probe)
                check(probe, "all", 0.0)
    print(f"quantized models: {'FAIL ' + ', '.join(failed) if failed else 'all match onnxruntime'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
