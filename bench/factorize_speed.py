"""Latency of a 4096 x 11008 linear layer factorized by compress-factorize to 50% of its parameters (rank 1492),
against the same layer dense, in our compiled code and in onnxruntime (which runs the factorized layer as two MatMuls
by the same factors). The issue's criteria: the factorized layer at most 0.65x the dense layer's time at batch 1 and
0.6x at batch 128.

    .venv/bin/python bench/factorize_speed.py --markdown docs/benchmarks.md
"""
import argparse
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_vs_onnxruntime import (ROOT, cell, log, machine_description, measured, run_onnxruntime,  # noqa: E402
                                run_ours, tensor_file)
from quantize_vs_onnxruntime import (LINEAR_K, LINEAR_N, build_linear, megabytes, model_files,  # noqa: E402
                                     ours_compiled, relative_error)

SECTION_BEGIN = "<!-- BEGIN bench/factorize_speed.py results -->"
SECTION_END = "<!-- END bench/factorize_speed.py results -->"
RATIO = 0.5
RANK = int(RATIO * LINEAR_K * LINEAR_N / (LINEAR_K + LINEAR_N))
OURS = [("ours fp32 dense", ""),
        ("ours low-rank fp32", f"compress-factorize{{method=svd ratio={RATIO}}}"),
        ("ours low-rank int8 factors", f"compress-factorize{{method=svd ratio={RATIO} bits=8}}")]


@dataclass
class Row:
    batch: int
    label: str
    median_ms: float | None = None
    min_ms: float | None = None
    rel_error: float | None = None
    file_mb: float | None = None
    notes: list[str] = field(default_factory=list)


def build_factorized(dense: Path, path: Path) -> Path:
    """The dense layer's rank-RANK truncated SVD as two MatMuls (numpy's factors, sqrt(sigma) on each side)."""
    if path.is_file():
        return path
    w = numpy_helper.to_array(onnx.load(str(dense)).graph.initializer[0]).astype(np.float64)  # [K, N]
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    first = (u[:, :RANK] * np.sqrt(s[:RANK])).astype(np.float32)             # [K, r]
    second = (np.sqrt(s[:RANK])[:, None] * vt[:RANK]).astype(np.float32)     # [r, N]
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "a"], ["t"], name="down"),
                               helper.make_node("MatMul", ["t", "b"], ["y"], name="up")], "low_rank",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", LINEAR_K])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", LINEAR_N])],
                              [numpy_helper.from_array(first, "a"), numpy_helper.from_array(second, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="compressir-bench")
    model.ir_version = 8
    onnx.save(model, path)
    return path


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=21, help="timed runs per variant, after one warm-up run")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 128])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS")
    ap.add_argument("--retries", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--bin-dir", type=Path, default=ROOT / "build" / "bin")
    ap.add_argument("--markdown", type=Path, metavar="FILE", help="write the results into a section of FILE")
    args = ap.parse_args(argv)
    args.compress_compile = (args.bin_dir / "compress-compile").resolve()
    args.compress_run = (args.bin_dir / "compress-run").resolve()
    args.cache = Path(os.environ.get("COMPRESS_CACHE") or Path.home() / ".cache" / "compressir").resolve()
    work = args.cache / "bench" / "factorize"
    work.mkdir(parents=True, exist_ok=True)

    dense = build_linear(args.cache / "bench" / "quantize" / "linear-4096x11008.onnx", args.seed)
    factorized = build_factorized(dense, work / f"linear-4096x11008-rank{RANK}.onnx")
    # Everything is compiled first, so that no building overlaps a timed run.
    libs = {}
    for batch in args.batches:
        for label, passes in OURS:
            tag = label.replace(" ", "-")
            out = args.cache / "artifacts" / "factorize" / f"linear-{tag}-b{batch}"
            libs[(label, batch)] = ours_compiled(args, dense, "linear", out, {"x": (batch, LINEAR_K)}, passes)

    rows = []
    for batch in args.batches:
        inputs = {"x": np.random.default_rng([args.seed, 3, batch]).standard_normal((batch, LINEAR_K),
                                                                                    dtype=np.float32)}
        log(f"== batch {batch}")
        ref = None
        for label, path in (("ORT fp32 dense", dense), ("ORT fp32 low-rank (two MatMuls)", factorized)):
            row = Row(batch, label)
            row.file_mb = sum(megabytes(f) or 0.0 for f in model_files(path))
            (outputs, row.median_ms, row.min_ms, _), cores = measured(
                label, args, lambda: run_onnxruntime(path, inputs, args.threads, args.runs))
            ref = outputs["y"] if ref is None else ref
            row.rel_error = relative_error(outputs["y"], ref)
            if cores >= 0.1:
                row.notes.append(f"other processes used {cores:.1f} cores meanwhile")
            rows.append(row)
        for label, _ in OURS:
            row = Row(batch, label)
            lib, err = libs[(label, batch)]
            if lib is None:
                row.notes.append("not run: " + err)
                rows.append(row)
                continue
            row.file_mb = megabytes(lib.parent / "linear.weights")
            try:
                (out_dir, row.median_ms, row.min_ms, _), cores = measured(
                    label, args, lambda: run_ours(args.compress_run, lib, inputs, work / "run", args.threads,
                                                  args.runs, args.timeout))
                row.rel_error = relative_error(np.load(out_dir / tensor_file("y")), ref)
                if cores >= 0.1:
                    row.notes.append(f"other processes used {cores:.1f} cores meanwhile")
            except RuntimeError as e:
                row.notes.append(str(e))
            rows.append(row)

    refs = ["ours fp32 dense", "ORT fp32 dense", "ORT fp32 low-rank (two MatMuls)"]
    lines = ["| batch | implementation | median ms | min ms | / ours dense | / ORT dense | / ORT low-rank "
             "| rel. error vs ORT dense | weights MB | notes |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        base = {x.label: x.median_ms for x in rows if x.batch == r.batch}
        ratios = [f"{r.median_ms / base[k]:.2f}" if r.median_ms and base.get(k) else "-" for k in refs]
        fmt = lambda v, f: f.format(v) if v is not None else "-"  # noqa: E731
        lines.append(f"| {r.batch} | {r.label} | {fmt(r.median_ms, '{:.2f}')} | {fmt(r.min_ms, '{:.2f}')} | "
                     + " | ".join(ratios) + f" | {fmt(r.rel_error, '{:.1e}')} | {fmt(r.file_mb, '{:.1f}')} | "
                     f"{cell('; '.join(r.notes)) or '-'} |")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        command = shlex.join([".venv/bin/python", "bench/factorize_speed.py"] + list(argv))
        body = [f"Rank {RANK} (50% of the parameters), `method=svd` of a seeded standard-normal / 64 weight "
                f"(the error rows show a random matrix's truncation, not a trained layer's). Median and minimum of "
                f"{args.runs} timed runs after one warm-up; {args.threads} threads; {time.strftime('%Y-%m-%d')}; "
                + "; ".join(machine_description()) + ".", "", "```sh", command, "```", "", table]
        text = args.markdown.read_text()
        section = "\n".join([SECTION_BEGIN] + body + [SECTION_END])
        if SECTION_BEGIN in text:
            start, end = text.index(SECTION_BEGIN), text.index(SECTION_END) + len(SECTION_END)
            text = text[:start] + section + text[end:]
        else:
            text += "\n" + section + "\n"
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
