"""CPU benchmark of compress-compile artifacts against onnxruntime (fp32): MiniLM, ResNet-18, a Llama decoder block."""
import argparse
import gc
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
PYTHON_DIR = ROOT / "python"
THRESHOLD = 1e-4
SECTION_BEGIN = "<!-- BEGIN bench/cpu_vs_onnxruntime.py results -->"
SECTION_END = "<!-- END bench/cpu_vs_onnxruntime.py results -->"
MINILM_VOCAB, MINILM_CLS, MINILM_SEP = 30522, 101, 102
BENCH_LINE = re.compile(r"run median ([0-9.]+) ms, min ([0-9.]+) ms, max ([0-9.]+) ms over (\d+) runs")


@dataclass(frozen=True)
class Model:
    """A model the cases run: its builder module (python -m compress_models.<module> -o PATH) and files."""
    key: str
    module: str
    file: str           # path of the .onnx under the cache
    data_file: str = ""  # external data next to it, if any

    def path(self, cache: Path) -> Path:
        return cache / self.file

    def files(self, cache: Path) -> list[Path]:
        return [self.path(cache)] + ([self.path(cache).with_name(self.data_file)] if self.data_file else [])


MODELS = {
    "minilm": Model("minilm", "minilm", "minilm/minilm.onnx"),
    "resnet18": Model("resnet18", "resnet", "resnet/resnet18.onnx"),
    "llama_block": Model("llama_block", "llama_block", "llama_block/llama_block.onnx", "llama_block.onnx.data"),
}


def minilm_inputs(rng: np.random.Generator, batch: int, seq: int) -> dict[str, np.ndarray]:
    """Token ids [CLS] words [SEP] then padding. The first row fills the sequence; the others have lengths drawn
    from [seq/2, seq], so the attention mask matters."""
    lengths = [seq] + [int(n) for n in rng.integers(seq // 2, seq + 1, batch - 1)]
    ids = np.zeros((batch, seq), np.int64)
    mask = np.zeros((batch, seq), np.int64)
    for b, n in enumerate(lengths):
        # Ids from 1000 up skip [PAD]/[unused*]/special tokens, as real word pieces do.
        ids[b, :n] = np.concatenate([[MINILM_CLS], rng.integers(1000, MINILM_VOCAB, n - 2), [MINILM_SEP]])
        mask[b, :n] = 1
    return {"input_ids": ids, "attention_mask": mask}


@dataclass(frozen=True)
class Case:
    name: str
    model: str
    description: str
    make_inputs: object  # rng -> {input name: array}


CASES = [
    Case("minilm-b1-s128", "minilm", "MiniLM-L6, batch 1 x 128 tokens", lambda rng: minilm_inputs(rng, 1, 128)),
    Case("minilm-b8-s128", "minilm", "MiniLM-L6, batch 8 x 128 tokens", lambda rng: minilm_inputs(rng, 8, 128)),
    Case("resnet18-b1", "resnet18", "ResNet-18, batch 1 x 3 x 224 x 224",
         lambda rng: {"image": rng.standard_normal((1, 3, 224, 224), dtype=np.float32)}),
    Case("llama-block-decode", "llama_block", "Llama-7B decoder block, 1 token",
         lambda rng: {"hidden": rng.standard_normal((1, 1, 4096), dtype=np.float32)}),
    Case("llama-block-prefill", "llama_block", "Llama-7B decoder block, 128 tokens",
         lambda rng: {"hidden": rng.standard_normal((1, 128, 4096), dtype=np.float32)}),
]


@dataclass
class Result:
    case: Case
    ort_ms: float | None = None
    ours_ms: float | None = None
    rel_errors: dict[str, float] = field(default_factory=dict)
    error: str = ""   # why our side has no number (compile, load or run failure, wrong output)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.rel_errors) and max(self.rel_errors.values()) < THRESHOLD


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpu_seconds() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine since boot, CPU seconds of this process and its finished children)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
    busy = sum(fields[:8]) - fields[3] - fields[4]
    t = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), t.user + t.system + t.children_user + t.children_system


class ForeignLoad:
    """Measures how many cores other processes kept busy between start() and cores()."""

    def start(self) -> None:
        self.wall, (self.busy, self.own) = time.monotonic(), cpu_seconds()

    def cores(self) -> float:
        busy, own = cpu_seconds()
        return max(0.0, (busy - self.busy) - (own - self.own)) / max(time.monotonic() - self.wall, 1e-3)


def wait_until_idle(limit: float) -> None:
    """Waits, at most `limit` seconds, for 2 seconds in which other processes use less than 0.1 core."""
    deadline, load = time.monotonic() + limit, ForeignLoad()
    while True:
        load.start()
        time.sleep(2)
        busy = load.cores()
        if busy < 0.1 or time.monotonic() >= deadline:
            if busy >= 0.1:
                log(f"machine still busy ({busy:.2f} cores used by other processes); going on")
            return


