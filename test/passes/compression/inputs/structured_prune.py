"""Checks compress-prune pattern=structured on small ONNX models against numpy.

Usage: structured_prune.py KIND OUT [--compress-run PATH] [--sparsity S] [--build-only]
       (KIND: mlp, swiglu, attention, conv; leak, an MLP whose activation is an output, with --build-only)

For each model: seeded weights, two calibration sets and an evaluation input; compress-run prunes with
`sparsity` and writes its report and outputs. The check then

  - ranks the units itself from the calibration data (the L2 norm of the consumer's input per channel, per head
    group for attention) and requires the report to have removed exactly the least important ones;
  - deletes those channels from the numpy weights (rows of the producers, columns of the consumer, entries of
    biases and batch-norm vectors) and requires the compiled pruned model's output to equal that numpy forward
    pass (float tolerance);
  - requires parameters_before - parameters_after to be the number of weights deleted.
"""
import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def erf(x):
    return np.vectorize(math.erf)(x.astype(np.float64))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def model_of(nodes, inputs, outputs, weights):
    graph = helper.make_graph(nodes, "m", inputs, outputs,
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in weights.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)


def f32(shape, names):
    return helper.make_tensor_value_info(names, TensorProto.FLOAT, shape)


# ---------------------------------------------------------------------------------------------------------------
# Models: (onnx model, input shape, forward(x, weights) -> (output, consumer input), units, how to prune weights)

def mlp(rng):
    """MiniLM's MLP: dense + bias -> erf GELU -> dense + bias; 24 channels."""
    d, i = 16, 24
    w = {"w1": rng.standard_normal((d, i)) * 0.3, "b1": rng.standard_normal(i) * 0.5,
         "w2": rng.standard_normal((i, d)) * 0.3, "b2": rng.standard_normal(d) * 0.1,
         "sqrt2": np.array(math.sqrt(2)), "one": np.array(1.0), "half": np.array(0.5)}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h0"], name="fc1"),
             helper.make_node("Add", ["h0", "b1"], ["h"], name="bias1"),
             helper.make_node("Div", ["h", "sqrt2"], ["g0"]), helper.make_node("Erf", ["g0"], ["g1"]),
             helper.make_node("Add", ["g1", "one"], ["g2"]), helper.make_node("Mul", ["h", "g2"], ["g3"]),
             helper.make_node("Mul", ["g3", "half"], ["a"]),
             helper.make_node("MatMul", ["a", "w2"], ["y0"], name="fc2"),
             helper.make_node("Add", ["y0", "b2"], ["y"], name="bias2")]
    model = model_of(nodes, [f32([2, 5, d], "x")], [f32([2, 5, d], "y")], w)

    def forward(x, w):
        h = x @ w["w1"] + w["b1"]
        a = h * (1 + erf(h / math.sqrt(2))) * 0.5
        return a @ w["w2"] + w["b2"], a

    def prune(w, keep):
        w = dict(w)
        w["w1"], w["b1"], w["w2"] = w["w1"][:, keep], w["b1"][keep], w["w2"][keep]
        return w
    return model, (2, 5, d), forward, i, prune, w


def swiglu(rng):
    """SmolLM2's MLP: down(silu(gate(x)) * up(x)), no biases; 32 channels."""
    d, i = 16, 32
    w = {"gate": rng.standard_normal((d, i)) * 0.3, "up": rng.standard_normal((d, i)) * 0.3,
         "down": rng.standard_normal((i, d)) * 0.3}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    nodes = [helper.make_node("MatMul", ["x", "gate"], ["g"], name="gate_proj"),
             helper.make_node("Sigmoid", ["g"], ["s"]), helper.make_node("Mul", ["g", "s"], ["silu"]),
             helper.make_node("MatMul", ["x", "up"], ["u"], name="up_proj"),
             helper.make_node("Mul", ["silu", "u"], ["a"]),
             helper.make_node("MatMul", ["a", "down"], ["y"], name="down_proj")]
    model = model_of(nodes, [f32([1, 7, d], "x")], [f32([1, 7, d], "y")], w)

    def forward(x, w):
        g = x @ w["gate"]
        a = g * sigmoid(g) * (x @ w["up"])
        return a @ w["down"], a

    def prune(w, keep):
        return {"gate": w["gate"][:, keep], "up": w["up"][:, keep], "down": w["down"][keep]}
    return model, (1, 7, d), forward, i, prune, w


HEADS, KV, HEAD_DIM = 6, 3, 4  # groups of 2 query heads per key/value head


