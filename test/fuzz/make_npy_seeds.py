"""Writes fuzz-npy's seed corpus: .npy files of every dtype the readers take (first byte 0) and .npz archives,
stored and deflated (first byte 1), as numpy writes them. Usage: make_npy_seeds.py DIR"""
import io
import sys
from pathlib import Path

import numpy as np

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)
dtypes = ["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "?"]
for i, dtype in enumerate(dtypes):
    for shape in [(), (3,), (2, 3), (0, 4)]:
        buf = io.BytesIO()
        np.save(buf, (rng.standard_normal(shape) * 10).astype(dtype))
        (out / f"npy-{dtype.replace('?', 'b')}-{len(shape)}-{i}").write_bytes(b"\0" + buf.getvalue())
for compressed in (False, True):
    buf = io.BytesIO()
    arrays = {"x": rng.standard_normal((2, 3)).astype("f4"), "ids": np.arange(5, dtype="i8")}
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    (out / f"npz-{'deflated' if compressed else 'stored'}").write_bytes(b"\1" + buf.getvalue())
