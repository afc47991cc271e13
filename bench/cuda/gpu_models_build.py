"""Adds the end-to-end suite's real models to a GPU check folder made by
bench/cuda/gpu_check_build.sh: each compiled here by compress-compile
--target=cuda for the inputs test/e2e/compare_with_onnxruntime.py makes, with
those inputs and onnxruntime's outputs (the reference) as .npy, judged by the
suite's relative-error threshold. bench/cuda/gpu_check_run.py runs them.
Usage: gpu_models_build.py OUT_DIR KEY[@dynamic]=PATH.onnx ... (KEY as in
compare_with_onnxruntime.py's --model-key; @dynamic compiles for the model's
symbolic shapes instead of the inputs' shapes)
With --passes the models are compressed first (as compress-compile --passes
does, with --calibration's sets where given) and the reference is the same
compressed model run on the CPU by compress-run; --gpu-precision picks the CUDA target's precision, --tag names
the cases apart, --threshold sets their bound, --input makes the inputs of a
model without a key (NAME=DTYPE:D0xD1..., as compare_with_onnxruntime.py)."""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test" / "e2e"))
from compare_with_onnxruntime import make_inputs  # noqa: E402
from gpu_artifact import compile_for_gpu  # noqa: E402

THRESHOLD = 1e-4  # compare_with_onnxruntime.py's default


def build(out: Path, key: str, model_path: Path, dynamic: bool, args: argparse.Namespace) -> None:
    model = onnx.load(str(model_path), load_external_data=False)
    inputs = make_inputs(model, key, args.specs, seed=0)
    case = out / "cases" / f"model_{key}{'-dynamic' if dynamic else ''}{args.tag}"
    case.mkdir(parents=True, exist_ok=True)
    compression = [f"--passes={args.passes}"] if args.passes else []
    if args.passes and args.calibration:
        compression.append(f"--calibration={args.calibration.resolve()}")
    with tempfile.TemporaryDirectory() as tmp:
        flags = [f"--gpu-precision={args.gpu_precision}", *compression]
        for name, value in inputs.items():
            # Dynamic: compiled for the model's symbolic shapes, as AOT users do; a scalar has no shape to fix.
            if not dynamic and value.ndim:
                flags.append(f"--input-shape={name}=" + "x".join(map(str, value.shape)))
        compile_for_gpu(model_path, case / "libm.so", out / "lib", flags, Path(tmp)).rename(case / "m.weights")
    for i, value in enumerate(inputs.values()):
        np.save(case / f"input_{i}.npy", value)
    if args.passes:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [str(ROOT / "build" / "bin" / "compress-run"), str(model_path), *compression,
                   "--output-dir", f"{tmp}/out"]
            for name, value in inputs.items():
                np.save(f"{tmp}/{name}.npy", value)
                cmd.append(f"--input={name}={tmp}/{name}.npy")
            subprocess.run(cmd, check=True)
            for i, output in enumerate(model.graph.output):
                np.save(case / f"output_{i}.npy", np.load(f"{tmp}/out/{output.name}.npy"))
    else:
        session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
        for i, value in enumerate(session.run(None, inputs)):
            np.save(case / f"output_{i}.npy", value)
    (case / "threshold.txt").write_text(f"{args.threshold}\n")
    print(f"{key}: {case} ({(case / 'm.weights').stat().st_size / 1e6:.1f} MB of weights)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("models", nargs="+", metavar="KEY[@dynamic]=PATH")
    ap.add_argument("--passes", default="", help="compression passes (compress-compile --passes)")
    ap.add_argument("--calibration", type=Path, help="calibration sets for the passes (compress-compile --calibration)")
    ap.add_argument("--gpu-precision", default="f32", choices=["f32", "f16"])
    ap.add_argument("--tag", default="", help="suffix of the cases' names")
    ap.add_argument("--threshold", type=float, default=THRESHOLD, help="largest relative error that passes")
    ap.add_argument("--input", dest="specs", action="append", default=[], metavar="NAME=DTYPE:D0xD1...")
    args = ap.parse_args()
    for spec in args.models:
        key, _, path = spec.partition("=")
        key, _, mode = key.partition("@")
        build(args.out.resolve(), key, Path(path), mode == "dynamic", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
