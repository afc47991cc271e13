"""Checks compress-factorize on a small MLP against independent numpy references.

y = relu(x W1^T + b1) W2^T with K = 64 -> 96 -> 80 and calibration inputs whose features differ in scale (so that
the weighted SVDs differ from the plain one), enough rows that every layer's Gram matrix is positive definite. For
each configuration the script runs compress-opt on the ONNX model, decodes the factors of every
compress.low_rank_linear (float blobs, or int8 / packed int4 codes with per-row or per-group scales) and checks:
  - ranks (ratio=, energy=, rank= and the rule that a rank saving nothing leaves the layer dense);
  - up * down against numpy's truncated SVD of W weighted as the method says (plain, whitened by the Cholesky factor
    of the inputs' Gram matrix, Fisher row importances or the activation proxy), the second layer's calibration
    inputs computed from the first layer as factorized (the layer-by-layer protocol);
  - 8- and 4-bit factors against numpy's round-to-nearest of numpy's factors;
  - EoRA compensation of an int4 model against numpy's whitened SVD of W - W_quantized;
  - the report's output errors, and compress-run's outputs against numpy with the decoded factors.

Usage: check_factorized.py WORKDIR (compress-opt and compress-run on PATH).
"""
import json
import os
import re
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mlp_fixture import K1, N1, N2, resources, write_mlp  # noqa: E402

work = sys.argv[1]
rng = np.random.default_rng(0)
mlp = write_mlp(work, rng, calibration_rows=64)
W1, B1, W2, calibration, x_eval = mlp.W1, mlp.B1, mlp.W2, mlp.calibration, mlp.x_eval
model_path, calib_dir = mlp.model_path, mlp.calib_dir
SHAPES = {"fc1": (N1, K1), "fc2": (N2, N1)}
X1 = np.concatenate(calibration).astype(np.float64)
# FWSVD's row importances: fc1's per row ([N]), fc2's per weight ([N, K], summed per row).
importance_dir = os.path.join(work, "importance")
os.makedirs(importance_dir, exist_ok=True)
IMPORTANCE = {"fc1": np.exp(rng.standard_normal(N1)), "fc2": np.exp(rng.standard_normal((N2, N1)))}
for name, values in IMPORTANCE.items():
    np.save(os.path.join(importance_dir, name + ".npy"), values.astype(np.float32))


def fail(message):
    sys.exit("check_factorized: " + message)


# ---- running the tools and reading what they emit -------------------------------------------------------------


def constants(mlir_text):
    """SSA name -> (resource name or None, array) of every tensor constant; small ones are printed inline."""
    blobs, out = resources(mlir_text), {}
    for ssa, kind, body, shape, dtype in re.findall(
            r"(%\w+) = arith.constant dense(_resource)?<([^>]*)> : tensor<((?:\d+x)*)(f32|i8)>", mlir_text):
        shape = [int(d) for d in shape.split("x")[:-1]]
        np_type = np.float32 if dtype == "f32" else np.int8
        if kind:
            out[ssa] = (body, np.frombuffer(blobs[body], np_type).reshape(shape))
        elif body.startswith('"0x'):
            out[ssa] = (None, np.frombuffer(bytes.fromhex(body[3:-1]), np_type).reshape(shape))
        else:
            out[ssa] = (None, np.array(json.loads(body), np_type).reshape(shape))
    return out


def low_rank_ops(mlir_text):
    """Layer name (from its down factor's blob, '<layer>.down') -> the compress.low_rank_linear's constants."""
    consts, ops = constants(mlir_text), {}
    for x, down, up, ds, us, addend, attrs in re.findall(
            r"compress.low_rank_linear (%\w+), (%\w+), (%\w+)(?: scales (%\w+), (%\w+))?(?: bias %\w+)?"
            r"(?: addend (%\w+))? \{([^}]*)\}", mlir_text):
        attr = {k: int(v) for k, v in re.findall(r"(\w+) = (\d+) : i64", attrs)}
        name = consts[down][0]
        if not name or not name.endswith(".down") or consts[up][0] != name[:-5] + ".up":
            fail(f"low_rank_linear factors not stored as '<layer>.down'/'<layer>.up' blobs: {consts[down][0]}")
        ops[name[:-5]] = dict(down=consts[down][1], up=consts[up][1], addend=bool(addend), **attr,
                              down_scales=consts[ds][1] if ds else None, up_scales=consts[us][1] if us else None)
    return ops


