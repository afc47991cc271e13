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
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
from compress_models import austen, smollm2  # noqa: E402

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
        for precision in ("f32", "f16"):
            art = Path(tmp) / precision
            subprocess.run([str(ROOT / "build" / "bin" / "compress-compile"), str(model), "--target=cuda",
                            f"--gpu-precision={precision}", f"--passes={PASSES}",
                            f"--input-shape=input_ids=1x{austen.WINDOW_TOKENS}", "--name", "m", "-o", str(art)],
                           check=True, stderr=subprocess.DEVNULL)
            subprocess.run(["ar", "x", "libm.a"], cwd=art, check=True)
            (out / precision).mkdir(exist_ok=True)
            subprocess.run(["cc", "-shared", "-o", str(out / precision / "libm.so"), "m.o", "m_model.o",
                            f"-L{args.lib.resolve()}", "-lcompress_rt"], cwd=art, check=True)
        if not filecmp.cmp(Path(tmp) / "f32" / "m.weights", Path(tmp) / "f16" / "m.weights", shallow=False):
            sys.exit("the f32 and f16 artifacts' weights differ")
        data = (Path(tmp) / "f32" / "m.weights").read_bytes()
    for i in range(0, len(data), PART_BYTES):
        (out / f"m.weights.part{i // PART_BYTES}").write_bytes(data[i:i + PART_BYTES])
    print(f"{out}: {len(data) / 1e6:.1f} MB of weights in {(len(data) + PART_BYTES - 1) // PART_BYTES} parts, "
          f"{len(windows)} windows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
