"""Writes the same calibration sets for the mlp of make_models.py in every form
--calibration reads, and folders that each hold one mistake.

Usage: make_calibration.py OUT, where OUT already holds make_models.py's x.npy.
"""
import os
import sys
import zipfile

import numpy as np
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
rng = np.random.default_rng(1)
# The evaluation input and two others, all [3, 8]: compress-run compiles the
# model for the shape of its --input.
sets = [np.load(os.path.join(out, "x.npy"))] + [
    rng.standard_normal((3, 8)).astype(np.float32) for _ in range(2)]


def folder(*parts):
    path = os.path.join(out, *parts)
    os.makedirs(path, exist_ok=True)
    return path


def write_pb(path, tensor):
    with open(path, "wb") as f:
        f.write(tensor.SerializeToString())


for i, x in enumerate(sets):
    np.save(os.path.join(folder("npy", f"set{i}"), "x.npy"), x)
    np.savez(os.path.join(folder("npz_stored"), f"set{i}.npz"), x=x)
    np.savez_compressed(os.path.join(folder("npz_deflated"), f"set{i}.npz"), x=x)
    # Named, with raw_data, beside the expected output as the ONNX test data
    # folders have it; unnamed, with float_data.
    named = folder("pb_named", f"test_data_set_{i}")
    write_pb(os.path.join(named, "input_0.pb"), numpy_helper.from_array(x, "x"))
    write_pb(os.path.join(named, "output_0.pb"),
             numpy_helper.from_array(np.zeros((3, 4), np.float32), "y"))
    write_pb(os.path.join(folder("pb_unnamed", f"test_data_set_{i}"), "input_0.pb"),
             helper.make_tensor("", TensorProto.FLOAT, x.shape, x.flatten().tolist()))

# The archives are what the test claims they are.
for form, method in [("npz_stored", zipfile.ZIP_STORED), ("npz_deflated", zipfile.ZIP_DEFLATED)]:
    with zipfile.ZipFile(os.path.join(out, form, "set0.npz")) as z:
        assert [m.compress_type for m in z.infolist()] == [method], form

x = sets[0]
np.save(os.path.join(folder("err_extra", "set0"), "x.npy"), x)
np.save(os.path.join(folder("err_extra", "set0"), "z.npy"), x)
np.save(os.path.join(folder("err_type", "set0"), "x.npy"), x.astype(np.int64))
np.save(os.path.join(folder("err_rank", "set0"), "x.npy"), x[..., None])
np.save(os.path.join(folder("err_dim", "set0"), "x.npy"), np.ones((2, 5), np.float32))
np.savez(os.path.join(folder("err_npz_shape"), "set0.npz"), x=x[:, :5])
nan, inf = x.copy(), x.copy()
nan.flat[3] = np.nan
inf.flat[5] = -np.inf
np.save(os.path.join(folder("err_nan", "set0"), "x.npy"), nan)
np.savez(os.path.join(folder("err_inf"), "set0.npz"), x=inf)
write_pb(os.path.join(folder("err_pb_type", "test_data_set_0"), "input_0.pb"),
         numpy_helper.from_array(x.astype(np.int64), "x"))
write_pb(os.path.join(folder("err_pb_index", "test_data_set_0"), "input_1.pb"),
         numpy_helper.from_array(x, ""))
write_pb(os.path.join(folder("err_pb_twice", "test_data_set_0"), "input_0.pb"),
         numpy_helper.from_array(x, ""))
write_pb(os.path.join(folder("err_pb_twice", "test_data_set_0"), "input_1.pb"),
         numpy_helper.from_array(x, "x"))
with open(os.path.join(folder("err_pb_garbage", "test_data_set_0"), "input_0.pb"), "wb") as f:
    f.write(b"\xff\xff\xff\xff")
np.save(os.path.join(folder("err_mixed", "set0"), "x.npy"), x)
np.savez(os.path.join(folder("err_mixed"), "set1.npz"), x=x)
np.save(os.path.join(folder("err_mixed_set", "set0"), "x.npy"), x)
write_pb(os.path.join(folder("err_mixed_set", "set0"), "input_0.pb"),
         numpy_helper.from_array(x, "x"))
np.save(os.path.join(folder("err_unknown", "set0"), "x.npy"), x)
with open(os.path.join(folder("err_unknown"), "README.txt"), "w") as f:
    f.write("calibration data\n")
np.save(os.path.join(folder("err_unknown_in_set", "set0"), "x.npy"), x)
with open(os.path.join(folder("err_unknown_in_set", "set0"), "notes.txt"), "w") as f:
    f.write("calibration data\n")
folder("err_empty")
np.savez_compressed(os.path.join(folder("err_npz_truncated"), "set0.npz"), x=x)
with open(os.path.join(out, "err_npz_truncated", "set0.npz"), "r+b") as f:
    f.truncate(100)
