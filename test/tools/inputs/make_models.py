"""Writes the small models and inputs that the compress-run tests use."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)

# y = Gelu-free MLP block: relu(x @ w1 + b1) @ w2, with w1 in an external file.
w1 = rng.standard_normal((8, 16)).astype(np.float32)
b1 = rng.standard_normal(16).astype(np.float32)
w2 = rng.standard_normal((16, 4)).astype(np.float32)
graph = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
     helper.make_node("Add", ["h", "b1"], ["hb"], name="bias1"),
     helper.make_node("Relu", ["hb"], ["r"], name="relu"),
     helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2")],
    "mlp",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
    [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"),
     numpy_helper.from_array(w2, "w2")])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
onnx.save(model, os.path.join(out, "mlp.onnx"), save_as_external_data=True,
          all_tensors_to_one_file=True, location="mlp.weights", size_threshold=0)

x = rng.standard_normal((3, 8)).astype(np.float32)
np.save(os.path.join(out, "x.npy"), x)
np.save(os.path.join(out, "expected.npy"), np.maximum(x @ w1 + b1, 0) @ w2)
np.save(os.path.join(out, "x_wrong.npy"), rng.standard_normal((3, 7)).astype(np.float32))
np.save(os.path.join(out, "x_int.npy"), np.ones((3, 8), np.int64))

# The same model pointing its external data outside the model's folder.
escaped = onnx.load(os.path.join(out, "mlp.onnx"), load_external_data=False)
for init in escaped.graph.initializer:
    for entry in init.external_data:
        if entry.key == "location":
            entry.value = "../mlp.weights"
onnx.save(escaped, os.path.join(out, "escaped.onnx"))

# A weight holding NaN.
w_nan = w2.copy()
w_nan[3, 1] = np.nan
poisoned = helper.make_model(
    helper.make_graph(
        [helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2")], "poisoned",
        [helper.make_tensor_value_info("r", TensorProto.FLOAT, [3, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])],
        [numpy_helper.from_array(w_nan, "w2")]),
    opset_imports=[helper.make_opsetid("", 17)])
onnx.save(poisoned, os.path.join(out, "nan.onnx"))

# The evaluation input as the only calibration set: GPTQ then minimises the
# very error the test measures.
os.makedirs(os.path.join(out, "calib_x", "set0"), exist_ok=True)
np.save(os.path.join(out, "calib_x", "set0", "x.npy"), x)
os.makedirs(os.path.join(out, "badcalib", "set0"), exist_ok=True)
np.save(os.path.join(out, "badcalib", "set0", "z.npy"), np.ones((2, 8), np.float32))

# A wider layer, whose groups fill whole AVX-512 vectors (the fused
# quantized kernel): x [2, 256] @ w [256, 32].
w_wide = rng.standard_normal((256, 32)).astype(np.float32)
wide = helper.make_model(
    helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")], "wide",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 32])],
        [numpy_helper.from_array(w_wide, "w")]),
    opset_imports=[helper.make_opsetid("", 17)])
onnx.save(wide, os.path.join(out, "wide.onnx"))
np.save(os.path.join(out, "x_wide.npy"), rng.standard_normal((2, 256)).astype(np.float32))

# A layer called with any number of rows (64 rows of float activations take
# the dequantise-then-sgemm kernel, few rows the register kernels) and 3
# tiles of 16 channels: x [rows, 256] @ w [256, 48].
w_tall = rng.standard_normal((256, 48)).astype(np.float32)
tall = helper.make_model(
    helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")], "tall",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", 48])],
        [numpy_helper.from_array(w_tall, "w")]),
    opset_imports=[helper.make_opsetid("", 17)])
onnx.save(tall, os.path.join(out, "tall.onnx"))
np.save(os.path.join(out, "x_tall.npy"), rng.standard_normal((64, 256)).astype(np.float32))
# Row counts on both sides of every kernel switch: one artifact must compute
# the same numerics for all of them.
for rows in (1, 15, 16, 128):
    np.save(os.path.join(out, f"x_tall_{rows}.npy"),
            rng.standard_normal((rows, 256)).astype(np.float32))