def ensure_model(model: Model, cache: Path, rebuild: bool) -> Path:
    """Builds the model into the cache unless it is there. The builder runs in its own process (the decoder block
    needs a few GB while it builds) and writes into a scratch folder, so a failed build leaves nothing behind."""
    dest = model.path(cache)
    if not rebuild and all(f.is_file() for f in model.files(cache)):
        return dest
    scratch = dest.parent / ".building"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    log(f"building {model.key} into {dest}")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(PYTHON_DIR), os.environ.get("PYTHONPATH")])))
    subprocess.run([sys.executable, "-m", f"compress_models.{model.module}", "-o", str(scratch / dest.name)],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    # Data file first: the .onnx appearing last marks the model complete.
    for f in reversed(model.files(cache)):
        (scratch / f.name).replace(f)
    scratch.rmdir()
    os.sync()
    return dest


def last_line(text: str) -> str:
    """The last non-empty line of a tool's output, without its "compress-xxx: error: " prefix."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return re.sub(r"^compress-[a-z]+: error: ", "", lines[-1]) if lines else "(no message)"


def compile_artifact(compiler: Path, model_path: Path, name: str, out: Path,
                     shapes: dict[str, tuple[int, ...]] | None = None) -> tuple[Path | None, str]:
    """lib<name>.so in out, compiled unless it is there and newer than both the compiler and the model files.
    Returns (library, "") or (None, compress-compile's error)."""
    lib = out / f"lib{name}.so"
    sources = [compiler, model_path] + [p for p in model_path.parent.glob(model_path.name + ".data")]
    if lib.is_file() and all(lib.stat().st_mtime >= s.stat().st_mtime for s in sources):
        return lib, ""
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)  # compress-compile creates only the last folder
    cmd = [str(compiler), str(model_path), "-o", str(out), "--name", name]
    for input_name, dims in (shapes or {}).items():
        cmd.append(f"--input-shape={input_name}={'x'.join(map(str, dims))}")
    log("$ " + shlex.join(cmd))
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, last_line(proc.stderr + proc.stdout)
    log(f"compiled in {time.perf_counter() - start:.1f} s")
    # Flush the written weights now: writeback during a timed run takes CPU from it.
    os.sync()
    return lib, ""


def tensor_file(name: str) -> str:
    """The .npy file name compress-run uses for a tensor name (inputs are saved the same way)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".npy"


def median(times: list[float]) -> float:
    """The median as compress-run reports it: element N/2 of the sorted times (the middle one for odd N)."""
    return sorted(times)[len(times) // 2]


def run_onnxruntime(model_path: Path, inputs: dict[str, np.ndarray], threads: int, runs: int):
    """One warm-up run, then `runs` timed ones. Returns (outputs by name, median ms, min ms, max ms)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, inputs)))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, inputs)
        times.append((time.perf_counter() - start) * 1e3)
    del session
    gc.collect()
    return outputs, median(times), min(times), max(times)


def run_ours(runner: Path, lib: Path, inputs: dict[str, np.ndarray], work: Path, threads: int, runs: int,
             timeout: float):
    """compress-run on the artifact. Returns (output dir, median ms, min ms, max ms) or raises RuntimeError."""
    in_dir, out_dir = work / "inputs", work / "outputs"
    shutil.rmtree(work, ignore_errors=True)
    in_dir.mkdir(parents=True)
    cmd = [str(runner), str(lib)]
    for name, value in inputs.items():
        path = in_dir / tensor_file(name)
        np.save(path, value)
        cmd += ["--input", f"{name}={path}"]
    cmd += ["--output-dir", str(out_dir), "--benchmark", str(runs), "--num-threads", str(threads)]
    log("$ " + shlex.join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"run timed out after {timeout:.0f} s")
    if proc.returncode < 0:
        raise RuntimeError(f"run killed by {signal.Signals(-proc.returncode).name}: "
                           + last_line(proc.stderr + proc.stdout))
    if proc.returncode != 0:
        raise RuntimeError("run failed: " + last_line(proc.stderr + proc.stdout))
    match = BENCH_LINE.search(proc.stdout)
    if not match:
        raise RuntimeError("run printed no timing line: " + last_line(proc.stdout + proc.stderr))
    return out_dir, float(match[1]), float(match[2]), float(match[3])


def relative_errors(ref: dict[str, np.ndarray], out_dir: Path) -> dict[str, float]:
    """||ours - ort|| / ||ort|| per output, in float64; raises RuntimeError for a missing or misshapen output."""
    errors = {}
    for name, expected in ref.items():
        path = out_dir / tensor_file(name)
        if not path.is_file():
            raise RuntimeError(f"output '{name}' was not written")
        got = np.load(path)
        if got.shape != expected.shape:
            raise RuntimeError(f"output '{name}' has shape {list(got.shape)}, onnxruntime gives {list(expected.shape)}")
        e = expected.astype(np.float64)
        errors[name] = float(np.linalg.norm(got.astype(np.float64) - e) / max(np.linalg.norm(e), 1e-30))
    return errors


