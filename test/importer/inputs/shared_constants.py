"""Writes a model whose layers share constants in ways the importer must keep
apart, its input, and onnxruntime's outputs on it (the expected values):
two Gemms sharing B and C with different alpha and beta, and two MatMuls by
initializers whose names differ only in characters a blob name cannot hold
('w/a' and 'w_a'). Usage: shared_constants.py OUT_DIR."""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
rng = np.random.default_rng(3)
b = rng.standard_normal((4, 3)).astype(np.float32)
c = rng.standard_normal((3,)).astype(np.float32)
w_slash = rng.standard_normal((4, 3)).astype(np.float32)
w_underscore = rng.standard_normal((4, 3)).astype(np.float32)
nodes = [
    helper.make_node("Gemm", ["x", "b", "c"], ["y1"], name="gemm1", alpha=1.0, beta=1.0),
    helper.make_node("Gemm", ["x", "b", "c"], ["y2"], name="gemm2", alpha=0.5, beta=2.0),
    helper.make_node("MatMul", ["x", "w/a"], ["y3"], name="slash"),
    helper.make_node("MatMul", ["x", "w_a"], ["y4"], name="underscore"),
]
outputs = [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, [2, 3]) for i in range(1, 5)]
graph = helper.make_graph(
    nodes, "shared_constants", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
    outputs, [numpy_helper.from_array(b, "b"), numpy_helper.from_array(c, "c"),
              numpy_helper.from_array(w_slash, "w/a"), numpy_helper.from_array(w_underscore, "w_a")])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
onnx.checker.check_model(model)
onnx.save(model, os.path.join(out, "shared.onnx"))
x = rng.standard_normal((2, 4)).astype(np.float32)
np.save(os.path.join(out, "x.npy"), x)
session = ort.InferenceSession(os.path.join(out, "shared.onnx"), providers=["CPUExecutionProvider"])
for name, value in zip([o.name for o in outputs], session.run(None, {"x": x})):
    np.save(os.path.join(out, f"expected_{name}.npy"), value)
