"""Which tokens should skip? Token routing of SmolLM2-135M written into its ONNX graph and run by onnxruntime (no
CompressIR code involved), by perplexity on the Austen protocol: before each block 1..28 a rule decides per token
whether the block's output or its input goes on (Where), at the per-block rates of compress-token-skip's schedules.

Rules: `oracle` keeps the tokens whose measured relative update ||block(x) - x|| / ||x|| is above the rate's
quantile (it needs the block's output, so it saves nothing: the bound a router predicting updates could reach);
`linear` is compress-token-skip's fitted router (least squares of ln(update) on x / rms(x) and ln(rms(x)), on the
unrouted calibration states, fit=once); `sequential` the same fitted block after block with the routers before it in place
(fit=sequential); `randw` a router with Gaussian weights; `randmask` a random keep mask.

    .venv/bin/python bench/token_skip_study.py --windows 4 --schedules updates,uniform \\
        --rules oracle,linear,sequential,randw,randmask"""
import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench"))
from compress_models import austen, smollm2  # noqa: E402
from llm_quality import window_nll  # noqa: E402

FIRST, LAST, BLOCKS = 1, 28, 30


class Study:
    def __init__(self, windows: int, calibration_sets: int):
        self.base = onnx.load(str(smollm2.fetch()["ids"]))
        self.ends = [n.output[0] for n in self.base.graph.node
                     if n.op_type == "Add" and any("down_proj" in i for i in n.input)]
        self.starts = ["/model/embed_tokens/Gather_output_0"] + self.ends[:-1]
        self.calibration = austen.calibration_windows(calibration_sets)
        self.evaluation = austen.evaluation_windows(windows)
        self.options = ort.SessionOptions()
        self.options.intra_op_num_threads = 2
        x, y = self.states(self.base, range(BLOCKS))
        self.updates = {b: self.update(x[b], y[b]) for b in range(BLOCKS)}
        self.inputs = {b: self.features(x[b]) for b in range(BLOCKS)}

    def session(self, model):
        return ort.InferenceSession(model.SerializeToString(), self.options, providers=["CPUExecutionProvider"])

    def states(self, model, blocks):
        """Each block's input and output hidden states over the calibration windows, float64 [tokens, 576]."""
        probe = onnx.ModelProto()
        probe.CopyFrom(model)
        probe.graph.output.extend([onnx.ValueInfoProto(name=n) for b in blocks for n in (self.starts[b], self.ends[b])])
        s = self.session(probe)
        names = [o.name for o in s.get_outputs()]
        x, y = {b: [] for b in blocks}, {b: [] for b in blocks}
        for w in self.calibration:
            out = dict(zip(names, s.run(None, {"input_ids": w[None].astype(np.int64)})))
            for b in blocks:
                x[b].append(out[self.starts[b]][0])
                y[b].append(out[self.ends[b]][0])
        return ({b: np.concatenate(v).astype(np.float64) for b, v in x.items()},
                {b: np.concatenate(v).astype(np.float64) for b, v in y.items()})

    @staticmethod
    def update(x, y):
        return np.linalg.norm(y - x, axis=1) / np.linalg.norm(x, axis=1)

    @staticmethod
    def features(x):
        """compress.route_tokens' features: x / rms(x) and ln(rms(x))."""
        rms = np.sqrt((x ** 2).mean(1, keepdims=True) + 1e-6)
        return np.concatenate([x / rms, np.log(rms)], 1)

    @staticmethod
    def fit(features, updates):
        """compress-token-skip's fit: least squares of ln(update) (ridge 1e-3), the constant left out."""
        a = np.concatenate([features, np.ones((len(features), 1))], 1)
        gram = a.T @ a
        gram[np.diag_indices_from(gram)] += 1e-3 * np.diag(gram).mean()
        return np.linalg.solve(gram, a.T @ np.log(np.maximum(updates, 1e-12)))[:-1]

    def rates(self, skip, schedule):
        routed = range(FIRST, LAST + 1)
        if schedule == "uniform":
            return {b: skip for b in routed}
        pooled = np.sort(np.concatenate([self.updates[b] for b in routed]))
        cut = pooled[int(round(skip * len(pooled))) - 1]
        return {b: float((self.updates[b] <= cut).mean()) for b in routed}

    @staticmethod
    def threshold(scores, rate):
        return np.sort(scores)[int(round(rate * len(scores)))] if rate > 0 else -np.inf

    def routed(self, decisions: dict) -> onnx.ModelProto:
        """The model with decisions[b] = ("router", [w, s], threshold) | ("oracle", threshold) | ("mask", keep)."""
        m = onnx.ModelProto()
        m.CopyFrom(self.base)
        g, nodes = m.graph, []
        for b, decision in decisions.items():
            x, y, p = self.starts[b], self.ends[b], f"/route{b}/"
            for n in g.node:
                if y in n.output:
                    n.output[list(n.output).index(y)] = p + "raw"
            const = lambda name, value: g.initializer.append(numpy_helper.from_array(value, p + name))  # noqa: E731
            if decision[0] == "router":
                const("w", decision[1][:-1].astype(np.float32).reshape(-1, 1))
                const("s", np.array(decision[1][-1], np.float32))
                const("t", np.array(decision[2], np.float32))
                const("two", np.array(2.0, np.float32))
                const("eps", np.array(1e-6, np.float32))
                nodes += [helper.make_node("Pow", [x, p + "two"], [p + "sq"]),
                          helper.make_node("ReduceMean", [p + "sq"], [p + "ms"], axes=[-1], keepdims=1),
                          helper.make_node("Add", [p + "ms", p + "eps"], [p + "mse"]),
                          helper.make_node("Sqrt", [p + "mse"], [p + "rms"]),
                          helper.make_node("MatMul", [x, p + "w"], [p + "dot"]),
                          helper.make_node("Div", [p + "dot", p + "rms"], [p + "direction"]),
                          helper.make_node("Log", [p + "rms"], [p + "log_rms"]),
                          helper.make_node("Mul", [p + "log_rms", p + "s"], [p + "scale"]),
                          helper.make_node("Add", [p + "direction", p + "scale"], [p + "score"]),
                          helper.make_node("GreaterOrEqual", [p + "score", p + "t"], [p + "keep"])]
            elif decision[0] == "oracle":
                const("t", np.array(decision[1], np.float32))
                nodes += [helper.make_node("Sub", [p + "raw", x], [p + "d"]),
                          helper.make_node("ReduceL2", [p + "d"], [p + "nd"], axes=[-1], keepdims=1),
                          helper.make_node("ReduceL2", [x], [p + "nx"], axes=[-1], keepdims=1),
                          helper.make_node("Div", [p + "nd", p + "nx"], [p + "u"]),
                          helper.make_node("GreaterOrEqual", [p + "u", p + "t"], [p + "keep"])]
            else:
                const("keep", decision[1])
            nodes.append(helper.make_node("Where", [p + "keep", p + "raw", x], [y]))
        g.node.extend(nodes)
        ready = {i.name for i in g.input} | {t.name for t in g.initializer} | {""}
        pending, ordered = list(g.node), []
        while pending:
            i = next(i for i, n in enumerate(pending) if all(v in ready for v in n.input))
            ordered.append(pending.pop(i))
            ready.update(ordered[-1].output)
        del g.node[:]
        g.node.extend(ordered)
        return m

    def decisions(self, rule, rates, seed=0):
        rng = np.random.default_rng(seed)
        out = {}
        for b, rate in rates.items():
            if rule == "oracle":
                out[b] = ("oracle", np.quantile(self.updates[b], rate) if rate > 0 else -np.inf)
            elif rule in ("linear", "randw"):
                w = (self.fit(self.inputs[b], self.updates[b]) if rule == "linear"
                     else np.append(rng.standard_normal(576), 0.0))
                out[b] = ("router", w, self.threshold(self.inputs[b] @ w, rate))
            elif rule == "randmask":
                out[b] = ("mask", rng.random((1, self.evaluation.shape[1], 1)) >= rate)
            elif rule == "sequential":  # each block fitted with the routers before it in place
                x, y = self.states(self.routed(out), [b])
                f, u = self.features(x[b]), self.update(x[b], y[b])
                w = self.fit(f, u)
                out[b] = ("router", w, self.threshold(f @ w, rate))
        return out

    def perplexity(self, model):
        s = self.session(model)
        nll = np.concatenate([window_nll(s.run(None, {"input_ids": w[None].astype(np.int64)})[0], w[None])
                              for w in self.evaluation])
        return austen.perplexity(nll)[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--calibration-sets", type=int, default=4)
    ap.add_argument("--skip", type=float, default=0.3)
    ap.add_argument("--schedules", default="updates")
    ap.add_argument("--rules", default="oracle,linear,sequential,randw,randmask")
    args = ap.parse_args(argv)
    study = Study(args.windows, args.calibration_sets)
    print(f"| schedule | rule | perplexity ({args.windows} windows; full {study.perplexity(study.base):.2f}) |")
    print("| --- | --- | ---: |")
    for schedule in args.schedules.split(","):
        rates = study.rates(args.skip, schedule)
        for rule in args.rules.split(","):
            print(f"| {schedule} | {rule} | {study.perplexity(study.routed(study.decisions(rule, rates))):.2f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
