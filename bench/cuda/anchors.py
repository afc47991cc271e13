"""PyTorch anchors for the int4 linear kernels, timed the same way as
int4_linear_bench.cu: fp16 torch.matmul, int4 g128 _weight_int4pack_mm
(tinygemm, bf16 activations, torch's own packing), fp8 e4m3 _scaled_mm
(per-tensor scales) and Marlin (IST-DASLab/marlin built from source here, its
64x256 tile: the 128x128 one stops with an illegal instruction under CUDA 13),
each with its weights rotated over >= 400 MB of copies captured in one CUDA
graph; the median replay over the copies.

Marlin's source is looked for in $MARLIN_SRC (default .peers/marlin, a clone
of https://github.com/IST-DASLab/marlin at 2f6d7c1); without it the Marlin
column says so."""

import math
import os
import sys
from pathlib import Path

import torch

ROTATE_BYTES = 400e6
SHAPES = [(4096, 4096), (11008, 4096), (4096, 11008)]  # N x K
BATCHES = [1, 16, 128]
GROUP = 128


def time_rotated(fn, copies, replays=25):
    """Microseconds per call: fn(copy) for every copy in one graph."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for c in range(copies):  # warm up outside the graph (handles, plans)
            fn(c)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for c in range(copies):
            fn(c)
    for _ in range(3):
        graph.replay()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    us = []
    for _ in range(replays):
        start.record()
        graph.replay()
        stop.record()
        stop.synchronize()
        us.append(start.elapsed_time(stop) * 1000.0 / copies)
    us.sort()
    return us[len(us) // 2]


def rel_error(out, ref):
    out, ref = out.double(), ref.double()
    return ((out - ref).norm() / ref.norm()).item()


def copies_for(nbytes):
    return max(2, math.ceil(ROTATE_BYTES / nbytes))


def load_marlin():
    """Builds Marlin's extension for sm_90 and returns its Python module, or
    None (saying why) where the source is missing or does not build."""
    src = Path(os.environ.get("MARLIN_SRC", ".peers/marlin")).resolve()
    if not (src / "marlin" / "marlin_cuda_kernel.cu").exists():
        print(f"Marlin: no source at {src}")
        return None
    from torch.utils.cpp_extension import load
    try:
        ext = load(name="marlin_cuda",
                   sources=[str(src / "marlin" / "marlin_cuda.cpp"),
                            str(src / "marlin" / "marlin_cuda_kernel.cu")],
                   extra_cuda_cflags=["-O3", "-gencode=arch=compute_90,code=sm_90"])
    except Exception as e:  # a peer that fails to build is reported, not fatal
        print(f"Marlin: build failed: {e}")
        return None
    sys.modules["marlin_cuda"] = ext  # what marlin/__init__.py imports
    sys.path.insert(0, str(src))
    import marlin
    return marlin


MARLIN_TILE = dict(thread_k=64, thread_n=256)


def marlin_weights(marlin, w16, scales16):
    """Marlin's packing of W = (q - 8) * s (symmetric, groups of 128)."""
    n, k = w16.shape
    linear = torch.nn.Linear(k, n, bias=False).half().to(w16.device)
    linear.weight.data.copy_(w16)
    layer = marlin.Layer(k, n, groupsize=GROUP).to(w16.device)
    layer.pack(linear, scales16)  # scales [N, K/g]
    return layer.B, layer.s


def int4_pack(q, high_first):
    """q: [N, K] codes 0..15 -> the [N, K/2] uint8 torch's converter takes."""
    even, odd = q[:, 0::2], q[:, 1::2]
    packed = (even << 4 | odd) if high_first else (odd << 4 | even)
    return packed.to(torch.uint8)