def measured(side: str, args, run):
    """Calls run() (one side's warm-up and timed runs) and returns its result and the cores other processes used
    meanwhile. While that load was 0.1 core or more, waits for the machine to go idle and measures again, up to
    --retries times, keeping the least disturbed attempt."""
    best = None
    for _ in range(1 + args.retries):
        if args.wait_idle > 0:
            wait_until_idle(args.wait_idle)
        load = ForeignLoad()
        load.start()
        result = run()
        cores = load.cores()
        log(f"{side}: median {result[1]:.3f} ms, min {result[2]:.3f} ms, max {result[3]:.3f} ms over {args.runs} "
            f"runs; other processes used {cores:.2f} cores meanwhile")
        if best is None or cores < best[1]:
            best = (result, cores)
        if cores < 0.1:
            break
    return best


def run_case(case: Case, args, model_path: Path, artifact: tuple[Path | None, str]) -> Result:
    """Both runtimes on the case's seeded inputs. Our side falls back to an artifact compiled for the case's
    input shapes when the shape-generic compile failed, and says so in the notes."""
    res = Result(case)
    inputs = case.make_inputs(np.random.default_rng(args.seed))
    log(f"== {case.name}: {case.description}")
    (ref, res.ort_ms, _, _), cores = measured(
        "onnxruntime", args, lambda: run_onnxruntime(model_path, inputs, args.threads, args.runs))
    if cores >= 0.1:
        res.notes.append(f"other processes used {cores:.1f} cores during the onnxruntime runs")

    lib, compile_error = artifact
    if lib is None:
        if compile_error:
            res.notes.append(f"shape-generic compile failed: {compile_error}")
        shapes = {name: value.shape for name, value in inputs.items()}
        tag = "_".join("x".join(map(str, s)) for s in shapes.values())
        lib, compile_error = compile_artifact(args.compress_compile, model_path, case.model,
                                              args.cache / "artifacts" / f"{case.model}-{tag}", shapes)
        if lib is None:
            res.error = f"compile failed: {compile_error}"
            return res
        if compile_error:
            res.notes.append("artifact compiled for this case's input shapes: "
                             + ", ".join(f"{n}={'x'.join(map(str, s))}" for n, s in shapes.items()))
    try:
        (out_dir, res.ours_ms, _, _), cores = measured(
            "compress-run", args, lambda: run_ours(args.compress_run, lib, inputs, args.cache / "bench" / case.name,
                                                   args.threads, args.runs, args.timeout))
        if cores >= 0.1:
            res.notes.append(f"other processes used {cores:.1f} cores during our runs")
        res.rel_errors = relative_errors(ref, out_dir)
    except RuntimeError as e:
        # Paths inside the cache are written relative to it, so the table reads the same on every machine.
        res.error = str(e).replace(str(args.cache), "$COMPRESS_CACHE")
        return res
    log("relative error: " + ", ".join(f"{n} {v:.2e}" for n, v in res.rel_errors.items()))
    if max(res.rel_errors.values()) >= THRESHOLD:
        res.error = f"outputs differ from onnxruntime (relative error >= {THRESHOLD:g})"
    return res


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(results: list[Result]) -> str:
    rows = ["| case | ORT median ms | ours median ms | ours / ORT | rel. error | notes |",
            "| --- | ---: | ---: | ---: | --- | --- |"]
    for r in results:
        ort_ms = f"{r.ort_ms:.2f}" if r.ort_ms is not None else "-"
        if r.ours_ms is not None:
            ours = f"{r.ours_ms:.2f}"
            ratio = f"{r.ours_ms / r.ort_ms:.2f}" if r.ort_ms else "-"
        else:
            ours, ratio = "**failed**", "-"
        errs = "; ".join(f"{v:.1e}" if len(r.rel_errors) == 1 else f"{n} {v:.1e}" for n, v in r.rel_errors.items())
        notes = r.notes + ([r.error] if r.error else [])
        rows.append(f"| {r.case.name} ({cell(r.case.description)}) | {ort_ms} | {ours} | {ratio} | "
                    f"{cell(errs) or '-'} | {cell('; '.join(notes)) or '-'} |")
    return "\n".join(rows)


