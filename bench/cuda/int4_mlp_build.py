"""Builds, here, what bench/cuda/int4_mlp_bench.py times on the GPU machine: a
Llama-7B-width MLP without its gate, y = down(silu(up(x))) with up 4096 ->
11008 and down 11008 -> 4096 (seeded weights), quantized by compress-compile
to int4 in groups of 128 (RTN) and compiled for the CUDA target for any
number of rows, once per --gpu-precision; with inputs of 1, 16 and 128 rows
and the outputs the same compressed model gives on the CPU (compress-run),
the reference. The gate is left out so that the weights (48 MB) travel to the
GPU machine in one call.
Usage: int4_mlp_build.py OUT_DIR --lib DIR   (DIR: the lib folder
bench/cuda/gpu_check_build.sh makes, which int4_mlp_bench.py is given too)"""
import argparse
import filecmp
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_artifact import compile_for_gpu  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "build" / "bin"
HIDDEN, INTERMEDIATE = 4096, 11008
ROWS = [1, 16, 128]
PASSES = "compress-quantize{bits=4 group-size=128}"


def write_model(path: Path, rng: np.random.Generator) -> None:
    up = (rng.standard_normal((HIDDEN, INTERMEDIATE)) / np.sqrt(HIDDEN)).astype(np.float32)
    down = (rng.standard_normal((INTERMEDIATE, HIDDEN)) / np.sqrt(INTERMEDIATE)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "up"], ["h"], name="up_proj"),
         helper.make_node("Sigmoid", ["h"], ["s"], name="sigmoid"),
         helper.make_node("Mul", ["h", "s"], ["a"], name="silu"),
         helper.make_node("MatMul", ["a", "down"], ["y"], name="down_proj")],
        "llama_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", HIDDEN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", HIDDEN])],
        [numpy_helper.from_array(up, "up"), numpy_helper.from_array(down, "down")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--lib", type=Path, required=True, help="the folder of libcompress_rt.so")
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "llama_mlp.onnx"
        write_model(model, rng)
        weights = {precision: compile_for_gpu(model, out / precision / "libm.so", args.lib,
                                              [f"--gpu-precision={precision}", f"--passes={PASSES}"],
                                              Path(tmp) / precision)
                   for precision in ("f32", "f16")}
        # The precision changes which kernel a layer calls, not the weights.
        if not filecmp.cmp(weights["f32"], weights["f16"], shallow=False):
            sys.exit("the f32 and f16 artifacts' weights differ")
        weights["f32"].rename(out / "m.weights")
        for rows in ROWS:
            x = rng.standard_normal((rows, HIDDEN)).astype(np.float32)
            np.save(out / f"x_{rows}.npy", x)
            subprocess.run([str(BIN / "compress-run"), str(model), f"--passes={PASSES}",
                            f"--input=x={out / f'x_{rows}.npy'}", "--output-dir", f"{tmp}/ref{rows}"],
                           check=True)
            Path(f"{tmp}/ref{rows}/y.npy").rename(out / f"y_{rows}.npy")
    print(f"{out}: {(out / 'm.weights').stat().st_size / 1e6:.1f} MB of weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
