"""Writes fuzz-calibration-sets' seed corpus: one set of the target's model (x float32 [?, 4], ids int64 [2]) in each
form the reader takes, valid and with a wrong dtype or shape, as numpy and onnx write them. Each seed is the form's
byte (0 .npy folder, 1 .npz, 2 .pb folder), the two-byte little-endian length of the first file, then the files.
Usage: make_calibration_seeds.py DIR"""
import io
import struct
import sys
from pathlib import Path

import numpy as np
from onnx import numpy_helper

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)


def npy(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


variants = {
    "valid": (np.arange(12, dtype="f4").reshape(3, 4), np.array([1, 2], dtype="i8")),
    "x-f64": (np.arange(12, dtype="f8").reshape(3, 4), np.array([1, 2], dtype="i8")),
    "x-3x5": (np.zeros((3, 5), dtype="f4"), np.array([1, 2], dtype="i8")),
    "ids-3": (np.zeros((1, 4), dtype="f4"), np.array([1, 2, 3], dtype="i8")),
    "x-nan": (np.full((1, 4), np.nan, dtype="f4"), np.array([1, 2], dtype="i8")),
}
for name, (x, ids) in variants.items():
    first, second = npy(x), npy(ids)
    (out / f"npy-{name}").write_bytes(b"\0" + struct.pack("<H", len(first)) + first + second)
    buf = io.BytesIO()
    np.savez_compressed(buf, x=x, ids=ids)
    (out / f"npz-{name}").write_bytes(b"\1\0\0" + buf.getvalue())
    first = numpy_helper.from_array(x, "x").SerializeToString()
    second = numpy_helper.from_array(ids, "ids").SerializeToString()
    (out / f"pb-{name}").write_bytes(b"\2" + struct.pack("<H", len(first)) + first + second)
