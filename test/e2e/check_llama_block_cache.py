"""Checks the decoder blocks of python/compress_models/llama_block.py with a key/value cache (--kv-cache) on a small
width, by onnxruntime and compress-run: decoding token S+1 with the cache of tokens 1..S gives the last row of the
model without a cache run on all S+1 tokens, and the cache grows by that token's keys and values; compress-run
decodes as onnxruntime does."""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
from compress_models import llama_block  # noqa: E402
from compress_models.minilm import save  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_tools import rel_err  # noqa: E402

BLOCKS, HIDDEN, HEADS, INTERMEDIATE = 2, 64, 4, 128
PAST = 7



def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compress-run", type=Path, default=ROOT / "build" / "bin" / "compress-run")
    args, _ = ap.parse_known_args()
    rng = np.random.default_rng(3)
    tokens = rng.standard_normal((1, PAST + 1, HIDDEN), dtype=np.float32)
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plain, cached = tmp / "plain.onnx", tmp / "cached.onnx"
        save(llama_block.build_model(blocks=BLOCKS, hidden=HIDDEN, heads=HEADS, intermediate=INTERMEDIATE),
             plain, external_data=True)
        save(llama_block.build_model(blocks=BLOCKS, hidden=HIDDEN, heads=HEADS, intermediate=INTERMEDIATE,
                                     kv_cache=True), cached, external_data=True)
        want = ort.InferenceSession(str(plain)).run(["output"], {"hidden": tokens})[0]
        session = ort.InferenceSession(str(cached))
        names = [o.name for o in session.get_outputs()]
        empty = np.zeros((1, HEADS, 0, HIDDEN // HEADS), np.float32)
        feeds = {"hidden": tokens[:, :PAST]}
        feeds.update({f"past_{kind}.{i}": empty for i in range(BLOCKS) for kind in ("key", "value")})
        prefill = dict(zip(names, session.run(names, feeds)))
        if (err := rel_err(prefill["output"], want[:, :PAST])) > 1e-5:
            failures.append(f"prefill with an empty cache: relative error {err:.2e} against the model without one")
        feeds = {"hidden": tokens[:, PAST:]}
        feeds.update({f"past_{kind}.{i}": prefill[f"present_{kind}.{i}"] for i in range(BLOCKS)
                      for kind in ("key", "value")})
        step = dict(zip(names, session.run(names, feeds)))
        if (err := rel_err(step["output"], want[:, PAST:])) > 1e-5:
            failures.append(f"decoding token {PAST + 1}: relative error {err:.2e} against the model without a cache")
        for i in range(BLOCKS):
            for kind in ("key", "value"):
                present = step[f"present_{kind}.{i}"]
                if present.shape[2] != PAST + 1 or not np.array_equal(present[:, :, :PAST],
                                                                       feeds[f"past_{kind}.{i}"]):
                    failures.append(f"present_{kind}.{i} is not the cache grown by one position")

        # compress-run decodes the same step.
        inputs = []
        for name, value in feeds.items():
            np.save(tmp / f"{name}.npy", value)
            inputs.append(f"--input={name}={tmp / f'{name}.npy'}")
        subprocess.run([str(args.compress_run), str(cached), *inputs, "--output-dir", str(tmp / "out")], check=True)
        for name in names:
            got = np.load(tmp / "out" / f"{name}.npy")
            if (err := rel_err(got, step[name])) > 1e-5:
                failures.append(f"compress-run's {name}: relative error {err:.2e} against onnxruntime")
    for failure in failures:
        print("FAIL:", failure)
    print("llama_block --kv-cache:", "failed" if failures else "passed (prefill, decode step, cache, compress-run)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
