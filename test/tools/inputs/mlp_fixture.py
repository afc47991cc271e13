"""The small MLP the compression passes' end-to-end checks run on (check_pruned.py, check_factorized.py).

y = relu(x W1^T + b1) W2^T with K = 64 -> 96 -> 80, seeded weights, and calibration inputs whose features differ in
scale (so that activation-aware methods choose differently from weight-only ones); plus how to read the blobs of
the MLIR the tools print.
"""
import os
import re
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

K1, N1, N2 = 64, 96, 80


@dataclass
class Mlp:
    W1: np.ndarray
    B1: np.ndarray
    W2: np.ndarray
    calibration: list   # [rows, K1] float32 arrays, one per set
    x_eval: np.ndarray  # [5, K1]
    model_path: str
    calib_dir: str


def write_mlp(work: str, rng: np.random.Generator, calibration_rows: int) -> Mlp:
    """Draws the weights and inputs from `rng` (in a fixed order) and writes WORK/mlp.onnx, WORK/calib/setN/x.npy
    (4 sets of `calibration_rows` rows) and WORK/x.npy."""
    os.makedirs(work, exist_ok=True)
    w1 = rng.standard_normal((N1, K1)).astype(np.float32)
    b1 = rng.standard_normal(N1).astype(np.float32)
    w2 = rng.standard_normal((N2, N1)).astype(np.float32)
    feature_scale = np.exp(rng.standard_normal(K1)).astype(np.float32)
    calibration = [(rng.standard_normal((calibration_rows, K1)) * feature_scale).astype(np.float32)
                   for _ in range(4)]
    x_eval = (rng.standard_normal((5, K1)) * feature_scale).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
         helper.make_node("Add", ["h", "b1"], ["hb"], name="bias1"),
         helper.make_node("Relu", ["hb"], ["r"], name="relu"),
         helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2")],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", K1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", N2])],
        [numpy_helper.from_array(w1.T.copy(), "w1"), numpy_helper.from_array(b1, "b1"),
         numpy_helper.from_array(w2.T.copy(), "w2")])
    model_path = os.path.join(work, "mlp.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), model_path)
    calib_dir = os.path.join(work, "calib")
    for i, x in enumerate(calibration):
        os.makedirs(os.path.join(calib_dir, f"set{i}"), exist_ok=True)
        np.save(os.path.join(calib_dir, f"set{i}", "x.npy"), x)
    np.save(os.path.join(work, "x.npy"), x_eval)
    return Mlp(w1, b1, w2, calibration, x_eval, model_path, calib_dir)


def resources(mlir_text: str) -> dict:
    """Blob name -> bytes from the module's dialect_resources (the first 4 bytes of each are its alignment)."""
    blobs = {}
    for name, hexdata in re.findall(r'^\s*"?([\w.:/-]+)"?: "0x([0-9A-Fa-f]+)"', mlir_text, re.M):
        blobs[name] = bytes.fromhex(hexdata)[4:]
    return blobs
