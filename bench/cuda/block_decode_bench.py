"""Runs, on the GPU machine, what bench/cuda/block_decode_build.py made: the int4 Llama-7B-width decoder block
decoding one token with a 512-token cache, as a CUDA artifact whose inputs are bound in device memory (torch
tensors; compress_session_set_device_input) and whose outputs stay there, so that a step is what a decoder loop
pays: the session's run (a CUDA graph replay from the third run on) and its wait. Checks the step against the CPU
reference, then times it beside the same block in fp16 through PyTorch (cuBLAS products; eager, and replayed as a
CUDA graph), and the time to read the block's weights and cache at the measured copy bandwidth. Prints a markdown
table.
Usage: python3 block_decode_bench.py BUILD_DIR LIB_DIR [--repeat N] [--profile]   (BUILD_DIR holds f16/libm.so, m.weights or
its parts, and the reference .npy files)"""
import argparse
import ctypes
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from block_decode_inputs import CACHE, HEAD_DIM, HEADS, HIDDEN, block_decode_inputs  # noqa: E402
from gpu_check_run import Model, load_runtime  # noqa: E402

INTERMEDIATE = 11008
DEV = "cuda"


def weights_file(build: Path) -> Path:
    whole = build / "m.weights"
    if not whole.exists():
        parts = sorted(build.glob("m.weights.part*"), key=lambda p: int(p.name.rsplit("part", 1)[1]))
        with open(whole, "wb") as out:
            for part in parts:
                out.write(part.read_bytes())
    return whole


def median_us(step, repeat: int) -> float:
    for _ in range(3):  # the first runs load kernels, pack weights and record the graph
        step()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1e6 * float(np.median(times))


class Session:
    """The artifact's session with every input bound in device memory."""

    def __init__(self, rt, build: Path, inputs: dict[str, torch.Tensor]):
        self.rt = rt
        rt.compress_session_set_device_input.argtypes = rt.compress_session_set_input.argtypes
        rt.compress_session_get_device_output.argtypes = rt.compress_session_get_output.argtypes
        self.lib = ctypes.CDLL(str(build / "f16" / "libm.so"))
        self.model = Model.in_dll(self.lib, "m_model")
        self.handle = rt.compress_session_create(ctypes.byref(self.model), str(weights_file(build)).encode(), 0)
        if not self.handle:
            raise RuntimeError(rt.compress_last_error().decode())
        self.inputs = inputs
        for name, t in inputs.items():
            shape = (ctypes.c_int64 * t.dim())(*t.shape)
            if rt.compress_session_set_device_input(self.handle, name.encode(), t.data_ptr(), shape, t.dim()):
                raise RuntimeError(rt.compress_last_error().decode())

    def step(self) -> None:
        if self.rt.compress_session_run(self.handle):
            raise RuntimeError(self.rt.compress_last_error().decode())

    def output(self, name: str) -> np.ndarray:
        data, dims, rank = ctypes.c_void_p(), ctypes.POINTER(ctypes.c_int64)(), ctypes.c_int()
        if self.rt.compress_session_get_output(self.handle, name.encode(), ctypes.byref(data), ctypes.byref(dims),
                                               ctypes.byref(rank)):
            raise RuntimeError(self.rt.compress_last_error().decode())
        shape = tuple(dims[d] for d in range(rank.value))
        count = int(np.prod(shape))
        return np.frombuffer(bytes((ctypes.c_char * (4 * count)).from_address(data.value)), np.float32).reshape(shape)


def rel_err(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.linalg.norm(got.astype(np.float64) - want) / np.linalg.norm(want))


