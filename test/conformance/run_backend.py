"""Runs the ONNX backend test suite (libonnx-testdata) through compress-run and checks its outputs.

The allow-list only grows: --allowlist on the default list also fails if a case of allowlist_baseline.txt
is neither allow-listed nor in known_regressions.txt with a reason (check_allowlist.py)."""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

import check_allowlist

ROOT = Path(__file__).resolve().parents[2]
DATA = Path("/usr/share/libonnx-testdata/data")
SUITES = ("node", "pytorch-converted", "pytorch-operator", "simple")
DEFAULT_ALLOWLIST = ROOT / "test" / "conformance" / "backend_allowlist.txt"
RTOL, ATOL = 1e-4, 1e-5


@dataclass
class Case:
    name: str
    path: Path
    ops: set[str]      # op types of all nodes, nested graphs included; other domains as "domain::Op"
    opset: int         # the default-domain opset the model imports (-1 if none)
    inputs: list[str]  # graph inputs that are not initializers, in order
    outputs: list[str]
    non_tensor: list[str] = field(default_factory=list)  # inputs/outputs that are sequences, optionals, maps


@dataclass
class Result:
    case: Case
    status: str  # passed, failed or rejected
    reason: str = ""


def file_name(name: str) -> str:
    """The .npy file name compress-run writes for an output name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".npy"


def load_case(path: Path) -> Case:
    model = onnx.load(str(path / "model.onnx"))
    ops: set[str] = set()

    def walk(graph):
        for node in graph.node:
            ops.add(node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}")
            for attr in node.attribute:
                for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                    walk(sub)

    walk(model.graph)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), -1)
    inits = {t.name for t in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in inits]
    non_tensor = [v.name for v in inputs + list(model.graph.output) if v.type.WhichOneof("value") != "tensor_type"]
    return Case(path.name, path, ops, opset, [v.name for v in inputs], [v.name for v in model.graph.output],
                non_tensor)


def discover(data: Path) -> dict[str, Case]:
    cases = {}
    for suite in SUITES:
        for d in sorted((data / suite).iterdir()):
            if (d / "model.onnx").is_file():
                cases[d.name] = load_case(d)
    return cases


def supported_ops(compress_opt: Path) -> dict[str, tuple[int, int]]:
    """Parses `compress-opt --print-supported-onnx-ops`: one `OpType MIN_OPSET MAX_OPSET` line per op."""
    out = subprocess.run([str(compress_opt), "--print-supported-onnx-ops"], capture_output=True, text=True,
                         check=True).stdout
    ops = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            ops[parts[0]] = (int(parts[1]), int(parts[2]))
    return ops


def selectable(case: Case, ops: dict[str, tuple[int, int]]) -> bool:
    """True when every op of the case is supported at the opset the model imports."""
    return all(op in ops and ops[op][0] <= case.opset <= ops[op][1] for op in case.ops)


# Element types with an exact .npy form; the rest (strings, bfloat16, float8, int4) cannot be handed over.
NPY_TYPES = {getattr(onnx.TensorProto, t) for t in (
    "FLOAT", "DOUBLE", "FLOAT16", "BOOL", "INT8", "INT16", "INT32", "INT64",
    "UINT8", "UINT16", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128")}


def read_pb(path: Path) -> np.ndarray:
    """A TensorProto file as an array; ValueError for element types without a .npy form."""
    tensor = onnx.load_tensor(str(path))
    if tensor.data_type not in NPY_TYPES:
        raise ValueError(f"runner cannot pass {onnx.TensorProto.DataType.Name(tensor.data_type)} tensors as .npy")
    return numpy_helper.to_array(tensor)


def numbered(files) -> list[Path]:
    # input_10.pb sorts after input_9.pb: order by the number, not the text.
    return sorted(files, key=lambda p: int(p.stem.rsplit("_", 1)[1]))


def worst_mismatch(name: str, ours: np.ndarray, ref: np.ndarray) -> str | None:
    """None if `ours` matches `ref`, else a one-line description of the worst element."""
    if ours.shape != ref.shape or ours.dtype != ref.dtype:
        return f"{name}: got {ours.dtype}{list(ours.shape)}, expected {ref.dtype}{list(ref.shape)}"
    if ref.dtype.kind in "fc":
        # Compare in double precision: float32 differences near the range limit would overflow.
        wide = np.complex128 if ref.dtype.kind == "c" else np.float64
        a, b = ours.astype(wide), ref.astype(wide)
        close = np.isclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True)
        if close.all():
            return None
        # Rank the failing elements by how far past the tolerance they are (inf - inf is a mismatch too).
        with np.errstate(invalid="ignore"):
            gap = np.abs(a - b) - RTOL * np.abs(b)
        excess = np.where(close, 0.0, np.nan_to_num(gap, nan=np.inf, posinf=np.inf))
    else:
        close = ours == ref
        if close.all():
            return None
        excess = (~close).astype(np.float64)
    idx = np.unravel_index(np.argmax(excess), ref.shape) if ref.ndim else ()
    return (f"{name}: {int((~close).sum())}/{ref.size} elements differ, worst at {list(map(int, idx))}: "
            f"got {ours[idx]!s}, expected {ref[idx]!s}")


def run_case(case: Case, compress_run: Path, work: Path, timeout: float) -> Result:
    if case.non_tensor:
        return Result(case, "failed", f"runner cannot pass non-tensor values ({', '.join(case.non_tensor)})")
    for data_set in sorted(case.path.glob("test_data_set_*")):
        try:
            inputs = [read_pb(p) for p in numbered(data_set.glob("input_*.pb"))]
            expected = [read_pb(p) for p in numbered(data_set.glob("output_*.pb"))]
        except ValueError as e:
            return Result(case, "failed", str(e))
        d = work / case.name / data_set.name
        out_dir = d / "outputs"
        out_dir.mkdir(parents=True, exist_ok=True)
        cmd = [str(compress_run), str(case.path / "model.onnx")]
        for k, (name, value) in enumerate(zip(case.inputs, inputs)):
            # Numbered file names: input names may be empty-ish or collide once sanitised.
            np.save(d / f"input_{k}.npy", value)
            cmd += ["--input", f"{name}={d / f'input_{k}.npy'}"]
        cmd += ["--output-dir", str(out_dir)]
        # Own process group, so a timeout kills anything compress-run started, not just compress-run.
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return Result(case, "failed", f"timed out after {timeout:g}s")
        if proc.returncode != 0:
            lines = [line for line in stderr.splitlines() if line.strip()]
            # Warnings may come first; the first line that says "error" is the one that explains.
            reason = next((line for line in lines if "error" in line.lower()), lines[0] if lines else
                          f"exit status {proc.returncode}, no stderr")
            return Result(case, "rejected" if "unsupported" in stderr.lower() else "failed", reason.strip())
        for name, ref in zip(case.outputs, expected):
            path = out_dir / file_name(name)
            if not path.is_file():
                return Result(case, "failed", f"{name}: no output file {path.name}")
            problem = worst_mismatch(name, np.load(path), ref)
            if problem:
                return Result(case, "failed", problem)
    return Result(case, "passed")


def read_allowlist(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def write_allowlist(path: Path, results: list[Result]) -> None:
    """Also adds the passing cases to the baseline next to the default allow-list, which only grows."""
    passed = sorted(r.case.name for r in results if r.status == "passed")
    if path.resolve() == DEFAULT_ALLOWLIST:
        baseline = check_allowlist.BASELINE
        lines = baseline.read_text().splitlines()
        header = [line for line in lines if line.startswith("#")]
        ever = sorted(set(check_allowlist.read_names(baseline)) | set(passed))
        baseline.write_text("".join(line + "\n" for line in header + ever))
    header = ("# Generated by `test/conformance/run_backend.py --write-allowlist`: the ONNX backend cases\n"
              "# (libonnx-testdata) that compress-run passes. Regenerate rather than edit; CI runs\n"
              "# `run_backend.py --allowlist` and fails if any of them stops passing. The list only grows: a\n"
              "# case dropped from it must be in known_regressions.txt with a reason (check_allowlist.py).\n")
    path.write_text(header + "".join(n + "\n" for n in passed))


def write_docs(path: Path, ops: dict[str, tuple[int, int]], cases: dict[str, Case], results: list[Result]) -> None:
    """One row per supported op. "Runnable" cases are those whose every op is supported at the case's
    opset; an op is complete when all its runnable cases pass. Cases that also need an unsupported op
    or opset are counted apart: they say nothing about this op."""
    status_of = {r.case.name: r.status for r in results}
    # A rejection names the op that refused ("node 'n' (Op, opset k): unsupported ..."); for the case's
    # other ops it is a block, not a verdict.
    rejected_by = {r.case.name: m.group(1) for r in results
                   if r.status == "rejected" and (m := re.search(r"\((\w+), opset \d+\)", r.reason))}
    passed = [n for n, s in status_of.items() if s == "passed"]
    lines = ["# Supported ONNX ops", "",
             "Generated by `test/conformance/run_backend.py --write-docs docs/ops.md` from",
             "`compress-opt --print-supported-onnx-ops` and a run of the ONNX backend suite",
             f"(libonnx-testdata: {', '.join(SUITES)}). Opsets are the model opset versions the importer",
             "accepts the op at. *Runnable* cases use only supported ops at supported opsets; *rejected*",
             "ones stop at a clear `unsupported` error (an attribute value or variant the importer does not",
             "take) naming this op; *failed* ones ran and gave a wrong answer or could not be fed by the runner",
             "(string, bfloat16, sequence and optional values). *Blocked* cases also use an op or opset not",
             "supported here, or were rejected by another op. An op is *complete* when every runnable case passes.",
             "", f"{len(passed)} of {len(cases)} suite cases pass; the allow-list in",
             "`test/conformance/backend_allowlist.txt` holds exactly those, and the test suite runs them.", "",
             "| Op | Opsets | Passed / runnable | Rejected | Failed | Blocked | Status |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for op, (lo, hi) in sorted(ops.items()):
        using = [c.name for c in cases.values() if op in c.ops]
        runnable = [n for n in using if n in status_of and rejected_by.get(n, op) == op]
        ok = sum(status_of[n] == "passed" for n in runnable)
        rejected = sum(status_of[n] == "rejected" for n in runnable)
        failed = len(runnable) - ok - rejected
        blocked = len(using) - len(runnable)
        status = ("no runnable case" if not runnable else "complete" if ok == len(runnable)
                  else f"partial ({ok}/{len(runnable)})")
        lines.append(f"| {op} | {lo}-{hi} | {ok}/{len(runnable)} | {rejected} | {failed} | {blocked} | {status} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--allowlist", type=Path, nargs="?", const=DEFAULT_ALLOWLIST,
                      help=f"run exactly the listed cases, exit 1 if any fails (the default mode; "
                           f"default file {DEFAULT_ALLOWLIST.relative_to(ROOT)})")
    mode.add_argument("--all", action="store_true",
                      help="run every case whose ops are all supported at the model's opset; exits 0 "
                           "whatever the results (it is for exploring and for the --write-* options)")
    ap.add_argument("--write-allowlist", type=Path, nargs="?", const=DEFAULT_ALLOWLIST,
                    help="with --all (implied): rewrite the allowlist with exactly the passing cases")
    ap.add_argument("--write-docs", type=Path, metavar="OPS_MD", help="with --all (implied): write the ops table")
    ap.add_argument("--filter", metavar="REGEX", help="only the selected cases whose name matches REGEX (re.search)")
    ap.add_argument("--compress-run", type=Path, default=ROOT / "build" / "bin" / "compress-run")
    ap.add_argument("--compress-opt", type=Path, default=ROOT / "build" / "bin" / "compress-opt")
    ap.add_argument("--data", type=Path, default=DATA, help="libonnx-testdata data directory")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=60, help="seconds per case; a timeout is a failure")
    ap.add_argument("--work-dir", type=Path, help="keep inputs and outputs here (default: a temporary directory)")
    args = ap.parse_args(argv)
    run_all = args.all or args.write_allowlist or args.write_docs
    if args.filter and (args.write_allowlist or args.write_docs):
        ap.error("--write-allowlist and --write-docs need the whole suite; they do not combine with --filter")
    if run_all and args.allowlist:
        ap.error("--write-allowlist and --write-docs run the whole suite; they do not combine with --allowlist")

    cases = discover(args.data)
    ops: dict[str, tuple[int, int]] = {}
    if run_all:
        try:
            ops = supported_ops(args.compress_opt)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"cannot get the supported ops from {args.compress_opt}: {e}")
            print("0 passed, 1 failed")
            return 1
        selected = [c for c in cases.values() if selectable(c, ops)]
        print(f"{len(selected)} of {len(cases)} cases use only supported ops ({len(ops)} ops)")
    else:
        allowlist = args.allowlist or DEFAULT_ALLOWLIST
        names = read_allowlist(allowlist)
        # A listed name the suite lacks is a failure too: a typo must not silently shrink the run.
        unknown = [Result(Case(n, allowlist, set(), -1, [], []), "failed", "not in the suite")
                   for n in names if n not in cases]
        selected = [cases[n] for n in names if n in cases]
        print(f"{len(names)} cases listed in {allowlist}")
        # The allow-list only grows: a dropped case must be a known regression with a reason.
        if allowlist.resolve() == DEFAULT_ALLOWLIST:
            unknown += [Result(Case("allow-list", allowlist, set(), -1, [], []), "failed", p)
                        for p in check_allowlist.check(allowlist, check_allowlist.BASELINE,
                                                       check_allowlist.REGRESSIONS)]

    if args.filter:
        selected = [c for c in selected if re.search(args.filter, c.name)]
        print(f"{len(selected)} of them match {args.filter!r}")

    with tempfile.TemporaryDirectory(prefix="compress-backend-") as tmp:
        work = args.work_dir or Path(tmp)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(lambda c: run_case(c, args.compress_run, work, args.timeout), selected))
    if not run_all:
        results += unknown

    counts = Counter(r.status for r in results)
    for r in results:
        if r.status != "passed":
            print(f"{r.status.upper()} {r.case.name}: {r.reason}")
    if run_all:
        print(f"\nsummary: {counts['passed']} passed, {counts['failed']} failed, {counts['rejected']} rejected, "
              f"{len(results)} total")
        print("per op (passed/run, rejected):")
        for op in sorted(ops):
            using = [r for r in results if op in r.case.ops]
            if using:
                ok = sum(r.status == "passed" for r in using)
                rej = sum(r.status == "rejected" for r in using)
                print(f"  {op}: {ok}/{len(using)}" + (f", {rej} rejected" if rej else ""))
        if args.write_allowlist:
            write_allowlist(args.write_allowlist, results)
            print(f"wrote {args.write_allowlist}")
        if args.write_docs:
            write_docs(args.write_docs, ops, cases, results)
            print(f"wrote {args.write_docs}")
    failed = len(results) - counts["passed"]
    print(f"{counts['passed']} passed, {failed} failed")
    return 0 if run_all or failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
