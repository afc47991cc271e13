"""Checks compress-prune on a small MLP against independent numpy references.

y = relu(x W1^T + b1) W2^T with K = 64 -> 96 -> 80, calibration inputs whose features differ in scale (so that
Wanda's and SparseGPT's choices differ from magnitude's). For each configuration the script runs compress-opt on the
ONNX model, decodes the pruned weights from the emitted MLIR's resource blobs in the dialect's documented storage
formats (N:M values + packed positions, ELL values + columns + counts, dense), and checks:
  - the pattern: at most N nonzeros in every M along K; unstructured sparsity within 0.5% of the target per layer;
  - the mask (and SparseGPT's updated weights) against numpy implementations of the papers' algorithms, with the
    second layer's calibration inputs computed from the first layer as pruned (the layer-by-layer protocol);
  - compress-run's output of the pruned model against numpy with the decoded weights (the sparse kernels), also
    with int8 codes and int8 activations;
  - SparseGPT's joint 2:4 + int4 against 2:4 followed by separate round-to-nearest int4.

Usage: check_pruned.py WORKDIR (compress-opt and compress-run on PATH).
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
mlp = write_mlp(work, rng, calibration_rows=16)
W1, B1, W2, calibration, x_eval = mlp.W1, mlp.B1, mlp.W2, mlp.calibration, mlp.x_eval
model_path, calib_dir = mlp.model_path, mlp.calib_dir
X1 = np.concatenate(calibration).astype(np.float64)


def fail(message):
    sys.exit("check_pruned: " + message)


# ---- running the tools and reading what they emit -------------------------------------------------------------


def prune(options, calibrated=True, tag=None, extra=""):
    tag = tag or re.sub(r"[^\w]+", "_", options)
    report = os.path.join(work, tag + ".json")
    passes = f"compress-prune{{{options} report={report}}}" + extra
    cmd = ["compress-opt", model_path, "--passes", passes]
    if calibrated:
        cmd += ["--calibration", calib_dir]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        fail(f"compress-opt --passes '{passes}' failed:\n{out.stderr}")
    with open(report) as f:
        layers = {layer["name"]: layer for layer in json.load(f)["layers"]}
    return resources(out.stdout), layers, passes


def run_model(passes, calibrated=True):
    out_dir = os.path.join(work, "run_" + re.sub(r"[^\w]+", "_", passes)[:80])
    cmd = ["compress-run", model_path, "--passes", passes, "--input", "x=" + os.path.join(work, "x.npy"),
           "--output-dir", out_dir]
    if calibrated:
        cmd += ["--calibration", calib_dir]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        fail(f"compress-run --passes '{passes}' failed:\n{out.stderr}")
    return np.load(os.path.join(out_dir, "y.npy"))


def array(blobs, key, dtype, rows):
    if key not in blobs:
        fail(f"no resource '{key}' in the output (have: {sorted(blobs)})")
    return np.frombuffer(blobs[key], dtype=dtype).reshape(rows, -1)


def codes_to_values(blobs, name, rows, stored, bits, group, symmetric=True):
    """Dequantised stored entries [rows, stored] of 8- or 4-bit codes with per-group scales."""
    raw = array(blobs, name + ".qvalues", np.uint8, rows)
    if bits == 4:
        codes = np.stack([raw & 15, raw >> 4], axis=-1).reshape(rows, -1)[:, :stored].astype(np.int32)
        if symmetric:
            codes = np.where(codes >= 8, codes - 16, codes)
    else:
        codes = raw.astype(np.int32)
        if symmetric:
            codes = np.where(codes >= 128, codes - 256, codes)
    scales = array(blobs, name + ".scales", np.float32, rows)
    zeros = 0 if symmetric else array(blobs, name + ".zero_points", np.uint8, rows).astype(np.int32)
    group_of = np.arange(stored) // group
    zero_part = 0 if symmetric else zeros[:, group_of]
    return (codes - zero_part) * scales[:, group_of]


def decode_nm(blobs, name, n, k, keep, block, bits=0, group=0):
    stored = k // block * keep
    index_bits = 2 if block <= 4 else 4
    raw = array(blobs, name + ".indices", np.uint8, n)
    per_byte = 8 // index_bits
    idx = np.stack([(raw >> (index_bits * t)) & ((1 << index_bits) - 1) for t in range(per_byte)], axis=-1)
    idx = idx.reshape(n, -1)[:, :stored].astype(np.int64)
    columns = (np.arange(stored) // keep) * block + idx
    if bits:
        values = codes_to_values(blobs, name, n, stored, bits, group)
    else:
        values = array(blobs, name + ".values", np.float32, n)
    dense = np.zeros((n, k), np.float64)
    for r in range(n):
        if np.any(np.diff(columns[r].reshape(-1, keep), axis=1) <= 0):
            fail(f"{name}: N:M positions not increasing inside a group in row {r}")
        dense[r, columns[r]] = values[r]
    return dense


def decode_ell(blobs, name, n, k):
    values = array(blobs, name + ".values", np.float32, n)
    columns = array(blobs, name + ".columns", np.uint16, n).astype(np.int64)
    counts = np.frombuffer(blobs[name + ".counts"], np.int32)
    dense = np.zeros((n, k), np.float64)
    for r in range(n):
        c = counts[r]
        if np.any(np.diff(columns[r, :c]) <= 0) or np.any(values[r, c:] != 0) or np.any(columns[r, c:] != 0):
            fail(f"{name}: ELL row {r} not increasing or padded with nonzeros")
        dense[r, columns[r, :c]] = values[r, :c]
    return dense


def decode_dense(blobs, name, n):
    return array(blobs, name + ".pruned", np.float32, n).astype(np.float64)


# ---- numpy references of the papers' algorithms ----------------------------------------------------------------

def keep_top(scores, keep_fraction=None, nm=None, per_row=False):
    """Mask keeping the largest scores: per N:M group, per row, or over the whole matrix."""
    n, k = scores.shape
    mask = np.zeros_like(scores, bool)
    if nm:
        keep, block = nm
        groups = scores.reshape(n, k // block, block)
        top = np.argsort(-groups, axis=-1, kind="stable")[..., :keep]
        np.put_along_axis(mask.reshape(n, k // block, block), top, True, axis=-1)
        return mask
    if per_row:
        pruned = int(np.floor(k * (1 - keep_fraction) + 0.5))
        order = np.argsort(scores, axis=1, kind="stable")[:, pruned:]
        np.put_along_axis(mask, order, True, axis=1)
        return mask
    pruned = int(np.floor(n * k * (1 - keep_fraction) + 0.5))
    flat = mask.reshape(-1)
    flat[np.argsort(scores.reshape(-1), kind="stable")[pruned:]] = True
    return mask


def sparsegpt_reference(w, x, sparsity=0.0, nm=None, blocksize=128, percdamp=0.01):
    """SparseGPT's fasterprune (Frantar & Alistarh's reference code) in numpy float64."""
    w = w.astype(np.float64).copy()
    n, k = w.shape
    h = 2.0 / x.shape[0] * x.T @ x
    dead = np.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    h += percdamp * np.mean(np.diag(h)) * np.eye(k)
    hinv = np.linalg.cholesky(np.linalg.inv(h)).T  # upper factor of H^-1
    mask = np.zeros_like(w, bool)  # True: pruned
    for i1 in range(0, k, blocksize):
        i2 = min(i1 + blocksize, k)
        w1, hinv1 = w[:, i1:i2].copy(), hinv[i1:i2, i1:i2]
        q1, err1 = np.zeros_like(w1), np.zeros_like(w1)
        if nm is None:
            # The reference's `tmp <= sorted(tmp)[int(size * sparsity)]` prunes one weight more than the
            # sparsity asks for; compress-prune prunes round(size * sparsity) of each comparison group.
            tmp = w1 ** 2 / np.diag(hinv1)[None, :] ** 2
            mask1 = np.zeros(tmp.size, bool)
            mask1[np.argsort(tmp.ravel(), kind="stable")[:int(np.floor(tmp.size * sparsity + 0.5))]] = True
            mask1 = mask1.reshape(tmp.shape)
        else:
            mask1 = np.zeros_like(w1, bool)
        for i in range(i2 - i1):
            col = w1[:, i]
            d = hinv1[i, i]
            if nm is not None and i % nm[1] == 0:
                tmp = w1[:, i:i + nm[1]] ** 2 / np.diag(hinv1)[i:i + nm[1]][None, :] ** 2
                prune_idx = np.argsort(tmp, axis=1, kind="stable")[:, :nm[1] - nm[0]]
                np.put_along_axis(mask1[:, i:i + nm[1]], prune_idx, True, axis=1)
            q = np.where(mask1[:, i], 0.0, col)
            q1[:, i] = q
            err = (col - q) / d
            w1[:, i:] -= err[:, None] * hinv1[i, i:][None, :]
            err1[:, i] = err
        w[:, i1:i2] = q1
        mask[:, i1:i2] = mask1
        w[:, i2:] -= err1 @ hinv[i1:i2, i2:]
    return w, ~mask


def second_layer_inputs(w1_pruned):
    return np.maximum(X1 @ w1_pruned.T + B1, 0)


def check_pattern(name, dense, nm=None, sparsity=None):
    n, k = dense.shape
    if nm:
        nonzero = (dense.reshape(n, k // nm[1], nm[1]) != 0).sum(-1)
        if nonzero.max() > nm[0]:
            fail(f"{name}: a group of {nm[1]} holds {nonzero.max()} nonzeros (at most {nm[0]})")
    else:
        achieved = float((dense == 0).mean())
        if abs(achieved - sparsity) > 0.005:
            fail(f"{name}: sparsity {achieved:.4f}, target {sparsity}")


def compare_masks(name, dense, reference_mask, tolerance=0.0):
    """The kept weights must be where the reference keeps them (a kept weight may be exactly zero only where the
    reference keeps it too)."""
    kept = dense != 0
    mismatched = float(np.mean(kept & ~reference_mask))
    if mismatched > tolerance:
        fail(f"{name}: {mismatched:.2%} of weights kept where the reference prunes them")


checked = []


def done(what):
    checked.append(what)
    print("ok:", what)


# ---- magnitude ---------------------------------------------------------------------------------------------------
for nm in [(2, 4), (4, 8)]:
    blobs, report, _ = prune(f"pattern={nm[0]}:{nm[1]}", calibrated=False)
    for name, w, (n, k) in [("fc1", W1, (N1, K1)), ("fc2", W2, (N2, N1))]:
        dense = decode_nm(blobs, name, n, k, *nm)
        check_pattern(name, dense, nm=nm)
        reference = keep_top(np.abs(w), nm=nm)
        compare_masks(name, dense, reference)
        if not np.array_equal(dense, np.where(reference, w, 0)):
            fail(f"magnitude {nm}: {name}'s kept values differ from the original weights")
        if report[name]["format"] != f"{nm[0]}:{nm[1]}":
            fail(f"magnitude {nm}: {name} stored as {report[name]['format']}")
    done(f"magnitude {nm[0]}:{nm[1]}: masks, values, pattern")

blobs, report, _ = prune("sparsity=0.5 format=sparse", calibrated=False)
for name, w, (n, k) in [("fc1", W1, (N1, K1)), ("fc2", W2, (N2, N1))]:
    dense = decode_ell(blobs, name, n, k)
    check_pattern(name, dense, sparsity=0.5)
    reference = keep_top(np.abs(w), keep_fraction=0.5)
    if not np.array_equal(dense, np.where(reference, w, 0)):
        fail(f"magnitude unstructured: {name} differs from the layer-wise reference")
done("magnitude unstructured 50% (ELL): layer-wise mask, sparsity")

# ---- Wanda ---------------------------------------------------------------------------------------------------------
for options, kw in [("method=wanda sparsity=0.5 format=dense", dict(keep_fraction=0.5, per_row=True)),
                    ("method=wanda pattern=2:4", dict(nm=(2, 4)))]:
    blobs, report, _ = prune(options)
    decode = (lambda b, nm, n, k: decode_nm(b, nm, n, k, 2, 4)) if "2:4" in options else \
        (lambda b, nm, n, k: decode_dense(b, nm, n))
    dense1 = decode(blobs, "fc1", N1, K1)
    ref1 = keep_top(np.abs(W1) * np.linalg.norm(X1, axis=0), **kw)
    dense2 = decode(blobs, "fc2", N2, N1)
    X2 = second_layer_inputs(dense1)
    ref2 = keep_top(np.abs(W2) * np.linalg.norm(X2, axis=0), **kw)
    # Norms measured in float32 by the compiled model may break near-ties the other way.
    compare_masks("wanda fc1", dense1, ref1, tolerance=0.002)
    compare_masks("wanda fc2", dense2, ref2, tolerance=0.002)
    check_pattern("wanda fc1", dense1, **({"nm": (2, 4)} if "2:4" in options else {"sparsity": 0.5}))
    if np.array_equal(ref1, keep_top(np.abs(W1), **kw)):
        fail("the calibration data does not separate Wanda from magnitude")
    done(f"wanda ({options}): per-row/N:M masks of |W| * ||X||, sequential inputs")

# ---- SparseGPT -----------------------------------------------------------------------------------------------------
errors = {}
for options, kw in [("method=sparsegpt sparsity=0.5 format=dense", dict(sparsity=0.5)),
                    ("method=sparsegpt pattern=2:4", dict(nm=(2, 4)))]:
    blobs, report, _ = prune(options)
    is_nm = "2:4" in options
    decode = (lambda b, nm, n, k: decode_nm(b, nm, n, k, 2, 4)) if is_nm else \
        (lambda b, nm, n, k: decode_dense(b, nm, n))
    dense1 = decode(blobs, "fc1", N1, K1)
    ref1, mask1 = sparsegpt_reference(W1, X1, **kw)
    dense2 = decode(blobs, "fc2", N2, N1)
    ref2, mask2 = sparsegpt_reference(W2, second_layer_inputs(dense1), **kw)
    for name, dense, ref, mask in [("fc1", dense1, ref1, mask1), ("fc2", dense2, ref2, mask2)]:
        compare_masks(f"sparsegpt {name}", dense, mask, tolerance=0.002)
        difference = np.linalg.norm(dense - ref) / np.linalg.norm(ref)
        if difference > 1e-3:
            fail(f"sparsegpt ({options}) {name}: weights differ from the reference by {difference:.2e}")
        check_pattern(f"sparsegpt {name}", dense, **({"nm": (2, 4)} if is_nm else {"sparsity": 0.5}))
    errors[options] = report["fc1"]["output_relative_error"]
    done(f"sparsegpt ({options}): reconstruction equals the reference")

_, magnitude_report, _ = prune("sparsity=0.5 format=dense", tag="magnitude_calibrated")
_, wanda_report, _ = prune("method=wanda sparsity=0.5 format=dense", tag="wanda_calibrated")
m, wd, s = (r["fc1"]["output_relative_error"] for r in
            (magnitude_report, wanda_report, {"fc1": {"output_relative_error": errors[
                "method=sparsegpt sparsity=0.5 format=dense"]}}))
if not s < wd < m:
    fail(f"fc1's output errors on the calibration data: sparsegpt {s:.4f}, wanda {wd:.4f}, magnitude {m:.4f}; "
         "expected sparsegpt < wanda < magnitude")
done(f"output errors on calibration data: sparsegpt {s:.4f} < wanda {wd:.4f} < magnitude {m:.4f}")

# ---- per-layer sparsity: overrides and OWL's allocation ----------------------------------------------------------
_, report, _ = prune("sparsity=0.5 layer-sparsity=fc2:0.7 format=dense", calibrated=False)
for name, target in [("fc1", 0.5), ("fc2", 0.7)]:
    if abs(report[name]["sparsity"] - target) > 0.005:
        fail(f"layer-sparsity: {name} pruned to {report[name]['sparsity']:.4f}, asked {target}")
done("layer-sparsity overrides the uniform sparsity of matching layers")

# OWL (Yin et al.): outlier ratio D = share of Wanda scores above 5x the layer's mean, on the unpruned model;
# sparsity S - (R - mean R), R = 2 * lambda * (D - min D) / (max D - min D), the mean weighted by parameters.
_, report, _ = prune("method=wanda sparsity=0.5 allocate=owl format=dense")
X2_dense = second_layer_inputs(W1.astype(np.float64))
ratios, sizes = [], []
for w, x in [(W1, X1), (W2, X2_dense)]:
    score = np.abs(w) * np.linalg.norm(x, axis=0)
    ratios.append(np.mean(score > 5 * score.mean()))
    sizes.append(w.size)
ratios, sizes = np.array(ratios), np.array(sizes)
r = 2 * 0.08 * (ratios - ratios.min()) / (ratios.max() - ratios.min())
expected = 0.5 - (r - np.average(r, weights=sizes))
for name, target in zip(["fc1", "fc2"], expected):
    got = report[name]["target_sparsity"]
    if abs(got - target) > 1e-6 or abs(report[name]["sparsity"] - target) > 0.005:
        fail(f"owl: {name} target {got:.6f} / achieved {report[name]['sparsity']:.4f}, numpy {target:.6f}")
achieved = np.average([report["fc1"]["sparsity"], report["fc2"]["sparsity"]], weights=sizes)
if abs(achieved - 0.5) > 0.005:
    fail(f"owl: the model's sparsity is {achieved:.4f}, not 0.5")
done(f"owl: per-layer sparsities {expected.round(4).tolist()} as numpy computes them, model sparsity {achieved:.4f}")

# ---- compiled pruned models against numpy ------------------------------------------------------------------------


def forward(w1, w2, x=x_eval):
    return np.maximum(x.astype(np.float64) @ w1.T + B1, 0) @ w2.T


def quantize_rows(x):
    """int8 per-row activation quantization as the runtime documents it (max|x| / 127, nearest even)."""
    scale = np.abs(x).max(axis=1, keepdims=True) / 127.0
    scale[scale == 0] = 1
    return np.clip(np.rint(x / scale), -127, 127) * scale


def check_outputs(passes, dense1, dense2, rtol=2e-4, int8=False):
    got = run_model(passes)
    if int8:
        h = np.maximum(quantize_rows(x_eval.astype(np.float32)).astype(np.float64) @ dense1.T + B1, 0)
        expected = quantize_rows(h.astype(np.float32)).astype(np.float64) @ dense2.T
    else:
        expected = forward(dense1, dense2)
    error = np.linalg.norm(got - expected) / np.linalg.norm(expected)
    if error > rtol:
        fail(f"compress-run '{passes}': relative error {error:.2e} against numpy with the decoded weights")
    return error


for options, decode in [
        ("pattern=2:4", lambda b, n, k, nm: decode_nm(b, nm, n, k, 2, 4)),
        ("pattern=4:8", lambda b, n, k, nm: decode_nm(b, nm, n, k, 4, 8)),
        ("sparsity=0.8 format=sparse", lambda b, n, k, nm: decode_ell(b, nm, n, k)),
        ("pattern=2:4 bits=8", lambda b, n, k, nm: decode_nm(b, nm, n, k, 2, 4, bits=8, group=k // 2)),
        ("pattern=2:4 bits=4 group-size=32", lambda b, n, k, nm: decode_nm(b, nm, n, k, 2, 4, bits=4, group=16))]:
    blobs, report, passes = prune(options, calibrated=False)
    dense1, dense2 = decode(blobs, N1, K1, "fc1"), decode(blobs, N2, N1, "fc2")
    error = check_outputs(passes, dense1, dense2)
    done(f"compress-run of '{options}' equals numpy with the decoded weights (relative error {error:.1e})")

blobs, report, passes = prune("pattern=2:4 bits=8 mode=w8a8", calibrated=False)
dense1 = decode_nm(blobs, "fc1", N1, K1, 2, 4, bits=8, group=K1 // 2)
dense2 = decode_nm(blobs, "fc2", N2, N1, 2, 4, bits=8, group=N1 // 2)
error = check_outputs(passes, dense1, dense2, rtol=1e-3, int8=True)
done(f"compress-run of 2:4 int8 with int8 activations equals numpy (relative error {error:.1e})")

# ---- SparseGPT 2:4 + int4 jointly, against 2:4 then separate RTN int4 ----------------------------------------------
reference = forward(W1, W2)
joint = run_model(prune("method=sparsegpt pattern=2:4 bits=4 group-size=32", tag="joint")[2])
separate = run_model(prune("method=sparsegpt pattern=2:4 format=dense", tag="separate",
                           extra=",compress-quantize{bits=4 group-size=32}")[2])
e_joint, e_separate = (np.linalg.norm(y - reference) / np.linalg.norm(reference) for y in (joint, separate))
if not e_joint < e_separate:
    fail(f"joint SparseGPT 2:4 + int4 error {e_joint:.4f} is not below 2:4 then RTN int4 {e_separate:.4f}")
done(f"joint 2:4 + int4 error {e_joint:.4f} < separate {e_separate:.4f}")
print(f"check_pruned: {len(checked)} checks passed")