def attention(rng):
    """Grouped-query attention as SmolLM2's graph writes it: q/k/v MatMuls, Reshape + Transpose into heads,
    key/value heads repeated by Unsqueeze / Expand / Reshape, scaled scores, causal mask, Softmax, output
    projection; 3 groups of 2 query heads."""
    s, d = 5, HEADS * HEAD_DIM
    w = {"wq": rng.standard_normal((d, d)) * 0.3, "wk": rng.standard_normal((d, KV * HEAD_DIM)) * 0.3,
         "wv": rng.standard_normal((d, KV * HEAD_DIM)) * 0.3, "wo": rng.standard_normal((d, d)) * 0.3,
         "scale": np.array(math.sqrt(HEAD_DIM)),
         "mask": np.triu(np.full((s, s), -1e9), k=1)}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    shapes = {"q_shape": [1, s, HEADS, HEAD_DIM], "kv_shape": [1, s, KV, HEAD_DIM],
              "expand_shape": [1, KV, HEADS // KV, s, HEAD_DIM], "rep_shape": [1, HEADS, s, HEAD_DIM],
              "out_shape": [1, s, d], "axis2": [2]}
    w.update({k: np.array(v, np.int64) for k, v in shapes.items()})
    n = helper.make_node
    nodes = [n("MatMul", ["x", "wq"], ["q0"], name="q_proj"), n("MatMul", ["x", "wk"], ["k0"], name="k_proj"),
             n("MatMul", ["x", "wv"], ["v0"], name="v_proj"),
             n("Reshape", ["q0", "q_shape"], ["q1"]), n("Transpose", ["q1"], ["q"], perm=[0, 2, 1, 3]),
             n("Reshape", ["k0", "kv_shape"], ["k1"]), n("Transpose", ["k1"], ["k2"], perm=[0, 2, 1, 3]),
             n("Reshape", ["v0", "kv_shape"], ["v1"]), n("Transpose", ["v1"], ["v2"], perm=[0, 2, 1, 3])]
    for t in ("k", "v"):
        nodes += [n("Unsqueeze", [f"{t}2", "axis2"], [f"{t}3"]),
                  n("Expand", [f"{t}3", "expand_shape"], [f"{t}4"]),
                  n("Reshape", [f"{t}4", "rep_shape"], [f"{t}"])]
    nodes += [n("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]), n("MatMul", ["q", "kt"], ["sc0"]),
              n("Div", ["sc0", "scale"], ["sc1"]), n("Add", ["sc1", "mask"], ["sc"]),
              n("Softmax", ["sc"], ["p"], axis=-1), n("MatMul", ["p", "v"], ["c0"]),
              n("Transpose", ["c0"], ["c1"], perm=[0, 2, 1, 3]), n("Reshape", ["c1", "out_shape"], ["c"]),
              n("MatMul", ["c", "wo"], ["y"], name="o_proj")]
    model = model_of(nodes, [f32([1, s, d], "x")], [f32([1, s, d], "y")], w)

    def forward(x, w):
        kv = w["wk"].shape[1] // HEAD_DIM
        heads = w["wq"].shape[1] // HEAD_DIM
        q = (x[0] @ w["wq"]).reshape(s, heads, HEAD_DIM)
        k = (x[0] @ w["wk"]).reshape(s, kv, HEAD_DIM)
        v = (x[0] @ w["wv"]).reshape(s, kv, HEAD_DIM)
        ctx = np.empty((s, heads, HEAD_DIM))
        for h in range(heads):
            g = h // (heads // kv)
            p = softmax(q[:, h] @ k[:, g].T / math.sqrt(HEAD_DIM) + w["mask"])
            ctx[:, h] = p @ v[:, g]
        c = ctx.reshape(1, s, heads * HEAD_DIM)
        return c @ w["wo"], c

    def prune(w, keep_groups):
        w = dict(w)
        per = HEADS // KV
        q_cols = [g * per * HEAD_DIM + j for g in keep_groups for j in range(per * HEAD_DIM)]
        kv_cols = [g * HEAD_DIM + j for g in keep_groups for j in range(HEAD_DIM)]
        w["wq"], w["wo"] = w["wq"][:, q_cols], w["wo"][q_cols]
        w["wk"], w["wv"] = w["wk"][:, kv_cols], w["wv"][:, kv_cols]
        return w
    return model, (1, s, d), forward, KV, prune, w


def conv(rng):
    """A CNN stage: Conv + bias -> BatchNormalization -> Relu -> Conv; 12 channels."""
    c, f, f2 = 3, 12, 5
    w = {"w1": rng.standard_normal((f, c, 3, 3)) * 0.4, "b1": rng.standard_normal(f) * 0.3,
         "gamma": rng.uniform(0.2, 2, f), "beta": rng.standard_normal(f) * 0.3,
         "mean": rng.standard_normal(f) * 0.2, "var": rng.uniform(0.5, 2, f),
         "w2": rng.standard_normal((f2, f, 3, 3)) * 0.3, "b2": rng.standard_normal(f2) * 0.1}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    n = helper.make_node
    nodes = [n("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             n("BatchNormalization", ["c1", "gamma", "beta", "mean", "var"], ["bn"], name="bn1", epsilon=1e-5),
             n("Relu", ["bn"], ["r"], name="relu1"),
             n("Conv", ["r", "w2", "b2"], ["y"], name="conv2", pads=[0, 0, 0, 0])]
    model = model_of(nodes, [f32([2, c, 6, 6], "x")], [f32([2, f2, 4, 4], "y")], w)

    def conv2d(x, weight, bias, pad):
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        n_, _, h, wd = x.shape
        k = weight.shape[2]
        out = np.zeros((n_, weight.shape[0], h - k + 1, wd - k + 1))
        for i in range(k):
            for j in range(k):
                out += np.einsum("nchw,fc->nfhw", x[:, :, i:i + h - k + 1, j:j + wd - k + 1], weight[:, :, i, j])
        return out + bias[None, :, None, None]

    def forward(x, w):
        h = conv2d(x.astype(np.float64), w["w1"], w["b1"], 1)
        e = lambda v: v[None, :, None, None]
        bn = (h - e(w["mean"])) / np.sqrt(e(w["var"]) + 1e-5) * e(w["gamma"]) + e(w["beta"])
        r = np.maximum(bn, 0)
        return conv2d(r, w["w2"], w["b2"], 0), r

    def prune(w, keep):
        w = dict(w)
        for k in ("b1", "gamma", "beta", "mean", "var"):
            w[k] = w[k][keep]
        w["w1"], w["w2"] = w["w1"][keep], w["w2"][:, keep]
        return w
    return model, (2, c, 6, 6), forward, f, prune, w


def leak(rng):
    """SmolLM2's MLP whose activation is also an output of the model: its channels cannot be removed."""
    model, shape, forward, units, prune, w = swiglu(rng)
    model.graph.output.append(f32([1, 7, units], "a"))
    return model, shape, forward, units, prune, w


MODELS = {"mlp": mlp, "swiglu": swiglu, "attention": attention, "conv": conv, "leak": leak}


def unit_norms(kind, consumer_inputs, units):
    """Importance per unit: the L2 norm of the consumer's input features of that unit over all sets."""
    if kind == "conv":
        sq = sum((a.astype(np.float64) ** 2).sum(axis=(0, 2, 3)) for a in consumer_inputs)
    else:
        sq = sum((a.reshape(-1, a.shape[-1]).astype(np.float64) ** 2).sum(axis=0) for a in consumer_inputs)
    return np.sqrt(sq.reshape(units, -1).sum(axis=1))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=sorted(MODELS))
    ap.add_argument("out", type=Path)
    ap.add_argument("--compress-run", default="compress-run")
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--build-only", action="store_true", help="write the model and calibration sets, run nothing")
    args = ap.parse_args()
    out = args.out
    (out / "cal").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    model, shape, forward, units, prune, w = MODELS[args.kind](rng)
    onnx.save(model, out / "model.onnx")
    sets = [rng.standard_normal(shape).astype(np.float32) for _ in range(2)]
    for i, x in enumerate(sets):
        (out / "cal" / f"set{i}").mkdir(exist_ok=True)
        np.save(out / "cal" / f"set{i}" / "x.npy", x)
    x = rng.standard_normal(shape).astype(np.float32)
    np.save(out / "x.npy", x)
    if args.build_only:
        return 0

    passes = f"compress-prune{{pattern=structured sparsity={args.sparsity} report={out}/report.json}}"
    cmd = [args.compress_run, str(out / "model.onnx"), "--calibration", str(out / "cal"), "--passes", passes,
           "--input", f"x={out}/x.npy", "--output-dir", str(out / "outputs")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        print(" ".join(cmd), "\n", proc.stderr, proc.stdout)
        return 1
    report = json.loads((out / "report.json").read_text())
    entries = [e for e in report["layers"] if "skipped" not in e]
    assert len(entries) == 1, entries
    entry = entries[0]

    # The ranking: the least important units, computed here from the calibration sets.
    w64 = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in w.items()}
    norms = unit_norms(args.kind, [forward(s.astype(np.float64), w64)[1] for s in sets], units)
    remove = min(round(args.sparsity * units), units - 1)
    expected = sorted(np.argsort(norms, kind="stable")[:remove].tolist())
    assert entry["removed"] == expected, (entry["removed"], expected, norms)
    assert entry["channels_before"] == units and entry["channels_after"] == units - remove, entry
    keep = [u for u in range(units) if u not in expected]

    pruned = prune(w64, keep)
    want = forward(x.astype(np.float64), pruned)[0]
    got = np.load(out / "outputs" / "y.npy")
    error = np.abs(got - want).max() / np.abs(want).max()
    assert got.shape == want.shape and error < 1e-5, (got.shape, want.shape, error)
    deleted = sum(w[k].size - pruned[k].size for k in w if w[k].dtype == np.float32 and w[k].ndim >= 1)
    assert entry["parameters_before"] - entry["parameters_after"] == deleted, (entry, deleted)
    print(f"{args.kind}: removed {expected} of {units}, {deleted} parameters, max relative error {error:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
