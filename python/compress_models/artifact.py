"""Runs a compress-compile artifact (lib<name>.so + <name>.weights) in this process through its C API
(include/compress/compress_runtime.h) with ctypes, so that repeated calls (token-by-token decoding) cost no process
start or weights load.

    art = Artifact("art/libmodel.so", threads=2)
    outputs = art.run({"input_ids": ids, ...})   # dict of numpy arrays (copies)
"""
import ctypes
import subprocess
import time
from pathlib import Path

import numpy as np

def compile_model(binary: Path, model: Path, out: Path, name: str, *options: str, passes: str = "",
                  calibration: Path | None = None) -> float:
    """`compress-compile MODEL -o OUT --name NAME OPTIONS... [--passes] [--calibration]`; returns the seconds it
    took, or raises RuntimeError with the command and the end of its output."""
    cmd = [str(binary), str(model), "-o", str(out), "--name", name, *options]
    if passes:
        cmd.append(f"--passes={passes}")
    if calibration:
        cmd.append(f"--calibration={calibration}")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{(proc.stderr + proc.stdout)[-3000:]}")
    return time.perf_counter() - start


# compress_dtype, in the header's order.
_DTYPES = [np.float32, np.float64, np.float16, np.int8, np.int16, np.int32, np.int64,
           np.uint8, np.uint16, np.uint32, np.uint64, np.bool_]


class _TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_int),
                ("dims", ctypes.POINTER(ctypes.c_int64)), ("dim_names", ctypes.POINTER(ctypes.c_char_p))]


class _Model(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("num_inputs", ctypes.c_int), ("inputs", ctypes.POINTER(_TensorInfo)),
                ("num_outputs", ctypes.c_int), ("outputs", ctypes.POINTER(_TensorInfo)),
                ("weights_bytes", ctypes.c_uint64), ("invoke", ctypes.c_void_p),
                ("num_index_sites", ctypes.c_int), ("index_sites", ctypes.POINTER(ctypes.c_char_p))]


class Artifact:
    def __init__(self, library: Path, threads: int = 0):
        library = Path(library).resolve()
        name = library.name[len("lib"):-len(".so")]
        self.lib = ctypes.CDLL(str(library), mode=ctypes.RTLD_LOCAL)
        lib = self.lib
        lib.compress_session_create.restype = ctypes.c_void_p
        lib.compress_session_create.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        lib.compress_session_set_input.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p,
                                                   ctypes.POINTER(ctypes.c_int64), ctypes.c_int]
        lib.compress_session_run.argtypes = [ctypes.c_void_p]
        lib.compress_session_get_output.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                                    ctypes.POINTER(ctypes.c_void_p),
                                                    ctypes.POINTER(ctypes.POINTER(ctypes.c_int64)),
                                                    ctypes.POINTER(ctypes.c_int)]
        lib.compress_session_destroy.argtypes = [ctypes.c_void_p]
        lib.compress_last_error.restype = ctypes.c_char_p
        self.model = _Model.in_dll(lib, f"{name}_model")
        self.inputs = {self.model.inputs[i].name.decode(): _DTYPES[self.model.inputs[i].dtype]
                       for i in range(self.model.num_inputs)}
        self.outputs = {self.model.outputs[i].name.decode(): _DTYPES[self.model.outputs[i].dtype]
                        for i in range(self.model.num_outputs)}
        self.weights_path = library.parent / f"{name}.weights"
        self.session = lib.compress_session_create(ctypes.addressof(self.model), str(self.weights_path).encode(),
                                                   threads)
        if not self.session:
            raise RuntimeError(self._error())

    def _error(self) -> str:
        return self.lib.compress_last_error().decode()

    def run(self, inputs: dict[str, np.ndarray], outputs: list[str] | None = None) -> dict[str, np.ndarray]:
        keep = []  # the data must stay alive until the run
        for name, dtype in self.inputs.items():
            value = np.ascontiguousarray(inputs[name], dtype)
            shape = (ctypes.c_int64 * max(value.ndim, 1))(*value.shape)
            keep.append((value, shape))
            if self.lib.compress_session_set_input(self.session, name.encode(), value.ctypes.data, shape,
                                                   value.ndim):
                raise RuntimeError(self._error())
        if self.lib.compress_session_run(self.session):
            raise RuntimeError(self._error())
        result = {}
        for name in outputs or self.outputs:
            data, shape, rank = ctypes.c_void_p(), ctypes.POINTER(ctypes.c_int64)(), ctypes.c_int()
            if self.lib.compress_session_get_output(self.session, name.encode(), ctypes.byref(data),
                                                    ctypes.byref(shape), ctypes.byref(rank)):
                raise RuntimeError(self._error())
            dims = tuple(shape[i] for i in range(rank.value))
            dtype = np.dtype(self.outputs[name])
            count = int(np.prod(dims)) if dims else 1
            if count == 0 or not data.value:
                result[name] = np.zeros(dims, dtype)
            else:
                buf = (ctypes.c_char * (count * dtype.itemsize)).from_address(data.value)
                result[name] = np.frombuffer(buf, dtype).reshape(dims).copy()
        return result

    def close(self) -> None:
        if self.session:
            self.lib.compress_session_destroy(self.session)
            self.session = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
