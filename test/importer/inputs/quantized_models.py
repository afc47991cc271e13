"""Small already-quantized ONNX models and onnxruntime's outputs for them.

`quantized_models.py DIR` writes DIR/<case>.onnx, the inputs DIR/<case>_<input>.npy and onnxruntime's
outputs DIR/<case>_expected_<output>.npy; `quantized_models.py DIR check` runs compress-run (from PATH) on
each case into DIR/out_<case>/ and compares its outputs with them. Integer outputs must be equal; float outputs within TOLERANCE (the
products sum in another order than onnxruntime's)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

RTOL, ATOL = 1e-5, 1e-5
rng = np.random.default_rng(27)


def model(name, nodes, inputs, outputs, inits, opset, ms=False):
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("com.microsoft", 1)] if ms else [])
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=imports, ir_version=10)


def tensor(name, array, dtype=None):
    return numpy_helper.from_array(np.asarray(array, dtype=dtype), name)


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


F, U8, I8, I32 = TensorProto.FLOAT, TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32


def cases():
    """(name, model, {input: array}) for every case."""
    x = rng.standard_normal((3, 8)).astype(np.float32) * 3
    # Standalone QuantizeLinear / DequantizeLinear: per tensor (uint8), per axis (int8), blocked (opset 21).
    yield "q_tensor", model("q_tensor", [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])],
        [vi("x", F, [3, 8])], [vi("q", U8, [3, 8]), vi("y", F, [3, 8])],
        [tensor("s", 0.05, np.float32), tensor("z", 128, np.uint8)], 13), {"x": x}
    yield "q_axis", model("q_axis", [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1),
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=-1)],
        [vi("x", F, [3, 8])], [vi("q", I8, [3, 8]), vi("y", F, [3, 8])],
        [tensor("s", np.linspace(0.01, 0.08, 8), np.float32), tensor("z", np.arange(-4, 4), np.int8)], 13), {"x": x}
    yield "q_block", model("q_block", [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1, block_size=3),
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1, block_size=3)],
        [vi("x", F, [3, 8])], [vi("q", I8, [3, 8]), vi("y", F, [3, 8])],
        [tensor("s", rng.uniform(0.01, 0.05, (3, 3)), np.float32),
         tensor("z", rng.integers(-10, 10, (3, 3)), np.int8)], 21), {"x": x}
    # No zero point: uint8 by default; output_dtype int8 (opset 21); DequantizeLinear of int32 run-time codes.
    yield "q_nozp", model("q_nozp", [
        helper.make_node("QuantizeLinear", ["x", "s"], ["q"]),
        helper.make_node("QuantizeLinear", ["x", "s"], ["q8"], output_dtype=I8),
        helper.make_node("DequantizeLinear", ["i", "s"], ["d"])],
        [vi("x", F, [3, 8]), vi("i", I32, [4])], [vi("q", U8, [3, 8]), vi("q8", I8, [3, 8]), vi("d", F, [4])],
        [tensor("s", 0.02, np.float32)], 21), {"x": x, "i": np.array([-70000, -1, 0, 123456], np.int32)}

    # A scale of shape [1] with a scalar zero point (onnxruntime's quantizer writes biases so), at run time
    # and on a constant weight.
    yield "q_scale1", model("q_scale1", [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"]),
        helper.make_node("DequantizeLinear", ["w", "s", "z"], ["wf"]),
        helper.make_node("MatMul", ["x", "wf"], ["m"])],
        [vi("x", F, [3, 8])], [vi("q", U8, [3, 8]), vi("y", F, [3, 8]), vi("m", F, [3, 2])],
        [tensor("s", [0.05], np.float32), tensor("z", 100, np.uint8),
         tensor("w", rng.integers(0, 256, (8, 2)), np.uint8)], 13), {"x": x}

    # DequantizeLinear of constant weights feeding MatMul / Gemm.
    a = rng.standard_normal((4, 16)).astype(np.float32)
    w8 = rng.integers(-127, 128, (16, 6)).astype(np.int8)
    wu8 = rng.integers(0, 256, (16, 6)).astype(np.uint8)
    # Weight-only int8 per output channel (axis 1 of [K, N]): quantized_linear without zero points.
    yield "dq_matmul_axis", model("dq_matmul_axis", [
        helper.make_node("DequantizeLinear", ["w", "ws"], ["wf"], axis=1),
        helper.make_node("MatMul", ["a", "wf"], ["y"])],
        [vi("a", F, [4, 16])], [vi("y", F, [4, 6])],
        [tensor("w", w8), tensor("ws", rng.uniform(0.001, 0.01, 6), np.float32)], 13), {"a": a}
    # uint8 per tensor with a zero point, activations through QuantizeLinear / DequantizeLinear (static QDQ).
    yield "qdq_matmul_u8", model("qdq_matmul_u8", [
        helper.make_node("QuantizeLinear", ["a", "as", "az"], ["aq"]),
        helper.make_node("DequantizeLinear", ["aq", "as", "az"], ["ad"]),
        helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wf"]),
        helper.make_node("MatMul", ["ad", "wf"], ["y"])],
        [vi("a", F, [4, 16])], [vi("y", F, [4, 6])],
        [tensor("w", wu8), tensor("ws", 0.004, np.float32), tensor("wz", 131, np.uint8),
         tensor("as", 0.03, np.float32), tensor("az", 120, np.uint8)], 13), {"a": a}
    # int8 with nonzero zero points per channel (the op's codes move up by 128).
    yield "dq_matmul_i8zp", model("dq_matmul_i8zp", [
        helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wf"], axis=1),
        helper.make_node("MatMul", ["a", "wf"], ["y"])],
        [vi("a", F, [2, 4, 16])], [vi("y", F, [2, 4, 6])],
        [tensor("w", w8), tensor("ws", rng.uniform(0.001, 0.01, 6), np.float32),
         tensor("wz", rng.integers(-5, 6, 6), np.int8)], 13), {"a": rng.standard_normal((2, 4, 16)).astype(np.float32)}
    # Blocked along K (opset 21): groups of 5 input features, the last one partial.
    yield "dq_matmul_block", model("dq_matmul_block", [
        helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wf"], axis=0, block_size=5),
        helper.make_node("MatMul", ["a", "wf"], ["y"])],
        [vi("a", F, [4, 16])], [vi("y", F, [4, 6])],
        [tensor("w", wu8), tensor("ws", rng.uniform(0.001, 0.01, (4, 6)), np.float32),
         tensor("wz", rng.integers(100, 150, (4, 6)), np.uint8)], 21), {"a": a}
    # Per input feature (axis 0 of [K, N]): not a layout quantized_linear holds; dequantized to compress.linear.
    yield "dq_matmul_per_k", model("dq_matmul_per_k", [
        helper.make_node("DequantizeLinear", ["w", "ws"], ["wf"], axis=0),
        helper.make_node("MatMul", ["a", "wf"], ["y"])],
        [vi("a", F, [4, 16])], [vi("y", F, [4, 6])],
        [tensor("w", w8), tensor("ws", rng.uniform(0.001, 0.01, 16), np.float32)], 13), {"a": a}
    # Gemm with transB and an int32 bias through DequantizeLinear (onnxruntime's QDQ Gemm).
    wt = rng.integers(-127, 128, (6, 16)).astype(np.int8)
    yield "qdq_gemm", model("qdq_gemm", [
        helper.make_node("DequantizeLinear", ["w", "ws"], ["wf"], axis=0),
        helper.make_node("DequantizeLinear", ["b", "bs"], ["bf"], axis=0),
        helper.make_node("Gemm", ["a", "wf", "bf"], ["y"], transB=1)],
        [vi("a", F, [4, 16])], [vi("y", F, [4, 6])],
        [tensor("w", wt), tensor("ws", rng.uniform(0.001, 0.01, 6), np.float32),
         tensor("b", rng.integers(-3000, 3000, 6), np.int32),
         tensor("bs", rng.uniform(0.0001, 0.0002, 6), np.float32)], 13), {"a": a}
    # Conv on a dequantized weight (per output channel).
    yield "dq_conv", model("dq_conv", [
        helper.make_node("DequantizeLinear", ["w", "ws"], ["wf"], axis=0),
        helper.make_node("Conv", ["x", "wf"], ["y"], pads=[1, 1, 1, 1])],
        [vi("x", F, [1, 3, 5, 5])], [vi("y", F, [1, 4, 5, 5])],
        [tensor("w", rng.integers(-127, 128, (4, 3, 3, 3)), np.int8),
         tensor("ws", rng.uniform(0.001, 0.01, 4), np.float32)], 13), \
        {"x": rng.standard_normal((1, 3, 5, 5)).astype(np.float32)}

    # DynamicQuantizeLinear + MatMulInteger (onnxruntime's quantize_dynamic), and the fused contrib op.
    b8 = rng.integers(-127, 128, (16, 6)).astype(np.int8)
    yield "matmul_integer", model("matmul_integer", [
        helper.make_node("DynamicQuantizeLinear", ["a"], ["aq", "as", "az"]),
        helper.make_node("MatMulInteger", ["aq", "b", "az", "bz"], ["acc"]),
        helper.make_node("MatMulInteger", ["u", "v", "uz", "vz"], ["acc2"])],
        [vi("a", F, [2, 4, 16]), vi("u", U8, [3, 5]), vi("v", U8, [5, 2])],
        [vi("aq", U8, [2, 4, 16]), vi("as", F, []), vi("az", U8, []), vi("acc", I32, [2, 4, 6]),
         vi("acc2", I32, [3, 2])],
        [tensor("b", b8), tensor("bz", 0, np.int8), tensor("uz", 200, np.uint8),
         tensor("vz", [7, 250], np.uint8)], 13), \
        {"a": rng.standard_normal((2, 4, 16)).astype(np.float32) * 2,
         "u": rng.integers(0, 256, (3, 5)).astype(np.uint8), "v": rng.integers(0, 256, (5, 2)).astype(np.uint8)}
    yield "dynamic_quantize_matmul", model("dynamic_quantize_matmul", [
        helper.make_node("DynamicQuantizeMatMul", ["a", "b", "bs", "bz", "bias"], ["y"], domain="com.microsoft")],
        [vi("a", F, [4, 16])], [vi("y", F, [4, 6])],
        [tensor("b", b8), tensor("bs", rng.uniform(0.001, 0.01, 6), np.float32),
         tensor("bz", np.zeros(6), np.int8), tensor("bias", rng.standard_normal(6), np.float32)], 13, ms=True), {"a": a}

    # MatMulNBits: 4 bits with packed zero points and K not a multiple of the block; 8 bits without.
    for bits, k, block, zp in ((4, 40, 16, True), (8, 32, 16, False), (4, 32, 32, False)):
        n = 6
        blocks = (k + block - 1) // block
        codes = rng.integers(0, 2 ** bits, (n, blocks * block)).astype(np.uint8)
        if bits == 4:
            packed = (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8).reshape(n, blocks, block // 2)
        else:
            packed = codes.reshape(n, blocks, block)
        inits = [tensor("b", packed), tensor("s", rng.uniform(0.01, 0.1, n * blocks), np.float32)]
        ins = ["a", "b", "s"]
        if zp:
            zps = rng.integers(0, 16, (n, blocks + blocks % 2)).astype(np.uint8)
            inits.append(tensor("z", (zps[:, 0::2] | (zps[:, 1::2] << 4)).reshape(-1).astype(np.uint8)))
            ins.append("z")
        name = f"nbits{bits}_k{k}"
        yield name, model(name, [
            helper.make_node("MatMulNBits", ins, ["y"], domain="com.microsoft", K=k, N=n, bits=bits,
                             block_size=block)],
            [vi("a", F, [2, 3, k])], [vi("y", F, [2, 3, n])], inits, 13, ms=True), \
            {"a": rng.standard_normal((2, 3, k)).astype(np.float32)}


def main():
    out = Path(sys.argv[1])
    check = len(sys.argv) > 2 and sys.argv[2] == "check"
    bad = []
    for name, m, feeds in cases():
        if not check:
            out.mkdir(parents=True, exist_ok=True)
            onnx.save(m, out / f"{name}.onnx")
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            session = ort.InferenceSession(str(out / f"{name}.onnx"), options, providers=["CPUExecutionProvider"])
            results = session.run(None, feeds)
            for k, v in feeds.items():
                np.save(out / f"{name}_{k}.npy", v)
            for o, r in zip(session.get_outputs(), results):
                np.save(out / f"{name}_expected_{o.name}.npy", r)
            continue
        cmd = ["compress-run", str(out / f"{name}.onnx"), "--output-dir", str(out / f"out_{name}")]
        for k in feeds:
            cmd += ["--input", f"{k}={out / f'{name}_{k}.npy'}"]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode:
            bad.append(f"{name}: compress-run failed: {run.stderr.strip()}")
            continue
        for o in m.graph.output:
            ref = np.load(out / f"{name}_expected_{o.name}.npy")
            got = np.load(out / f"out_{name}" / f"{o.name}.npy")
            if got.shape != ref.shape or got.dtype != ref.dtype:
                bad.append(f"{name}/{o.name}: {got.dtype}{list(got.shape)} vs {ref.dtype}{list(ref.shape)}")
            elif ref.dtype.kind == "f" and not np.allclose(got, ref, rtol=RTOL, atol=ATOL):
                bad.append(f"{name}/{o.name}: max difference {np.abs(got - ref).max()}")
            elif ref.dtype.kind != "f" and not np.array_equal(got, ref):
                bad.append(f"{name}/{o.name}: {(got != ref).sum()} of {ref.size} differ")
    if check:
        print("\n".join(bad) if bad else "all outputs match onnxruntime")
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
