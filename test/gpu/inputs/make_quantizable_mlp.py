"""Writes OUT/qmlp.onnx, y = relu(x W1^T + b1) W2^T with K = 256 -> 128 -> 72 and seeded weights, and
OUT/x3.npy, OUT/x9.npy (3 and 9 rows: the GPU's decoding kernel and its GEMM path). Quantized to 4 bits in groups
of 128, the first layer is one the int4 tensor-core kernel takes (N % 16 == 0, K % 128 == 0), the second is not
(N = 72)."""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

K, N1, N2 = 256, 128, 72

out = sys.argv[1]
rng = np.random.default_rng(7)
w1 = (rng.standard_normal((N1, K)) / np.sqrt(K)).astype(np.float32)
b1 = rng.standard_normal(N1).astype(np.float32)
w2 = (rng.standard_normal((N2, N1)) / np.sqrt(N1)).astype(np.float32)
graph = helper.make_graph(
    [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
     helper.make_node("Relu", ["h"], ["r"], name="relu"),
     helper.make_node("MatMul", ["r", "w2t"], ["y"], name="fc2")],
    "qmlp",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", K])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", N2])],
    [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"),
     numpy_helper.from_array(np.ascontiguousarray(w2.T), "w2t")])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), f"{out}/qmlp.onnx")
for rows in (3, 9):
    np.save(f"{out}/x{rows}.npy", rng.standard_normal((rows, K)).astype(np.float32))
