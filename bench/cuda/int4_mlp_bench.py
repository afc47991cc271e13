"""Runs, on the GPU machine, what bench/cuda/int4_mlp_build.py made: the
int4 Llama-width MLP as a CUDA artifact at --gpu-precision f32 and f16, for 1,
16 and 128 rows; checks each output against the CPU's (relative error norm)
and times whole session runs (input up, kernels, output back), beside two
PyTorch peers on the same shapes and the same scope (numpy in, numpy out):
fp16 dense matmuls (cuBLAS) and int4 g128 tinygemm (_weight_int4pack_mm, bf16
activations). Prints a markdown table.
Usage: python3 int4_mlp_bench.py MLP_DIR LIB_DIR [--repeat N]"""
import argparse
import ctypes
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_check_run import Model, load_runtime  # noqa: E402

ROWS = [1, 16, 128]
HIDDEN, INTERMEDIATE, GROUP = 4096, 11008, 128


def median_ms(fn, repeat: int) -> float:
    fn()  # warm-up: first-use work (weight repacking, module loads) is not timed
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


class Session:
    def __init__(self, rt, lib_path: Path, weights: Path):
        self.rt = rt
        self.lib = ctypes.CDLL(str(lib_path))
        self.model = Model.in_dll(self.lib, "m_model")
        self.handle = rt.compress_session_create(ctypes.byref(self.model), str(weights).encode(), 0)
        if not self.handle:
            raise RuntimeError(rt.compress_last_error().decode())

    def run(self, x: np.ndarray) -> np.ndarray:
        self.run_only(x)
        return self.output()

    def run_only(self, x: np.ndarray) -> None:
        shape = (ctypes.c_int64 * 2)(*x.shape)
        if (self.rt.compress_session_set_input(self.handle, b"x", x.ctypes.data, shape, 2)
                or self.rt.compress_session_run(self.handle)):
            raise RuntimeError(self.rt.compress_last_error().decode())

    def output(self) -> np.ndarray:
        data, dims, rank = ctypes.c_void_p(), ctypes.POINTER(ctypes.c_int64)(), ctypes.c_int()
        if self.rt.compress_session_get_output(self.handle, b"y", ctypes.byref(data), ctypes.byref(dims),
                                               ctypes.byref(rank)):
            raise RuntimeError(self.rt.compress_last_error().decode())
        count = dims[0] * dims[1]
        return np.frombuffer(bytes((ctypes.c_char * (4 * count)).from_address(data.value)),
                             np.float32).reshape(dims[0], dims[1])


def torch_peers():
    """fp16 dense and int4 tinygemm MLPs of the same shapes (random weights:
    only their time is compared), as functions of a numpy input."""
    try:
        import torch
    except ImportError:
        return {}
    dev = "cuda"
    up = torch.randn(HIDDEN, INTERMEDIATE, device=dev, dtype=torch.float16) / HIDDEN ** 0.5
    down = torch.randn(INTERMEDIATE, HIDDEN, device=dev, dtype=torch.float16) / INTERMEDIATE ** 0.5

    def dense(x):
        h = torch.from_numpy(x).to(dev).half() @ up
        return (torch.nn.functional.silu(h) @ down).float().cpu().numpy()

    peers = {"torch fp16 dense (cuBLAS)": dense}
    try:
        def pack(n, k):
            w = torch.randint(0, 16, (n, k // 2), dtype=torch.uint8, device=dev)
            packed = torch.ops.aten._convert_weight_to_int4pack(w, 8)
            scales = torch.ones(k // GROUP, n, 2, dtype=torch.bfloat16, device=dev) * 0.01
            return packed, scales

        up4, down4 = pack(INTERMEDIATE, HIDDEN), pack(HIDDEN, INTERMEDIATE)

        def tinygemm(x):
            xb = torch.from_numpy(x).to(dev).bfloat16()
            h = torch.ops.aten._weight_int4pack_mm(xb, up4[0], GROUP, up4[1])
            y = torch.ops.aten._weight_int4pack_mm(torch.nn.functional.silu(h), down4[0], GROUP, down4[1])
            return y.float().cpu().numpy()

        tinygemm(np.zeros((1, HIDDEN), np.float32))
        peers["torch int4 g128 tinygemm"] = tinygemm
    except Exception as e:  # the op's signature changes between torch versions
        print(f"tinygemm unavailable: {e}", file=sys.stderr)
    return peers


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mlp", type=Path)
    ap.add_argument("lib", type=Path)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--breakdown", action="store_true", help="also time the parts of a call")
    args = ap.parse_args()
    rt = load_runtime(args.lib)
    inputs = {r: np.load(args.mlp / f"x_{r}.npy") for r in ROWS}
    refs = {r: np.load(args.mlp / f"y_{r}.npy") for r in ROWS}
    rows_of_table = []
    for precision in ("f32", "f16"):
        session = Session(rt, args.mlp / precision / "libm.so", args.mlp / "m.weights")
        cells = []
        for r in ROWS:
            y = session.run(inputs[r])
            rel = float(np.linalg.norm(y - refs[r]) / np.linalg.norm(refs[r]))
            ms = median_ms(lambda: session.run(inputs[r]), args.repeat)
            cells.append(f"{ms:.3f} ms (rel. err. {rel:.1e})")
        rows_of_table.append((f"CompressIR int4, --gpu-precision={precision}", cells))
        if args.breakdown:
            # Where a call's time goes: the session run alone (input up,
            # kernels, output down into the session) and reading the output.
            cells = []
            for r in ROWS:
                run = median_ms(lambda: session.run_only(inputs[r]), args.repeat)
                read = median_ms(session.output, args.repeat)
                cells.append(f"run {run:.3f} + read {read:.3f} ms")
            rows_of_table.append((f"  of which ({precision})", cells))
    peers = torch_peers()
    for name, fn in peers.items():
        rows_of_table.append((name, [f"{median_ms(lambda: fn(inputs[r]), args.repeat):.3f} ms" for r in ROWS]))
    if args.breakdown and peers:
        import torch
        cells = []
        for r in ROWS:
            cells.append(f"{median_ms(lambda: torch.from_numpy(inputs[r]).cuda().cpu().numpy(), args.repeat):.3f} ms")
        rows_of_table.append(("  torch: input to the GPU and back alone", cells))
    print("| MLP 4096 -> 11008 -> 4096, whole call | " + " | ".join(f"{r} rows" for r in ROWS) + " |")
    print("| --- |" + " --- |" * len(ROWS))
    for name, cells in rows_of_table:
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
