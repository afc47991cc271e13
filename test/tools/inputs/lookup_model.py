"""Writes lookup.onnx: an embedding of 10 rows looked up by `ids` [batch,
seq], beside `mask` [batch, seq] (both sizes symbolic and shared), and the
inputs of the run-time checks: in-range ids, ids with 10 (one past the
table) and -11, and a mask whose seq differs from the ids'.
Usage: lookup_model.py OUT_DIR."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
table = np.arange(40, dtype=np.float32).reshape(10, 4)
graph = helper.make_graph(
    [helper.make_node("Gather", ["table", "ids"], ["rows"], name="embed", axis=0),
     helper.make_node("Cast", ["mask"], ["mask_f"], name="cast", to=TensorProto.FLOAT)],
    "lookup",
    [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"]),
     helper.make_tensor_value_info("mask", TensorProto.INT64, ["batch", "seq"])],
    [helper.make_tensor_value_info("rows", TensorProto.FLOAT, ["batch", "seq", 4]),
     helper.make_tensor_value_info("mask_f", TensorProto.FLOAT, ["batch", "seq"])],
    [numpy_helper.from_array(table, "table")])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
onnx.checker.check_model(model)
onnx.save(model, os.path.join(out, "lookup.onnx"))
np.save(os.path.join(out, "ids.npy"), np.array([[1, -1, 9]], np.int64))
np.save(os.path.join(out, "ids_past_end.npy"), np.array([[1, 10, 2]], np.int64))
np.save(os.path.join(out, "ids_before_start.npy"), np.array([[-11, 0, 2]], np.int64))
np.save(os.path.join(out, "mask.npy"), np.ones((1, 3), np.int64))
np.save(os.path.join(out, "mask_longer.npy"), np.ones((1, 4), np.int64))
np.save(os.path.join(out, "expected_rows.npy"), table[np.array([[1, -1, 9]])])
