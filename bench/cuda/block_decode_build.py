"""Builds, here, what bench/cuda/block_decode_bench.py times on the GPU machine: the Llama-7B-width decoder block
(python/compress_models/llama_block.py --kv-cache: hidden 4096, 32 heads, SwiGLU 11008) decoding one token with a
512-token key/value cache, its seven projections quantized by compress-compile to int4 in groups of 128 (RTN) and
compiled for the CUDA target at fixed shapes (--gpu-precision=f16); and the CPU reference: the same compressed
model run by compress-run on the inputs block_decode_inputs() draws (drawn again there from the same seed, so only
the output and the new cache rows travel). The weights file (about 110 MB) is split into parts of at most 60 MB,
which reach the GPU machine over two calls (64 MiB each).
Usage: block_decode_build.py OUT_DIR --lib DIR   (DIR: the lib folder bench/cuda/gpu_check_build.sh makes)"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from block_decode_inputs import CACHE, PASSES, SHAPES, block_decode_inputs  # noqa: E402
from gpu_artifact import compile_for_gpu  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
from compress_models import llama_block  # noqa: E402
from compress_models.minilm import save  # noqa: E402

PART_BYTES = 60 * 10**6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--lib", type=Path, required=True, help="the folder of libcompress_rt.so")
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "block.onnx"
        save(llama_block.build_model(kv_cache=True), model, external_data=True)
        shapes = [f"--input-shape={name}={'x'.join(map(str, shape))}" for name, shape in SHAPES.items()]
        weights = compile_for_gpu(model, out / "f16" / "libm.so", args.lib,
                                  ["--gpu-precision=f16", f"--passes={PASSES}", *shapes], Path(tmp) / "f16")
        data = weights.read_bytes()
        for i in range(0, len(data), PART_BYTES):
            (out / f"m.weights.part{i // PART_BYTES}").write_bytes(data[i:i + PART_BYTES])
        inputs = block_decode_inputs()
        flags = []
        for name, value in inputs.items():
            np.save(Path(tmp) / f"{name}.npy", value)
            flags.append(f"--input={name}={Path(tmp) / f'{name}.npy'}")
        subprocess.run([str(ROOT / "build" / "bin" / "compress-run"), str(model), f"--passes={PASSES}", *shapes,
                        *flags, "--output-dir", f"{tmp}/ref"], check=True)
        np.save(out / "output.npy", np.load(f"{tmp}/ref/output.npy"))
        # The caches' old rows are the inputs' (checked there against them); their new row is the reference's.
        for kind in ("key", "value"):
            present = np.load(f"{tmp}/ref/present_{kind}.0.npy")
            if not np.array_equal(present[:, :, :CACHE], inputs[f"past_{kind}.0"]):
                sys.exit(f"the CPU reference's present_{kind}.0 does not start with past_{kind}.0")
            np.save(out / f"present_{kind}_new.npy", present[:, :, CACHE:])
    print(f"{out}: {len(data) / 1e6:.1f} MB of weights in {(len(data) + PART_BYTES - 1) // PART_BYTES} parts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