def machine_description() -> list[str]:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = re.search(r"^model name\s*:\s*(.*)$", info, re.M)
    flags = re.search(r"^flags\s*:\s*(.*)$", info, re.M)
    simd = [f for f in ("avx2", "fma", "avx512f") if flags and f in flags[1].split()]
    mem = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    git = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True)
    memory = f", {int(mem[1]) / 2**20:.0f} GiB memory" if mem else ""
    return [
        f"CPU: {model[1].strip() if model else platform.processor() or 'unknown'}"
        f" ({', '.join(simd) or 'no AVX2'}), {os.cpu_count()} cores{memory}",
        f"OS: {platform.system()} {platform.release()}; Python {platform.python_version()}, "
        f"onnxruntime {ort.__version__}, numpy {np.__version__}, onnx {onnx.__version__}",
        f"CompressIR: `{git.stdout.strip() or 'unknown'}` (git describe)",
    ]


def write_section(path: Path, command: str, args, results: list[Result], machine: list[str]) -> None:
    """Replaces the results section of `path` (between SECTION_BEGIN and SECTION_END), appending one if absent."""
    body = [SECTION_BEGIN, f"## Results ({time.strftime('%Y-%m-%d')})", ""]
    body += [f"- {line}" for line in machine]
    body += [f"- Threads: {args.threads}; timed runs: {args.runs} per side, after one warm-up run; seed {args.seed}",
             "- Notes name the cores other processes used during a side's runs where that reached 0.1 core "
             f"(after up to {args.retries} re-measurements)",
             "- Command (from the repository root):", "", "  ```sh", f"  {command}", "  ```", "",
             markdown_table(results), ""]
    body.append(SECTION_END)
    section = "\n".join(body)
    text = path.read_text() if path.is_file() else ""
    if SECTION_BEGIN in text and SECTION_END in text:
        head, rest = text.split(SECTION_BEGIN, 1)
        text = head + section + rest.split(SECTION_END, 1)[1]
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2, help="threads for both runtimes (default 2)")
    ap.add_argument("--runs", type=int, default=21, help="timed runs per case and side, after one warm-up run")
    ap.add_argument("--cases", nargs="+", choices=[c.name for c in CASES], metavar="CASE",
                    help="run only these cases (default all: %(choices)s)")
    ap.add_argument("--markdown", type=Path, metavar="FILE",
                    help="write the table and the machine description into a section of FILE (docs/benchmarks.md)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the inputs")
    ap.add_argument("--shape-generic", action="store_true",
                    help="compile each model once for its symbolic input shapes instead of once per case "
                         "for the case's shapes")
    ap.add_argument("--rebuild-models", action="store_true", help="rebuild the models even if they are cached")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="before each side of each case, wait up to SECONDS for other processes to leave the CPU")
    ap.add_argument("--retries", type=int, default=2,
                    help="measure a side again, up to this many times, when other processes used 0.1 core or more "
                         "during its runs (default 2)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds one compress-run call may take")
    ap.add_argument("--bin-dir", type=Path, default=ROOT / "build" / "bin",
                    help="where compress-compile and compress-run are (default build/bin)")
    args = ap.parse_args(argv)
    if args.threads < 1 or args.runs < 1 or args.retries < 0:
        ap.error("--threads and --runs must be at least 1, --retries at least 0")
    args.compress_compile = (args.bin_dir / "compress-compile").resolve()
    args.compress_run = (args.bin_dir / "compress-run").resolve()
    for tool in (args.compress_compile, args.compress_run):
        if not os.access(tool, os.X_OK):
            ap.error(f"{tool} is not an executable")
    args.cache = Path(os.environ.get("COMPRESS_CACHE") or Path.home() / ".cache" / "compressir").resolve()
    exe = Path(sys.executable)
    exe_shown = os.path.relpath(exe, ROOT) if exe.is_relative_to(ROOT) else "python3"
    script_shown = os.path.relpath(Path(__file__).resolve(), ROOT)
    command = shlex.join([exe_shown, script_shown] + list(sys.argv[1:] if argv is None else argv))
    machine = machine_description()
    cases = [c for c in CASES if not args.cases or c.name in args.cases]

    # Models and artifacts first, so that no building overlaps a timed run.
    models, artifacts = {}, {}
    for key in dict.fromkeys(c.model for c in cases):
        models[key] = ensure_model(MODELS[key], args.cache, args.rebuild_models)
        # By default each case gets an artifact for its own input shapes, as a deployment would.
        if not args.shape_generic:
            artifacts[key] = (None, "")
            continue
        artifacts[key] = compile_artifact(args.compress_compile, models[key], key, args.cache / "artifacts" / key)
        if artifacts[key][0] is None:
            log(f"compress-compile failed on {key}: {artifacts[key][1]}")

    results = [run_case(c, args, models[c.model], artifacts[c.model]) for c in cases]
    table = markdown_table(results)
    print(table)
    for r in results:
        if r.error:
            print(f"{r.case.name}: {r.error}")
    if args.markdown:
        write_section(args.markdown, command, args, results, machine)
        log(f"wrote the results into {args.markdown}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