def torch_block():
    """The same decoder block in fp16 (random weights: only its time is compared), decoding one token with the
    same cache: RMSNorm, q/k/v/o, rotary, the cache concatenated, softmax attention, SwiGLU; as torch.onnx would
    run Hugging Face's eager Llama layer."""
    def w(n, k):
        return torch.randn(n, k, device=DEV, dtype=torch.float16) / k ** 0.5
    q, k, v, o = (w(HIDDEN, HIDDEN) for _ in range(4))
    gate, up, down = w(INTERMEDIATE, HIDDEN), w(INTERMEDIATE, HIDDEN), w(HIDDEN, INTERMEDIATE)
    norm1 = torch.ones(HIDDEN, device=DEV, dtype=torch.float16)
    norm2 = torch.ones(HIDDEN, device=DEV, dtype=torch.float16)
    inv_freq = 1.0 / 10000 ** (torch.arange(0, HEAD_DIM, 2, device=DEV).float() / HEAD_DIM)
    angles = CACHE * inv_freq
    cos = torch.cat([angles, angles]).cos().half()
    sin = torch.cat([angles, angles]).sin().half()
    past_k = torch.randn(1, HEADS, CACHE, HEAD_DIM, device=DEV, dtype=torch.float16)
    past_v = torch.randn(1, HEADS, CACHE, HEAD_DIM, device=DEV, dtype=torch.float16)
    x = torch.randn(1, 1, HIDDEN, device=DEV, dtype=torch.float16)
    F = torch.nn.functional

    def rms(t, weight):
        t32 = t.float()
        return (t32 * torch.rsqrt(t32.pow(2).mean(-1, keepdim=True) + 1e-6)).half() * weight

    def rotate(t):
        half = HEAD_DIM // 2
        return t * cos + torch.cat([-t[..., half:], t[..., :half]], -1) * sin

    def heads(t):
        return t.view(1, 1, HEADS, HEAD_DIM).transpose(1, 2)

    def step():
        h = rms(x, norm1)
        qh, kh, vh = rotate(heads(F.linear(h, q))), rotate(heads(F.linear(h, k))), heads(F.linear(h, v))
        keys, values = torch.cat([past_k, kh], 2), torch.cat([past_v, vh], 2)
        scores = (qh @ keys.transpose(2, 3)) / HEAD_DIM ** 0.5
        ctx = torch.softmax(scores.float(), -1).half() @ values
        r = x + F.linear(ctx.transpose(1, 2).reshape(1, 1, HIDDEN), o)
        h = rms(r, norm2)
        return r + F.linear(F.silu(F.linear(h, gate)) * F.linear(h, up), down), keys, values

    return step


def copy_bandwidth() -> float:
    """Bytes read plus written per second by a device-to-device copy of 1 GiB (median of 10)."""
    a = torch.empty(2**28, device=DEV, dtype=torch.float32)
    b = torch.empty_like(a)
    times = []
    for _ in range(11):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        b.copy_(a)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return 2 * a.numel() * 4 / float(np.median(times[1:]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build", type=Path)
    ap.add_argument("lib", type=Path)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--profile", action="store_true",
                    help="instead of the table: our step's kernels by GPU time (torch.profiler, 20 steps)")
    args = ap.parse_args()
    print("GPU:", torch.cuda.get_device_name(), "| torch", torch.__version__)
    rt = load_runtime(args.lib)
    host = block_decode_inputs()
    inputs = {name: torch.from_numpy(value).to(DEV) for name, value in host.items()}
    ours = Session(rt, args.build, inputs)
    ours.step()
    errors = {"output": rel_err(ours.output("output"), np.load(args.build / "output.npy"))}
    for kind in ("key", "value"):
        present = ours.output(f"present_{kind}.0")
        if not np.array_equal(present[:, :, :CACHE], host[f"past_{kind}.0"]):
            sys.exit(f"present_{kind}.0 does not start with past_{kind}.0")
        errors[f"present_{kind} (new row)"] = rel_err(present[:, :, CACHE:],
                                                       np.load(args.build / f"present_{kind}_new.npy"))
    if args.profile:
        for _ in range(3):
            ours.step()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as profiler:
            for _ in range(20):
                ours.step()
        print(profiler.key_averages().table(sort_by="cuda_time_total", row_limit=25, max_name_column_width=70))
        return 0
    ours_us = median_us(ours.step, args.repeat)
    # The replayed graph must compute what the first run did.
    errors["output, replayed"] = rel_err(ours.output("output"), np.load(args.build / "output.npy"))
    print("errors against the CPU reference (relative error norm):",
          ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))

    step = torch_block()
    eager_us = median_us(lambda: (step(), torch.cuda.synchronize()), args.repeat)
    graph = torch.cuda.CUDAGraph()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        step()
        with torch.cuda.graph(graph, stream=stream):
            step()
    graph_us = median_us(lambda: (graph.replay(), torch.cuda.synchronize()), args.repeat)

    bandwidth = copy_bandwidth()
    weight_bytes = weights_file(args.build).stat().st_size
    cache_bytes = 2 * HEADS * CACHE * HEAD_DIM * 4
    # Read the weights and the cache; the cache's copy with its new row is written (the model's Concat).
    floor_us = 1e6 * (weight_bytes + 2 * cache_bytes) / bandwidth
    best_peer = min(eager_us, graph_us)
    print(f"copy bandwidth {bandwidth / 1e12:.2f} TB/s (read + write); weights {weight_bytes / 1e6:.1f} MB, "
          f"cache {cache_bytes / 1e6:.1f} MB float32")
    print()
    print("| one decode step, 512-token cache | µs (median of %d) | / byte floor | / best PyTorch |" % args.repeat)
    print("| --- | --- | --- | --- |")
    rows = [("CompressIR int4 g128, `--gpu-precision=f16` (graph replay)", ours_us),
            ("PyTorch fp16, eager", eager_us), ("PyTorch fp16, CUDA graph", graph_us),
            ("byte floor: weights + cache read + cache written at the copy bandwidth", floor_us)]
    for name, us in rows:
        print(f"| {name} | {us:.1f} | {us / floor_us:.2f} | {us / best_peer:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
