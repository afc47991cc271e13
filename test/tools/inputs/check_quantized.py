"""Checks compress-run's output for a quantized test model against numpy: the
same model with each weight quantised by RTN as compress-quantize defines it
(per output channel and group, symmetric or with zero points) and restored,
and with --int8-activations each layer's input quantised per row to int8 as
compress.quantized_linear defines it."""
import argparse

import numpy as np
import onnx
from onnx import numpy_helper


def rtn(w_kn: np.ndarray, bits: int, group: int, symmetric: bool) -> np.ndarray:
    """Quantise and restore a MatMul weight given as [K, N], row by output channel."""
    w = w_kn.T.astype(np.float64)  # [N, K], as compress.linear holds it
    n, k = w.shape
    group = group or k  # 0: one scale per output channel
    if k % group:  # a partial last group: each group on its own
        return np.concatenate([rtn(w_kn[start:start + group], bits, 0, symmetric)
                               for start in range(0, k, group)], axis=0)
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


def int8_rows(x: np.ndarray) -> np.ndarray:
    """Per-row int8 quantisation and back: scale max|x| / 127 in float32,
    round half to even of x / scale."""
    largest = np.abs(x).max(axis=-1, keepdims=True)
    scale = np.where(largest > 0, largest / np.float32(127), np.float32(1)).astype(np.float32)
    q = np.clip(np.round(x / scale), -127, 127)
    return (q * scale).astype(np.float32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("bits", type=int)
    parser.add_argument("group", type=int)
    parser.add_argument("symmetric", choices=["true", "false"])
    parser.add_argument("output")
    parser.add_argument("model", nargs="?", default="mlp")
    parser.add_argument("--int8-activations", action="store_true")
    parser.add_argument("--input", help="the input file (default: x_MODEL.npy)")
    args = parser.parse_args()
    folder, bits, group, symmetric = args.folder, args.bits, args.group, args.symmetric == "true"
    model = onnx.load(f"{folder}/{args.model}.onnx")
    weights = {t.name: numpy_helper.to_array(t, base_dir=folder) for t in model.graph.initializer}
    act = int8_rows if args.int8_activations else (lambda x: x)
    if args.model in ("wide", "tall"):
        x = np.load(args.input or f"{folder}/x_{args.model}.npy")
        expected = act(x) @ rtn(weights["w"], bits, group, symmetric)
        float_activations = x @ rtn(weights["w"], bits, group, symmetric)
        exact = x @ weights["w"]
    else:
        x = np.load(f"{folder}/x.npy")
        w1 = rtn(weights["w1"], bits, group, symmetric)
        w2 = rtn(weights["w2"], bits, group, symmetric)
        expected = np.maximum(act(x) @ w1 + weights["b1"], 0)
        expected = act(expected) @ w2
        float_activations = np.maximum(x @ w1 + weights["b1"], 0) @ w2
        exact = np.maximum(x @ weights["w1"] + weights["b1"], 0) @ weights["w2"]
    got = np.load(args.output)
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-4), (got, expected)
    assert not np.allclose(got, exact, rtol=1e-6, atol=1e-6), "the weights were not quantised"
    if args.int8_activations:
        assert not np.allclose(got, float_activations, rtol=1e-6, atol=1e-6), \
            "the activations were not quantised"


if __name__ == "__main__":
    main()
