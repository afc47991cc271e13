"""Checks compress-run's output for the quantized `mlp` model against numpy:
the same MLP with each weight quantised by RTN as compress-quantize defines it
(per output channel and group, symmetric or with zero points) and restored."""
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def rtn(w_kn: np.ndarray, bits: int, group: int, symmetric: bool) -> np.ndarray:
    """Quantise and restore a MatMul weight given as [K, N], row by output channel."""
    w = w_kn.T.astype(np.float64)  # [N, K], as compress.linear holds it
    n, k = w.shape
    group = group or k  # 0: one scale per output channel
    g = w.reshape(n, k // group, group)
    lo = np.minimum(g.min(axis=2, keepdims=True), 0)
    hi = np.maximum(g.max(axis=2, keepdims=True), 0)
    if symmetric:
        qmax = 2 ** (bits - 1) - 1
        scale = (np.maximum(-lo, hi) / (qmax + 0.5)).astype(np.float32).astype(np.float64)
        scale[scale == 0] = 1
        q = np.clip(np.round(g / scale), -qmax - 1, qmax)
        restored = q * scale
    else:
        qmax = 2 ** bits - 1
        scale = (hi - lo) / qmax
        scale[scale == 0] = 1
        zero = np.clip(np.round(-lo / scale), 0, qmax)
        q = np.clip(np.round(g / scale) + zero, 0, qmax)
        restored = (q - zero) * scale
    return restored.astype(np.float32).reshape(n, k).T


def main():
    folder, bits, group, symmetric, output = sys.argv[1:6]
    model_name = sys.argv[6] if len(sys.argv) > 6 else "mlp"
    bits, group, symmetric = int(bits), int(group), symmetric == "true"
    model = onnx.load(f"{folder}/{model_name}.onnx")
    weights = {t.name: numpy_helper.to_array(t, base_dir=folder) for t in model.graph.initializer}
    if model_name == "wide":
        x = np.load(f"{folder}/x_wide.npy")
        expected = x @ rtn(weights["w"], bits, group, symmetric)
        exact = x @ weights["w"]
    else:
        x = np.load(f"{folder}/x.npy")
        w1 = rtn(weights["w1"], bits, group, symmetric)
        w2 = rtn(weights["w2"], bits, group, symmetric)
        expected = np.maximum(x @ w1 + weights["b1"], 0) @ w2
        exact = np.maximum(x @ weights["w1"] + weights["b1"], 0) @ weights["w2"]
    got = np.load(output)
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-4), (got, expected)
    assert not np.allclose(got, exact, rtol=1e-6, atol=1e-6), "the weights were not quantised"


if __name__ == "__main__":
    main()
