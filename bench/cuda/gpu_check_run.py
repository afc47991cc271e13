"""Runs the CUDA artifacts that bench/cuda/gpu_check_build.sh made on the GPU
and compares every output with the ONNX backend suite's expected output, at
the tolerances test/conformance/run_backend.py uses on the CPU. Needs numpy
and onnx (to read the suite's TensorProtos), no MLIR or LLVM.
Each case runs in a process of its own: a fault in one (the CUDA context
cannot recover from an illegal address) fails that case alone.
Usage: python3 gpu_check_run.py DIR [--report FILE]"""
import argparse
import ctypes
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from onnx import TensorProto, numpy_helper

RTOL, ATOL = 1e-4, 1e-5  # test/conformance/run_backend.py
DTYPES = [np.float32, np.float64, np.float16, np.int8, np.int16, np.int32, np.int64,
          np.uint8, np.uint16, np.uint32, np.uint64, np.bool_]  # compress_dtype order


class TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_int),
                ("dims", ctypes.POINTER(ctypes.c_int64)), ("dim_names", ctypes.c_void_p)]


class Model(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("num_inputs", ctypes.c_int),
                ("inputs", ctypes.POINTER(TensorInfo)), ("num_outputs", ctypes.c_int),
                ("outputs", ctypes.POINTER(TensorInfo)), ("weights_bytes", ctypes.c_uint64),
                ("invoke", ctypes.c_void_p), ("num_index_sites", ctypes.c_int),
                ("index_sites", ctypes.c_void_p), ("device", ctypes.c_void_p)]


def load_runtime(lib_dir: Path) -> ctypes.CDLL:
    for dep in ("libOpenCL.so.1", "libgomp.so.1", "libomp.so.5", "libdnnl.so.2"):
        if (lib_dir / dep).exists():
            ctypes.CDLL(str(lib_dir / dep), mode=ctypes.RTLD_GLOBAL)
    rt = ctypes.CDLL(str(lib_dir / "libcompress_rt.so"), mode=ctypes.RTLD_GLOBAL)
    rt.compress_session_create.restype = ctypes.c_void_p
    rt.compress_session_create.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    rt.compress_session_set_input.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p,
                                              ctypes.POINTER(ctypes.c_int64), ctypes.c_int]
    rt.compress_session_run.argtypes = [ctypes.c_void_p]
    rt.compress_session_get_output.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p),
        ctypes.POINTER(ctypes.POINTER(ctypes.c_int64)), ctypes.POINTER(ctypes.c_int)]
    rt.compress_session_destroy.argtypes = [ctypes.c_void_p]
    rt.compress_last_error.restype = ctypes.c_char_p
    return rt


def read_tensor(case: Path, stem: str) -> np.ndarray:
    """STEM.npy (a model of gpu_models_build.py) or STEM.pb (a backend case)."""
    if (case / f"{stem}.npy").exists():
        return np.load(case / f"{stem}.npy")
    t = TensorProto()
    t.ParseFromString((case / f"{stem}.pb").read_bytes())
    return numpy_helper.to_array(t)


def matches(got: np.ndarray, want: np.ndarray, threshold: float | None) -> tuple[bool, str]:
    """The backend suite's elementwise tolerances, or (models) the end-to-end
    suite's relative error norm |got - want| / |want| against `threshold`."""
    diff = got.astype(np.float64) - want.astype(np.float64)
    max_abs = float(np.abs(diff).max()) if diff.size else 0.0
    if threshold is not None:
        norm = np.linalg.norm(want.astype(np.float64))
        rel = np.linalg.norm(diff) / norm if norm > 0 else np.linalg.norm(diff)
        return bool(rel <= threshold), f"rel_err {rel:.3e} max_abs_diff {max_abs:.3e}"
    if not np.issubdtype(want.dtype, np.floating):
        return bool(np.array_equal(got, want)), f"max abs error {max_abs:.3g}"
    return bool(np.allclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True)), f"max abs error {max_abs:.3g}"