def main():
    torch.manual_seed(0)
    dev = torch.device("cuda")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    marlin = load_marlin()
    rows = []
    for n, k in SHAPES:
        groups = k // GROUP
        q = torch.randint(0, 16, (n, k), dtype=torch.int32, device=dev)
        scales = torch.rand(n, groups, device=dev) * 0.01 + 0.005
        w = (q - 8).float() * scales.repeat_interleave(GROUP, dim=1)  # [N, K]
        x_all = torch.rand(max(BATCHES), k, device=dev) * 2 - 1

        # fp16
        w16 = w.half()
        c16 = copies_for(w16.numel() * 2)
        w16s = [w16.clone() for _ in range(c16)]

        # int4 tinygemm: w = (q - 8) * scale + zero, scales_and_zeros [K/g, N, 2]
        sz = torch.stack([scales.t(), torch.zeros_like(scales.t())], dim=2)
        sz = sz.to(torch.bfloat16).contiguous()
        packed, int4_err_order = None, None
        err = float("nan")
        for high_first in (True, False):
            try:
                cand = torch._convert_weight_to_int4pack(int4_pack(q, high_first), 8)
                xb = x_all[:16].to(torch.bfloat16)
                out = torch.ops.aten._weight_int4pack_mm(xb, cand, GROUP, sz)
            except RuntimeError as e:
                print(f"{n}x{k}: int4pack failed: {e}")
                continue
            err = rel_error(out, xb.double() @ w.double().t())
            if err < 2e-2:
                packed, int4_err_order = cand, (err, "high" if high_first else "low")
                break
        if packed is None:
            print(f"{n}x{k}: _weight_int4pack_mm does not reproduce W (err {err:.2e})")
        int4_bytes = n * k / 2 + sz.numel() * 2
        c4 = copies_for(int4_bytes)
        packs = [packed.clone() for _ in range(c4)] if packed is not None else []
        szs = [sz.clone() for _ in range(c4)]

        # fp8 e4m3, per-tensor scales
        w_scale = w.abs().max() / 448.0
        w8 = (w / w_scale).to(torch.float8_e4m3fn)
        c8 = copies_for(w8.numel())
        w8s = [w8.clone() for _ in range(c8)]
        one = torch.ones((), device=dev)
        ws_t = w_scale.reshape(()).float()

        # Marlin: its own packing, checked against the reference below
        if marlin is not None:
            mb, ms = marlin_weights(marlin, w16, scales.half())
            cm = copies_for(mb.numel() * 4 + ms.numel() * 2)
            mbs = [mb.clone() for _ in range(cm)]
            mss = [ms.clone() for _ in range(cm)]
            workspace = torch.zeros(n // 128 * 16, dtype=torch.int32, device=dev)

        for m in BATCHES:
            x = x_all[:m]
            ref = x.double() @ w.double().t()
            row = {"n": n, "k": k, "m": m}
            xh = x.half()
            y16 = torch.empty(m, n, device=dev, dtype=torch.float16)
            row["fp16_err"] = rel_error(xh @ w16.t(), ref)
            row["fp16"] = time_rotated(lambda c: torch.matmul(xh, w16s[c].t(), out=y16), c16)
            if packed is not None:
                xb = x.to(torch.bfloat16)
                row["int4_err"] = rel_error(
                    torch.ops.aten._weight_int4pack_mm(xb, packed, GROUP, sz), ref)
                row["int4"] = time_rotated(
                    lambda c: torch.ops.aten._weight_int4pack_mm(xb, packs[c], GROUP, szs[c]), c4)
            # _scaled_mm wants M a multiple of 16 on some builds: pad if refused.
            x_scale = x.abs().max() / 448.0
            x8 = (x / x_scale).to(torch.float8_e4m3fn)
            xs_t = x_scale.reshape(()).float()
            pad = False
            try:
                out = torch._scaled_mm(x8, w8.t(), scale_a=xs_t, scale_b=ws_t,
                                       out_dtype=torch.float16)
            except RuntimeError:
                pad = True
                x8 = torch.cat([x8, torch.zeros(16 - m % 16 if m % 16 else 0, k,
                                                device=dev).to(torch.float8_e4m3fn)])
                out = torch._scaled_mm(x8, w8.t(), scale_a=xs_t, scale_b=ws_t,
                                       out_dtype=torch.float16)[:m]
            row["fp8_err"] = rel_error(out, ref)
            row["fp8_pad"] = pad
            row["fp8"] = time_rotated(
                lambda c: torch._scaled_mm(x8, w8s[c].t(), scale_a=xs_t, scale_b=ws_t,
                                           out_dtype=torch.float16), c8)
            if marlin is not None:
                ym = torch.empty(m, n, device=dev, dtype=torch.float16)
                marlin.mul(xh, mb, ym, ms, workspace, **MARLIN_TILE)
                row["marlin_err"] = rel_error(ym, ref)
                row["marlin"] = time_rotated(
                    lambda c: marlin.mul(xh, mbs[c], ym, mss[c], workspace, **MARLIN_TILE), cm)
            rows.append(row)
            print(row, flush=True)
        if int4_err_order:
            print(f"{n}x{k}: int4pack nibble order {int4_err_order[1]} first "
                  f"(check err {int4_err_order[0]:.2e})")
        del w16s, packs, szs, w8s
        if marlin is not None:
            del mbs, mss
        torch.cuda.empty_cache()

    print("\n| N x K | M | fp16 matmul us (err) | int4 _weight_int4pack_mm us (err) "
          "| fp8 _scaled_mm us (err) | Marlin 64x256 us (err) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        i4 = f"{r['int4']:.2f} ({r['int4_err']:.1e})" if "int4" in r else "n/a"
        mar = f"{r['marlin']:.2f} ({r['marlin_err']:.1e})" if "marlin" in r else "n/a"
        pad = ", M padded to 16" if r["fp8_pad"] else ""
        print(f"| {r['n']}x{r['k']} | {r['m']} | {r['fp16']:.2f} ({r['fp16_err']:.1e}) "
              f"| {i4} | {r['fp8']:.2f} ({r['fp8_err']:.1e}{pad}) | {mar} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
