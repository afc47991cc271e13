"""Checks compress-token-skip against onnxruntime on llama_block.py stacks with routing written in ONNX: before
each routed block, score = x . w / rms + s * ln(rms) with rms = sqrt(mean(x^2) + 1e-6) and keep = score >= threshold (the routers come from a
file, routers=), the block's output replaced by Where(keep, output, input); with skip-kv=true the block's attention
mask also gets -inf at the keys of skipped tokens. compress-run runs the unrouted ONNX with the pass (on the CPU,
compress-compact-tokens runs the query, output and MLP layers on the kept tokens only) and must match:
- routed, skip-kv false and true, without a cache; and with a key/value cache;
- a cache stays consistent: prefill of S tokens then a decode step of one equals a prefill of S + 1 tokens (the
  routed last token's output and every present tensor);
- skip=0 (routers fitted on calibration data, thresholds -inf) equals the unrouted model bit for bit."""
import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
from compress_models import llama_block  # noqa: E402
from compress_models.minilm import save  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_tools import compress_run, rel_err  # noqa: E402

HIDDEN, HEADS, INTERMEDIATE, BLOCKS = 64, 4, 96, 3
TOKENS, PAST = 12, 5


def block_ends(model: onnx.ModelProto) -> list[str]:
    """Each block's output: the last Add of its scope."""
    ends = {}
    for node in model.graph.node:
        if node.op_type == "Add" and node.name.startswith("/model/layers."):
            ends[int(node.name.split("/")[2].split(".")[1])] = node.output[0]
    return [ends[i] for i in sorted(ends)]


