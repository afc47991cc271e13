"""Runs, on the GPU machine, what bench/cuda/smollm2_gpu_build.py made:
SmolLM2-135M int4 as CUDA artifacts at --gpu-precision f32 and f16, scoring
the evaluation windows as bench/llm_quality.py does (the mean NLL of tokens
2..W of each window given its prefix; perplexity = exp of the mean), and
timing each 512-token forward pass (the session run: ids up, every kernel,
logits down). Prints each window's NLL, so that they can be compared with the
CPU's (bench/llm_quality.py --json) window by window.
Usage: python3 smollm2_gpu_ppl.py DIR LIB_DIR   (DIR/m.weights reassembled
from its parts if missing)"""
import argparse
import ctypes
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_check_run import Model, load_runtime  # noqa: E402

VOCAB = 49152


def window_nll(logits: np.ndarray, ids: np.ndarray) -> float:
    """bench/llm_quality.py's, for one window: logits [W, V], ids [W]."""
    lg = logits[:-1]
    m = lg.max(axis=-1, keepdims=True)
    logz = m[:, 0].astype(np.float64) + np.log(np.exp(lg - m).sum(axis=-1, dtype=np.float64))
    return float(np.mean(logz - lg[np.arange(len(lg)), ids[1:]]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("lib", type=Path)
    args = ap.parse_args()
    weights = args.dir / "m.weights"
    if not weights.exists():
        with open(weights, "wb") as f:
            for part in sorted(args.dir.glob("m.weights.part*"), key=lambda p: int(p.name[len("m.weights.part"):])):
                f.write(part.read_bytes())
    windows = np.load(args.dir / "windows.npy")
    rt = load_runtime(args.lib)
    results = {}
    for precision in ("f32", "f16"):
        lib = ctypes.CDLL(str(args.dir / precision / "libm.so"))
        model = Model.in_dll(lib, "m_model")
        session = rt.compress_session_create(ctypes.byref(model), str(weights).encode(), 0)
        if not session:
            sys.exit(rt.compress_last_error().decode())
        nll, times = [], []
        for w in windows:
            ids = np.ascontiguousarray(w[None, :], np.int64)
            shape = (ctypes.c_int64 * 2)(*ids.shape)
            start = time.perf_counter()
            if (rt.compress_session_set_input(session, b"input_ids", ids.ctypes.data, shape, 2)
                    or rt.compress_session_run(session)):
                sys.exit(rt.compress_last_error().decode())
            times.append(time.perf_counter() - start)
            data, dims, rank = ctypes.c_void_p(), ctypes.POINTER(ctypes.c_int64)(), ctypes.c_int()
            if rt.compress_session_get_output(session, b"logits", ctypes.byref(data), ctypes.byref(dims),
                                              ctypes.byref(rank)):
                sys.exit(rt.compress_last_error().decode())
            logits = np.ctypeslib.as_array(ctypes.cast(data, ctypes.POINTER(ctypes.c_float)),
                                           (dims[1], dims[2]))
            nll.append(window_nll(logits, w))
        rt.compress_session_destroy(session)
        nll = np.array(nll)
        ppl = float(np.exp(nll.mean()))
        se = float(nll.std(ddof=1) / np.sqrt(len(nll))) * ppl if len(nll) > 1 else float("nan")
        results[precision] = nll
        # The first run loads modules and repacks weights: the median is of the rest.
        print(f"{precision}: perplexity {ppl:.4f} ± {se:.4f} over {len(nll)} windows; "
              f"512-token forward pass median {1e3 * float(np.median(times[1:] or times)):.2f} ms "
              f"(first {1e3 * times[0]:.1f} ms)")
        print(f"{precision} window NLL: " + " ".join(f"{v:.6f}" for v in nll))
    diff = np.abs(results["f16"] - results["f32"])
    print(f"f16 - f32 per-window NLL: max |diff| {diff.max():.2e}, mean {float((results['f16'] - results['f32']).mean()):+.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
