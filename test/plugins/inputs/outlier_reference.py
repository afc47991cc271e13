"""An independent numpy implementation of outlier-aware-quantize on the MLP of
make_outlier_mlp.py: per layer, the top-k input channels by L2 norm over the
calibration sets (measured on the float model) keep their float weights, the
others are rounded to symmetric `bits`-bit codes with a scale per group of
`group` inputs (max |w| / (2^(bits-1) - 1/2), round half to even). Checks
that the tool's output on x.npy is what this computes.
Usage: outlier_reference.py DIR TOP_K BITS GROUP OUTPUT.npy"""
import glob
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

folder, top_k, bits, group, output = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]
weights = {t.name: numpy_helper.to_array(t)
           for t in onnx.load(os.path.join(folder, "mlp.onnx")).graph.initializer}
w1, b1, w2 = weights["w1"].T, weights["b1"], weights["w2"].T  # [N, K]


def quantize(w, inputs):
    norms = np.linalg.norm(inputs.astype(np.float64), axis=0)
    outliers = np.sort(np.argsort(-norms, kind="stable")[:top_k])
    rest = w.copy()
    rest[:, outliers] = 0
    qmax = 2 ** (bits - 1) - 1
    approx = np.empty_like(w)
    for start in range(0, w.shape[1], group):
        block = rest[:, start:start + group]
        scale = np.abs(block).max(axis=1, keepdims=True) / np.float32(qmax + 0.5)
        scale[scale == 0] = 1
        codes = np.clip(np.rint(block.astype(np.float64) / scale), -qmax - 1, qmax)
        approx[:, start:start + group] = codes * scale
    approx[:, outliers] = w[:, outliers]
    return approx


calibration = np.concatenate(
    [np.load(f) for f in sorted(glob.glob(os.path.join(folder, "calib", "*", "x.npy")))])
q1 = quantize(w1, calibration)
q2 = quantize(w2, np.maximum(calibration @ w1.T + b1, 0))
x = np.load(os.path.join(folder, "x.npy"))
expected = np.maximum(x @ q1.T + b1, 0) @ q2.T
got = np.load(output)
assert np.allclose(got, expected, rtol=1e-4, atol=1e-4), np.abs(got - expected).max()
print("matches the numpy reference (max difference %.2e)" % np.abs(got - expected).max())