def route_in_onnx(model: onnx.ModelProto, routers: np.ndarray, skip_kv: bool) -> onnx.ModelProto:
    """`model` with a router before each block (routers[i] = weights, scale weight, threshold), all blocks routed."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    ends = block_ends(model)
    starts = [graph.input[0].name] + ends[:-1]
    new_nodes = []
    for i, (start, end) in enumerate(zip(starts, ends)):
        p = f"/route{i}/"
        graph.initializer.extend([
            numpy_helper.from_array(routers[i, :-2].astype(np.float32).reshape(-1, 1), p + "w"),
            numpy_helper.from_array(np.array(routers[i, -2], np.float32), p + "s"),
            numpy_helper.from_array(np.array(routers[i, -1], np.float32), p + "threshold"),
            numpy_helper.from_array(np.array(2.0, np.float32), p + "two"),
            numpy_helper.from_array(np.array(1e-6, np.float32), p + "eps"),
            numpy_helper.from_array(np.array(0.0, np.float32), p + "zero"),
            numpy_helper.from_array(np.array(-np.inf, np.float32), p + "minus_inf"),
            numpy_helper.from_array(np.array([0, 2], np.int64), p + "key_axes"),
        ])
        new_nodes += [
            helper.make_node("Pow", [start, p + "two"], [p + "sq"]),
            helper.make_node("ReduceMean", [p + "sq"], [p + "ms"], axes=[-1], keepdims=1),
            helper.make_node("Add", [p + "ms", p + "eps"], [p + "ms_eps"]),
            helper.make_node("Sqrt", [p + "ms_eps"], [p + "rms"]),
            helper.make_node("MatMul", [start, p + "w"], [p + "dot"]),
            helper.make_node("Div", [p + "dot", p + "rms"], [p + "direction"]),
            helper.make_node("Log", [p + "rms"], [p + "log_rms"]),
            helper.make_node("Mul", [p + "log_rms", p + "s"], [p + "scale"]),
            helper.make_node("Add", [p + "direction", p + "scale"], [p + "score"]),
            helper.make_node("GreaterOrEqual", [p + "score", p + "threshold"], [p + "keep"]),  # [1, T, 1]
        ]
        if skip_kv:  # the mask Add of the block (scores / sqrt(d) + mask) gets -inf at skipped keys
            new_nodes += [
                helper.make_node("Squeeze", [p + "keep"], [p + "keep_t"]),  # [T]
                helper.make_node("Where", [p + "keep_t", p + "zero", p + "minus_inf"], [p + "key_bias"]),
            ]
            scaled = {n.output[0] for n in graph.node if n.op_type == "Div" and n.input[1] == "/const_sqrt_head_dim"
                      and n.name.startswith(f"/model/layers.{i}/")}
            for node in graph.node:  # scores / sqrt(head_dim) + mask
                if node.op_type == "Add" and node.input[0] in scaled:
                    new_nodes.append(helper.make_node("Add", [node.input[1], p + "key_bias"], [p + "mask"]))
                    node.input[1] = p + "mask"
        for node in graph.node:
            if end in node.output:
                node.output[list(node.output).index(end)] = p + "raw"
        new_nodes.append(helper.make_node("Where", [p + "keep", p + "raw", start], [end]))
    graph.node.extend(new_nodes)
    # Keep the nodes topologically sorted for onnxruntime.
    model = onnx.ModelProto.FromString(model.SerializeToString())
    sorted_nodes, ready = [], {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(model.graph.node)
    while pending:
        node = next(n for n in pending if all(x in ready for x in n.input))
        pending.remove(node)
        sorted_nodes.append(node)
        ready.update(node.output)
    del model.graph.node[:]
    model.graph.node.extend(sorted_nodes)
    return model



def ort_run(model: onnx.ModelProto, feeds: dict) -> dict:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))



def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compress-run", type=Path, default=ROOT / "build" / "bin" / "compress-run")
    args, _ = ap.parse_known_args()
    rng = np.random.default_rng(11)
    hidden = rng.standard_normal((1, TOKENS, HIDDEN), dtype=np.float32)
    past = {f"past_{kind}.{i}": rng.standard_normal((1, HEADS, PAST, HIDDEN // HEADS), dtype=np.float32)
            for i in range(BLOCKS) for kind in ("key", "value")}
    routers = np.concatenate([rng.standard_normal((BLOCKS, HIDDEN + 1)), np.zeros((BLOCKS, 1))], axis=1)
    failures, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = {}
        for kv in (False, True):
            models[kv] = llama_block.build_model(blocks=BLOCKS, hidden=HIDDEN, heads=HEADS,
                                                 intermediate=INTERMEDIATE, kv_cache=kv)
            save(onnx.ModelProto.FromString(models[kv].SerializeToString()), tmp / f"stack{'_kv' if kv else ''}.onnx",
                 external_data=True)
        # Thresholds at each block's median score on the unrouted hidden states: about half the tokens skip.
        plain = models[False]
        probe = onnx.ModelProto.FromString(plain.SerializeToString())
        probe.graph.output.extend([onnx.ValueInfoProto(name=e) for e in block_ends(plain)[:-1]])
        states = ort_run(probe, {"hidden": hidden})
        chain = [hidden] + [states[e] for e in block_ends(plain)]
        for i in range(BLOCKS):
            x = chain[i][0].astype(np.float64)
            rms = np.sqrt((x * x).mean(1) + 1e-6)
            score = x @ routers[i, :-2] / rms + routers[i, -2] * np.log(rms)
            routers[i, -1] = float(np.median(score))
        np.save(tmp / "routers.npy", routers)
        passes = f"compress-token-skip{{first=0 last={BLOCKS - 1} routers={tmp / 'routers.npy'}}}"

        for kv, skip_kv in ((False, False), (False, True), (True, False)):
            label = f"{'with' if kv else 'without'} a cache, skip-kv={'true' if skip_kv else 'false'}"
            feeds = {"hidden": hidden, **(past if kv else {})}
            want = ort_run(route_in_onnx(models[kv], routers, skip_kv), feeds)
            p = passes[:-1] + " skip-kv=true}" if skip_kv else passes
            got = compress_run(args.compress_run, tmp / f"stack{'_kv' if kv else ''}.onnx", p, feeds,
                               tmp / f"run_{kv}_{skip_kv}")
            if sorted(got) != sorted(want):
                failures.append(f"{label}: outputs {sorted(got)}, onnxruntime's {sorted(want)}")
            for name in set(got) & set(want):
                if (err := rel_err(got[name], want[name])) > 1e-5:
                    failures.append(f"{label}: {name} relative error {err:.2e} against onnxruntime")
            notes.append(label)

        # Cache consistency: S tokens then one decode step = S + 1 tokens, routed.
        model_kv = tmp / "stack_kv.onnx"
        whole = compress_run(args.compress_run, model_kv, passes, {"hidden": hidden, **past}, tmp / "whole")
        head = compress_run(args.compress_run, model_kv, passes, {"hidden": hidden[:, :-1], **past}, tmp / "head")
        step_past = {f"past_{kind}.{i}": head[f"present_{kind}.{i}"] for i in range(BLOCKS)
                     for kind in ("key", "value")}
        step = compress_run(args.compress_run, model_kv, passes, {"hidden": hidden[:, -1:], **step_past},
                            tmp / "step")
        if (err := rel_err(step["output"][:, -1], whole["output"][:, -1])) > 1e-5:
            failures.append(f"decode step's output differs from the full prefill's last token: {err:.2e}")
        for name in (n for n in whole if n.startswith("present_")):
            if (err := rel_err(step[name], whole[name])) > 1e-5:
                failures.append(f"decode step's {name} differs from the full prefill's: {err:.2e}")

        # skip=0: fitted routers keep every token; the outputs are the unrouted model's, bit for bit.
        calibration = tmp / "cal"
        for s in range(2):
            (calibration / f"set{s}").mkdir(parents=True)
            np.save(calibration / f"set{s}" / "hidden.npy", rng.standard_normal((1, TOKENS, HIDDEN), dtype=np.float32))
        report = tmp / "zero.json"
        zero = compress_run(args.compress_run, tmp / "stack.onnx",
                            f"compress-token-skip{{skip=0 report={report}}}", {"hidden": hidden}, tmp / "zero",
                            calibration)
        unrouted = compress_run(args.compress_run, tmp / "stack.onnx", "", {"hidden": hidden}, tmp / "unrouted")
        if not np.array_equal(zero["output"], unrouted["output"]):
            failures.append(f"skip=0 differs from the unrouted model: {rel_err(zero['output'], unrouted['output']):.2e}")
        rates = [b["skip_rate"] for b in json.loads(report.read_text())["blocks"]]
        if rates != [0.0] * len(rates):
            failures.append(f"skip=0 reports skip rates {rates}")
    for f in failures:
        print("FAIL:", f)
    print("compress-token-skip:", "failed" if failures else
          f"passed ({'; '.join(notes)} match onnxruntime; a decode step matches the full prefill; skip=0 equals "
          "the unrouted model)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