def run_case(rt: ctypes.CDLL, case: Path, repeat: int = 0) -> tuple[str, str]:
    lib = ctypes.CDLL(str(case / "libm.so"))
    model = Model.in_dll(lib, "m_model")
    threshold_file = case / "threshold.txt"
    threshold = float(threshold_file.read_text()) if threshold_file.exists() else None
    details = []
    session = rt.compress_session_create(ctypes.byref(model), str(case / "m.weights").encode(), 0)
    if not session:
        return "failed", rt.compress_last_error().decode()
    try:
        inputs = [np.array(read_tensor(case, f"input_{i}"), DTYPES[model.inputs[i].dtype], order="C")
                  for i in range(model.num_inputs)]  # (np.ascontiguousarray would make a scalar 1-D.)

        def bind(arrays) -> str | None:
            for i, x in enumerate(arrays):
                shape = (ctypes.c_int64 * max(x.ndim, 1))(*x.shape)
                if rt.compress_session_set_input(session, model.inputs[i].name, x.ctypes.data, shape, x.ndim):
                    return rt.compress_last_error().decode()
            return None

        def check(details: list[str]) -> str | None:
            """Reads every output and compares it with the reference; the failure, or None."""
            for i in range(model.num_outputs):
                info = model.outputs[i]
                data, shape, rank = ctypes.c_void_p(), ctypes.POINTER(ctypes.c_int64)(), ctypes.c_int()
                if rt.compress_session_get_output(session, info.name, ctypes.byref(data), ctypes.byref(shape),
                                                  ctypes.byref(rank)):
                    return rt.compress_last_error().decode()
                dims = tuple(shape[d] for d in range(rank.value))
                dtype = np.dtype(DTYPES[info.dtype])
                count = int(np.prod(dims)) if dims else 1
                buf = (ctypes.c_char * (count * dtype.itemsize)).from_address(data.value) if count else b""
                got = np.frombuffer(bytes(buf), dtype).reshape(dims)
                want = read_tensor(case, f"output_{i}")
                if got.shape != want.shape:
                    return f"output {info.name.decode()}: shape {got.shape}, expected {want.shape}"
                ok, detail = matches(got, want, threshold)
                details.append(f"{info.name.decode()}: {detail}")
                if not ok:
                    return f"output {details[-1]}"
            return None

        # Run 1 goes launch by launch; run 2 (float inputs zeroed, same shapes) is recorded as a CUDA graph;
        # runs 3 and 4 replay it on the real inputs again, so a graph that kept run 2's inputs, or results,
        # fails here. Integer inputs keep their values (shapes, indices, steps: zeros may be no valid input),
        # and where zeros fail all the same, run 2 takes the real inputs.
        zeros = [np.zeros_like(x) if np.issubdtype(x.dtype, np.floating) else x for x in inputs]

        def run(arrays) -> str | None:
            if error := bind(arrays):
                return error
            return None if rt.compress_session_run(session) == 0 else rt.compress_last_error().decode()

        for arrays, checked in ((inputs, True), (zeros, False), (inputs, True), (inputs, True)):
            error = run(arrays)
            if error and arrays is zeros:
                error = run(inputs)
            if error:
                return "failed", error
            run_details: list[str] = []
            if checked and (error := check(run_details)):
                return "failed", error
            details = details or run_details
        if repeat:
            # Whole session runs: inputs up, kernels, results back.
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                if rt.compress_session_run(session):
                    return "failed", rt.compress_last_error().decode()
                times.append(time.perf_counter() - start)
            details.append(f"median run {1e3 * float(np.median(times)):.2f} ms over {repeat}")
        return "passed", "; ".join(details) if threshold is not None else ""
    finally:
        rt.compress_session_destroy(session)


def run_in_child(args: argparse.Namespace, case: Path) -> tuple[str, str]:
    repeat = args.repeat if case.name.startswith("model_") else 0
    try:
        done = subprocess.run([sys.executable, __file__, str(args.dir), "--case", case.name,
                               "--repeat", str(repeat)],
                              capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return "failed", "timed out after 600 s"
    lines = done.stdout.strip().splitlines()
    if done.returncode not in (0, 1) or not lines:
        return "failed", f"crashed (exit {done.returncode}): {done.stderr.strip()[-300:]}"
    status, _, reason = lines[-1].partition(" ")
    return status, reason


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--report", type=Path)
    ap.add_argument("--case", help="run this case here and print its result (used by the parent)")
    ap.add_argument("--repeat", type=int, default=20, help="timed session runs of each model after its check")
    args = ap.parse_args()
    if args.case:
        status, reason = run_case(load_runtime(args.dir / "lib"), args.dir / "cases" / args.case,
                                  args.repeat)
        print(status, reason)
        return 0 if status == "passed" else 1
    cases = sorted((args.dir / "cases").iterdir())
    start = time.time()
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        results = dict(zip((c.name for c in cases), pool.map(lambda c: run_in_child(args, c), cases)))
    failed = {k: v for k, v in results.items() if v[0] != "passed"}
    models = {k: v for k, v in results.items() if k.startswith("model_")}
    not_compiled = args.dir / "not_compiled.txt"
    skipped = sorted(not_compiled.read_text().splitlines()) if not_compiled.exists() else []
    lines = [f"{len(results) - len(failed)} of {len(results)} compiled cases passed on the GPU "
             f"({time.time() - start:.0f} s); {len(skipped)} allow-listed cases not compiled ahead of time"]
    lines += [f"MODEL {k[len('model_'):]}: {v[0]} {v[1]}" for k, v in sorted(models.items())]
    lines += [f"FAILED {k}: {v[1]}" for k, v in sorted(failed.items())]
    lines += [f"NOT COMPILED {s}" for s in skipped]
    if args.report:
        args.report.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
