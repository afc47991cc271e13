"""Writes an MLP whose input has a few outlier channels (40x the others' scale),
calibration sets drawn like its inputs, an evaluation input, and the float
reference output: what outlier-aware-quantize is for."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)
OUTLIERS = [3, 17, 40, 58]


def inputs(rows):
    x = rng.standard_normal((rows, 64)).astype(np.float32)
    x[:, OUTLIERS] *= 40
    return x


w1 = (rng.standard_normal((64, 48)) / 8).astype(np.float32)
b1 = rng.standard_normal(48).astype(np.float32)
w2 = (rng.standard_normal((48, 16)) / 7).astype(np.float32)
graph = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
     helper.make_node("Add", ["h", "b1"], ["hb"], name="bias1"),
     helper.make_node("Relu", ["hb"], ["r"], name="relu"),
     helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2")],
    "outlier_mlp",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 16])],
    [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"),
     numpy_helper.from_array(w2, "w2")])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
          os.path.join(out, "mlp.onnx"))

for s in range(2):
    os.makedirs(os.path.join(out, "calib", "set%d" % s), exist_ok=True)
    np.save(os.path.join(out, "calib", "set%d" % s, "x.npy"), inputs(32))
x = inputs(16)
np.save(os.path.join(out, "x.npy"), x)
np.save(os.path.join(out, "expected.npy"), np.maximum(x @ w1 + b1, 0) @ w2)
