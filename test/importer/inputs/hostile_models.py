"""Writes the hostile models of hostile-models.test into DIR: each breaks one rule a loader must enforce (the
file does not say so itself; onnx.helper writes whatever it is given). Usage: hostile_models.py DIR"""
import os
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
X = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
Y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)


def save(name, nodes, inputs=(X,), outputs=(Y,), inits=(), opset=17):
    graph = helper.make_graph(nodes, name, list(inputs), list(outputs), list(inits))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), out / f"{name}.onnx")


# A cycle: n1 reads what n2 writes from n1's output.
save("cycle", [helper.make_node("Relu", ["b"], ["a"], name="n1"), helper.make_node("Add", ["a", "x"], ["b"], name="n2"),
               helper.make_node("Relu", ["b"], ["y"], name="n3")])
# Two nodes write one value.
save("written-twice", [helper.make_node("Relu", ["x"], ["y"], name="n1"), helper.make_node("Relu", ["x"], ["y"], name="n2")])
# A required input left out.
save("missing-input", [helper.make_node("Relu", [""], ["y"], name="n1")])
# Shapes that lie: a negative dimension, an input of 2^80 elements, an initializer whose dims overflow int64 and
# one whose data is shorter than its shape.
save("negative-dim", [helper.make_node("Relu", ["x"], ["y"], name="n1")],
     inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [-5, 3])])
save("huge-input", [helper.make_node("Relu", ["x"], ["y"], name="n1")],
     inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [1 << 40, 1 << 40])])
overflow = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 62, 4], raw_data=b"\0" * 16)
save("overflowing-dims", [helper.make_node("Add", ["x", "w"], ["y"], name="n1")], inits=[overflow])
short = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1000, 1000], raw_data=b"\0" * 4)
save("short-initializer", [helper.make_node("Add", ["x", "w"], ["y"], name="n1")], inits=[short])
# A Range of 2^40 elements from three scalars: built as IR, not folded (folding it hung the importer); and one
# whose output no process could address.
ints = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
I64 = helper.make_tensor_value_info("y", TensorProto.INT64, None)
save("huge-range", [helper.make_node("Range", ["a", "b", "c"], ["y"], name="rg")], outputs=[I64],
     inits=[ints("a", 0), ints("b", 1 << 40), ints("c", 1)])
save("unaddressable-range", [helper.make_node("Range", ["a", "b", "c"], ["y"], name="rg")], outputs=[I64],
     inits=[ints("a", 0), ints("b", 1 << 50), ints("c", 1)])
# External data through a symbolic link to a file outside the model's folder.
(out / "outside").mkdir(exist_ok=True)
(out / "outside" / "w.bin").write_bytes(np.ones(6, np.float32).tobytes())
(out / "linked").mkdir(exist_ok=True)
link = out / "linked" / "w.bin"
if not link.is_symlink():
    os.symlink(out / "outside" / "w.bin", link)
external = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2, 3], data_location=TensorProto.EXTERNAL)
external.external_data.add(key="location", value="w.bin")
graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"], name="n1")], "linked", [X], [Y], [external])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), out / "linked" / "model.onnx")
# A model whose output needs 720 GB when run: the run must fail, not the process.
big = helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])
save("needs-720-gb", [helper.make_node("ConstantOfShape", ["s"], ["c"], name="fill", value=big),
                      helper.make_node("Add", ["c", "x"], ["y"], name="add")],
     inits=[ints("s", [300000, 100000, 1, 1])])
np.save(out / "x.npy", np.ones((2, 3), np.float32))
