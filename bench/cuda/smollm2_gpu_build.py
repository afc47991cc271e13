"""Builds, here, what bench/cuda/smollm2_gpu_ppl.py runs on the GPU machine:
SmolLM2-135M (smollm2_nocache_ids.onnx, 512-token windows) quantized by
compress-compile to int4 in groups of 128 (RTN, as the LLM quality table's
row) and compiled for the CUDA target once per --gpu-precision, with the
evaluation windows of protocol austen-1 (python/compress_models/austen.py).
The weights file (190 MB: the token embedding stays float32) is split into
parts of at most 60 MB, so that it reaches the GPU machine over several calls
(64 MiB each) that leave the parts in its /tmp.
Usage: smollm2_gpu_build.py OUT_DIR --lib DIR [--windows N --start T]"""
import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
from compress_models import austen, smollm2  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_artifact import compile_for_gpu  # noqa: E402

PASSES = "compress-quantize{bits=4 group-size=128}"
PART_BYTES = 60 * 1000 * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--lib", type=Path, required=True, help="the folder of libcompress_rt.so")
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--start", type=int, default=2000, help="first token of the first window")
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    model = smollm2.fetch(None, False)["ids"]
    windows = austen.evaluation_windows(args.windows, austen.WINDOW_TOKENS, args.start)
    np.save(out / "windows.npy", windows)
    with tempfile.TemporaryDirectory() as tmp:
        weights = {precision: compile_for_gpu(model, out / precision / "libm.so", args.lib,
                                              [f"--gpu-precision={precision}", f"--passes={PASSES}",
                                               f"--input-shape=input_ids=1x{austen.WINDOW_TOKENS}"],
                                              Path(tmp) / precision)
                   for precision in ("f32", "f16")}
        if not filecmp.cmp(weights["f32"], weights["f16"], shallow=False):
            sys.exit("the f32 and f16 artifacts' weights differ")
        data = weights["f32"].read_bytes()
    for i in range(0, len(data), PART_BYTES):
        (out / f"m.weights.part{i // PART_BYTES}").write_bytes(data[i:i + PART_BYTES])
    print(f"{out}: {len(data) / 1e6:.1f} MB of weights in {(len(data) + PART_BYTES - 1) // PART_BYTES} parts, "
          f"{len(windows)} windows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