def run_opt(passes, calibrated=True):
    """compress-opt's MLIR and report (layer name -> entry)."""
    report = os.path.join(work, re.sub(r"[^\w]+", "_", passes)[:80] + ".json")
    passes = passes[:-1] + f" report={report}}}"
    cmd = ["compress-opt", model_path, "--passes", passes] + (["--calibration", calib_dir] if calibrated else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        fail(f"compress-opt --passes '{passes}' failed:\n{out.stderr}")
    with open(report) as f:
        return out.stdout, {layer["name"]: layer for layer in json.load(f)["layers"]}


def run_model(passes, calibrated=True):
    out_dir = os.path.join(work, "run_" + re.sub(r"[^\w]+", "_", passes)[:80])
    cmd = ["compress-run", model_path, "--passes", passes, "--input", "x=" + os.path.join(work, "x.npy"),
           "--output-dir", out_dir] + (["--calibration", calib_dir] if calibrated else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        fail(f"compress-run --passes '{passes}' failed:\n{out.stderr}")
    return np.load(os.path.join(out_dir, "y.npy")).astype(np.float64)


def unpack_codes(packed, cols, bits):
    """Signed codes [rows, cols] from int8 bytes (4-bit: two per byte, element 2j in the low nibble)."""
    if bits == 8:
        return packed.astype(np.int64)
    raw = packed.view(np.uint8)
    nibbles = np.stack([raw & 15, raw >> 4], axis=-1).reshape(raw.shape[0], -1)[:, :cols].astype(np.int64)
    return np.where(nibbles >= 8, nibbles - 16, nibbles)


def group_index(cols, group):
    return np.arange(cols) // (group or cols)  # group 0: one scale per row; a partial last group of its own


def dequantized(op, which, cols):
    codes = unpack_codes(op[which], cols, op["bits"])
    return codes, codes * op[which + "_scales"].astype(np.float64)[:, group_index(cols, op.get("group_size", 0))]


def factors(op, k):
    """Decoded (up [N, r], down [r, K]) in float64, dequantised when stored as codes."""
    if op.get("bits", 0) == 0:
        return op["up"].astype(np.float64), op["down"].astype(np.float64)
    return dequantized(op, "up", op["rank"])[1], dequantized(op, "down", k)[1]


# ---- numpy references -------------------------------------------------------------------------------------------

def weighted_svd(t, rows=None, cols=None, gram=None):
    """Factors of the SVD of L t R (L = diag(rows), R = diag(cols) or the lower Cholesky factor S of the Gram
    matrix) with the weighting undone, sqrt(sigma) on each side: t ~ up[:, :r] @ down[:r] for any r."""
    m = t.astype(np.float64)
    rows = np.ones(m.shape[0]) if rows is None else rows
    right = np.diag(np.ones(m.shape[1]) if cols is None else cols) if gram is None else np.linalg.cholesky(gram)
    u, s, vt = np.linalg.svd(rows[:, None] * m @ right, full_matrices=False)
    up = u * np.sqrt(s) / rows[:, None]
    down = np.linalg.solve(right.T, (vt * np.sqrt(s)[:, None]).T).T
    return up, down, s


def rtn(factor, bits, group):
    """Symmetric round-to-nearest per row group: scale = max|g| / (2^(bits-1) - 1/2) in float32."""
    qmax = 2 ** (bits - 1) - 1
    f = factor.astype(np.float32).astype(np.float64)
    index = group_index(f.shape[1], group)
    largest = np.stack([np.abs(f[:, index == g]).max(axis=1) for g in range(index[-1] + 1)], axis=1)
    scales = (largest / (qmax + 0.5)).astype(np.float32).astype(np.float64)
    scales[scales == 0] = 1
    return np.clip(np.round(f / scales[:, index]), -qmax - 1, qmax), scales


def hessian(x):
    """The layer's Gram matrix as the passes measure it, GPTQ's H = (2 / rows) X^T X: its scale leaves every
    product alone but sets the balance between whitened factors (sqrt(sigma) each), which RTN sees."""
    return 2.0 / len(x) * x.T @ x


def relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def ratio_rank(ratio, n, k):
    return max(1, int(np.floor(ratio * n * k / (n + k))))


def layer2_inputs(w1_effective):
    return np.maximum(X1 @ w1_effective.T + B1, 0)


def forward(w1, w2, x=x_eval):
    return np.maximum(x.astype(np.float64) @ w1.T + B1, 0) @ w2.T


checked = []


def done(what):
    checked.append(what)
    print("ok:", what)


def check_products(tag, ops, references, tolerance=1e-4):
    for name, reference in references.items():
        up, down = factors(ops[name], SHAPES[name][1])
        error = relative(up @ down, reference)
        if error > tolerance:
            fail(f"{tag}: {name}'s up * down differs from numpy's truncation by {error:.2e}")


# ---- ratio=: every method's factors against numpy's weighted truncation ----------------------------------------
W = {"fc1": W1.astype(np.float64), "fc2": W2.astype(np.float64)}
products = {}
for method, calibrated in [("svd", False), ("activation-aware", True), ("fisher", True),
                           ("fisher importance", False)]:
    options = f"method={method} ratio=0.3".replace(" importance", f" importance={importance_dir}")
    text, report = run_opt(f"compress-factorize{{{options}}}", calibrated)
    ops = low_rank_ops(text)
    product, inputs = {}, {"fc1": X1}
    for name in ["fc1", "fc2"]:
        n, k = SHAPES[name]
        r = ratio_rank(0.3, n, k)
        if ops[name]["rank"] != r or ops[name]["up"].shape != (n, r) or ops[name]["down"].shape != (r, k):
            fail(f"{method}: {name} has rank {ops[name]['rank']}, up {ops[name]['up'].shape}, down "
                 f"{ops[name]['down'].shape}; ratio=0.3 gives rank {r}")
        if (report[name]["parameters_after"], report[name]["bytes_after"]) != (r * (n + k), 4 * r * (n + k)):
            fail(f"{method}: {name}'s report counts {report[name]['parameters_after']} parameters")
        gram = hessian(inputs[name])
        if np.linalg.eigvalsh(gram).min() <= 1e-6 * np.trace(gram) / k:
            fail(f"the test's calibration Gram matrix of {name} is not positive definite")
        weighting = {"svd": {}, "activation-aware": {"gram": gram},
                     "fisher": {"cols": np.sqrt(np.diag(gram))},
                     "fisher importance": {"rows": np.sqrt(IMPORTANCE[name].reshape(n, -1).sum(axis=1))}}[method]
        up, down, _ = weighted_svd(W[name], **weighting)
        product[name] = up[:, :r] @ down[:r]
        check_products(method, ops, {name: product[name]})
        if method == "activation-aware":  # the report's output error on the calibration inputs
            decoded = np.matmul(*factors(ops[name], k))
            expected = np.linalg.norm(inputs[name] @ (W[name] - decoded).T) / np.linalg.norm(inputs[name] @ W[name].T)
            if abs(report[name]["output_relative_error"] - expected) > 1e-5 * expected:
                fail(f"activation-aware: {name}'s reported output error {report[name]['output_relative_error']:.6g}, "
                     f"numpy {expected:.6g}")
        # The next layer's calibration inputs: this layer as factorized (decoded), relu.
        inputs["fc2"] = layer2_inputs(np.matmul(*factors(ops["fc1"], K1)))
    products[method] = product
    got = run_model(f"compress-factorize{{{options}}}", calibrated)
    error = relative(got, forward(np.matmul(*factors(ops["fc1"], K1)), np.matmul(*factors(ops["fc2"], N1))))
    if error > 1e-4:
        fail(f"compress-run of {method}: relative error {error:.2e} against numpy with the decoded factors")
    done(f"{method} ratio=0.3: ranks, up * down = numpy's weighted truncation, compress-run (error {error:.1e})")
if min(relative(products["svd"]["fc1"], products[m]["fc1"]) for m in products if m != "svd") < 1e-2:
    fail("the calibration data / importances do not separate the weighted methods from plain SVD")
done("the weightings change the factorization (activation-aware, fisher, fisher importance differ from svd)")

# ---- energy=: the smallest rank keeping that share of the weighted spectrum --------------------------------------
for method in ["svd", "activation-aware"]:
    text, report = run_opt(f"compress-factorize{{method={method} energy=0.8}}")
    ops, inputs = low_rank_ops(text), {"fc1": X1}
    inputs["fc2"] = layer2_inputs(np.matmul(*factors(ops["fc1"], K1)))
    for name in ["fc1", "fc2"]:
        gram = hessian(inputs[name]) if method != "svd" else None
        up, down, s = weighted_svd(W[name], gram=gram)
        share = np.cumsum(s ** 2) / np.sum(s ** 2)
        r = int(np.argmax(share >= 0.8)) + 1
        if ops[name]["rank"] != r or abs(report[name]["energy"] - share[r - 1]) > 1e-6:
            fail(f"energy=0.8 {method}: {name} rank {ops[name]['rank']} (energy {report[name]['energy']:.6f}), "
                 f"numpy rank {r} (energy {share[r - 1]:.6f})")
        check_products(f"energy {method}", ops, {name: up[:, :r] @ down[:r]})
    done(f"energy=0.8 {method}: ranks {[ops[n]['rank'] for n in SHAPES]} as numpy's cumulative-energy rule picks")

# ---- rank= that saves nothing: r (N + K) >= N K leaves the layer dense -------------------------------------------
# rank 40: fc1 [96, 64] would keep 40 * 160 = 6400 >= 6144 parameters; fc2 [80, 96] 40 * 176 = 7040 < 7680.
text, report = run_opt("compress-factorize{method=svd rank=40}", calibrated=False)
ops = low_rank_ops(text)
if "fc1" in ops or "skipped" not in report["fc1"] or text.count("compress.linear ") != 1:
    fail(f"rank=40: fc1 should stay a compress.linear with a 'skipped' report entry: {report['fc1']}")
if ops.get("fc2", {}).get("rank") != 40 or "skipped" in report["fc2"]:
    fail(f"rank=40: fc2 should be factorized at rank 40: {report['fc2']}")
done(f"rank=40: fc1 stays dense (\"{report['fc1']['skipped']}\"), fc2 factorized")

# ---- bits=8 (a scale per row) and bits=4 (groups, a partial last one in up): RTN of numpy's factors ----------------
for method, bits, group in [("activation-aware", 8, 0), ("svd", 4, 8)]:
    options = f"method={method} ratio=0.3 bits={bits} group-size={group}"
    text, report = run_opt(f"compress-factorize{{{options}}}")
    ops, inputs = low_rank_ops(text), {"fc1": X1}
    inputs["fc2"] = layer2_inputs(np.matmul(*factors(ops["fc1"], K1)))
    mismatched = []
    for name in ["fc1", "fc2"]:
        n, k = SHAPES[name]
        op, r = ops[name], ratio_rank(0.3, n, k)
        up, down, _ = weighted_svd(W[name], gram=hessian(inputs[name]) if method != "svd" else None)
        up, down = up[:, :r], down[:r]
        # A singular pair's sign is arbitrary: align numpy's with the stored factors.
        signs = np.sign(np.sum(down * dequantized(op, "down", k)[1], axis=1))
        for which, factor, cols in [("down", down * signs[:, None], k), ("up", up * signs, r)]:
            codes, _ = dequantized(op, which, cols)
            expected_codes, expected_scales = rtn(factor, bits, group)
            if op[which + "_scales"].shape != expected_scales.shape or \
                    np.abs(op[which + "_scales"] / expected_scales - 1).max() > 1e-5:
                fail(f"bits={bits}: {name}.{which}_scales differ from numpy's RTN scales")
            difference = np.abs(codes - expected_codes)
            mismatched.append(np.mean(difference != 0))
            if difference.max() > 1 or mismatched[-1] > 0.005:
                fail(f"bits={bits}: {name}.{which} codes differ from numpy's RTN in {mismatched[-1]:.2%} "
                     f"(by up to {difference.max()})")
        packed = {8: r * k + n * r, 4: r * (k // 2) + n * ((r + 1) // 2)}[bits]
        scales = r * -(-k // (group or k)) + n * -(-r // (group or r))
        if report[name]["bytes_after"] != packed + 4 * scales:
            fail(f"bits={bits}: {name}'s report says {report[name]['bytes_after']} bytes, codes and scales take "
                 f"{packed + 4 * scales}")
    got = run_model(f"compress-factorize{{{options}}}")
    error = relative(got, forward(np.matmul(*factors(ops["fc1"], K1)), np.matmul(*factors(ops["fc2"], N1))))
    if error > 1e-4:
        fail(f"compress-run of {options}: relative error {error:.2e} against numpy with the dequantized factors")
    done(f"{method} bits={bits} group-size={group}: codes and scales = numpy's RTN of numpy's factors "
         f"({max(mismatched):.2%} codes off by one at most), compress-run (error {error:.1e})")

# ---- compensate (EoRA): a rank-8 path cancelling int4 RTN's error, whitened by the quantized model's inputs -----
quantize = "compress-quantize{bits=4 group-size=32}"
text, report = run_opt(quantize + ",compress-factorize{compensate=1 rank=8}")
ops, blobs = low_rank_ops(text), resources(text)
quantized, inputs = {}, {"fc1": X1}
for name in ["fc1", "fc2"]:
    n, k = SHAPES[name]
    if name not in ops or not ops[name]["addend"] or ops[name]["rank"] != 8:
        fail(f"compensate: {name} has no rank-8 compress.low_rank_linear adding to the quantized layer")
    codes = unpack_codes(np.frombuffer(blobs[name + ".qweight"], np.int8).reshape(n, -1), k, 4)
    scales = np.frombuffer(blobs[name + ".scales"], np.float32).reshape(n, -1).astype(np.float64)
    quantized[name] = codes * scales[:, group_index(k, 32)]
    expected_codes, _ = rtn(W[name], 4, 32)
    if np.mean(codes != expected_codes) > 0.005:
        fail(f"compensate: {name}'s int4 codes are not RTN's (decoding the quantized layer wrong?)")
    if name == "fc1":  # all layers measured on the quantized model, before any compensation is added
        inputs["fc2"] = layer2_inputs(quantized["fc1"])
    gram = hessian(inputs[name])
    up, down, _ = weighted_svd(W[name] - quantized[name], gram=gram)
    check_products("compensate", ops, {name: up[:, :8] @ down[:8]})
    corrected = quantized[name] + np.matmul(*factors(ops[name], k))
    for key, effective in [("output_relative_error", corrected), ("output_relative_error_before", quantized[name])]:
        expected = relative(inputs[name] @ effective.T, inputs[name] @ W[name].T)
        if abs(report[name][key] - expected) > 1e-5 * expected:
            fail(f"compensate: {name}'s reported {key} {report[name][key]:.6g}, numpy {expected:.6g}")
reference = forward(W1, W2)
compensated = run_model(quantize + ",compress-factorize{compensate=1 rank=8}")
plain = run_model(quantize, calibrated=False)
error = relative(compensated, forward(*(quantized[m] + np.matmul(*factors(ops[m], SHAPES[m][1])) for m in SHAPES)))
if error > 1e-4:
    fail(f"compress-run of the compensated model: relative error {error:.2e} against numpy")
e_compensated, e_plain = relative(compensated, reference), relative(plain, reference)
if not e_compensated < e_plain:
    fail(f"compensation does not help on the eval input: error {e_compensated:.4f} vs {e_plain:.4f} without")
done(f"compensate rank=8 after int4: up * down = numpy's whitened SVD of W - W_q, reported errors, compress-run; "
     f"eval error {e_compensated:.4f} < {e_plain:.4f} uncompensated")

# Compensating a float model is an error, not a silent no-op.
out = subprocess.run(["compress-opt", model_path, "--passes", "compress-factorize{compensate=1 rank=8}",
                      "--calibration", calib_dir], capture_output=True, text=True)
if out.returncode == 0 or "has nothing to compensate" not in out.stderr or out.stdout:
    fail(f"compensate without a compressed layer: rc {out.returncode}, stderr {out.stderr!r}")
done("compensate of float layers fails: " + out.stderr.splitlines()[0])
print(f"check_factorized: {len(checked)} checks passed")
