"""The CUDA runtime's float32 GEMM (lib/runtime/cuda/Contraction.cu, what
compress-gpu-contraction-to-kernel calls) against cuBLAS through torch.matmul
in float32 (TF32 off, the same arithmetic), in one run on the GPU machine.
Checks each result against torch's first, then times both: the median of 5
timings of 20 back-to-back launches each, after a warm-up.
Usage (there): python3 gemm_bench.py LIB_DIR   (LIB_DIR: gpu_check_build.sh's lib/)"""
import ctypes
import statistics
import sys
import time
from pathlib import Path

import torch

# (name, M, N, K): MiniLM's layers at 2 x 16 tokens and at 3 rows, a
# Llama-7B MLP layer at 1, 4 and 128 tokens (up to 4 rows take the
# warp-per-column kernel), and a square product that is compute-bound.
SHAPES = [("minilm qkv", 32, 384, 384), ("minilm mlp up", 32, 1536, 384),
          ("minilm mlp up, 3 rows", 3, 1536, 384), ("llama up, 1 token", 1, 11008, 4096),
          ("llama up, 4 tokens", 4, 11008, 4096), ("llama up, 128 tokens", 128, 11008, 4096),
          ("square 4096", 4096, 4096, 4096)]


def main() -> int:
    lib_dir = Path(sys.argv[1])
    for dep in ("libOpenCL.so.1", "libgomp.so.1", "libomp.so.5", "libdnnl.so.2"):
        if (lib_dir / dep).exists():
            ctypes.CDLL(str(lib_dir / dep), mode=ctypes.RTLD_GLOBAL)
    rt = ctypes.CDLL(str(lib_dir / "libcompress_rt.so"), mode=ctypes.RTLD_GLOBAL)
    rt.compress_cuda_contract_f32.argtypes = [ctypes.c_int64] * 24
    finish = ctypes.CFUNCTYPE(ctypes.c_char_p)(
        ctypes.cast(ctypes.addressof(ctypes.c_void_p.in_dll(rt, "compress_cuda_device_memory")) + 4 * 8,
                    ctypes.POINTER(ctypes.c_void_p)).contents.value)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    print(f"{torch.cuda.get_device_name()}; torch {torch.__version__}")
    print("| shape | M x N x K | ours (us) | cuBLAS fp32 (us) | ours / cuBLAS | ours TFLOP/s | max rel. error |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, m, n, k in SHAPES:
        a = torch.randn(m, k, device="cuda")
        w = torch.randn(n, k, device="cuda")  # a linear layer's weight, [N, K]
        c = torch.zeros(m, n, device="cuda")
        ref = a @ w.T

        def ours():
            # C[m, n] += sum_k A[m, k] * W[n, k]: B's strides are (k: 1, n: K).
            rt.compress_cuda_contract_f32(1, 1, 1, m, n, k, a.data_ptr(), 0, 0, 0, k, 1,
                                          w.data_ptr(), 0, 0, 0, 1, k, c.data_ptr(), 0, 0, 0, n, 1)

        torch.cuda.synchronize()
        ours()
        err = finish()
        if err:
            print(f"FAILED {name}: {err.decode()}")
            return 1
        rel = float((c - ref).abs().max() / ref.abs().max())

        def timed(launch, sync) -> float:
            samples = []
            for _ in range(6):
                sync()
                start = time.perf_counter()
                for _ in range(20):
                    launch()
                sync()
                samples.append((time.perf_counter() - start) / 20)
            return statistics.median(samples[1:]) * 1e6

        t_ours = timed(ours, lambda: finish())
        t_ref = timed(lambda: torch.matmul(a, w.T, out=ref), torch.cuda.synchronize)
        print(f"| {name} | {m} x {n} x {k} | {t_ours:.1f} | {t_ref:.1f} | {t_ours / t_ref:.2f} | "
              f"{2 * m * n * k / t_ours / 1e6:.2f} | {rel:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
