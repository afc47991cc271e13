"""Is GPTQ calibration linear in model depth? Compile time and peak memory of compress-compile on stacks of 4, 8
and 16 Llama-style decoder blocks of one width (python/compress_models/llama_block.py --blocks N; default hidden
512, 8 heads, SwiGLU 1376), quantized int4 g128 with method=gptq (calibrated on --sets sets of seeded normal
`hidden` [1, --seq, hidden]) and with method=rtn without calibration (the compile cost alone).

    python bench/calibration_depth.py                                   # build/bin/compress-compile, about 3 minutes
    python bench/calibration_depth.py --baseline /path/to/old/compress-compile   # both builds, interleaved

Each run is `/usr/bin/time -f "%e %M %U %S" compress-compile MODEL.onnx -o OUT [--calibration DIR] --passes
"compress-quantize{bits=4 group-size=128 method=M}"`: wall seconds, peak resident set (KB, printed as MB = 10^6
bytes) and CPU seconds (user + system; less disturbed than wall time when other work shares the cores). Per build it
prints a markdown table: rtn rows, gptq rows and `gptq - rtn` rows (GPTQ's calibration cost: its extra time per block
and extra peak memory), each group closed by max/min over depths. Criterion: GPTQ wall seconds per block and GPTQ
peak RSS each vary by at most 1.5x across depths. It is a benchmark: the exit status is
0 whatever the numbers are, 1 only when a command fails (its command line and error are printed).

The compress-compile binaries are copied into the work folder first, so a concurrent rebuild of build/ does not
change the program under measurement midway. Models and calibration sets are cached in the work folder
($COMPRESS_CACHE/bench/calibration_depth by default).
"""
import argparse
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
from compress_models import cache_dir, llama_block  # noqa: E402
from compress_models.minilm import save  # noqa: E402

METHODS = ("rtn", "gptq")
CRITERION = 1.5


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Run:
    wall: float    # seconds
    cpu: float     # user + system seconds
    rss_mb: float  # peak resident set, 10^6 bytes


@dataclass
class Build:
    label: str
    source: Path
    exe: Path = None
    runs: dict = field(default_factory=dict)  # (blocks, method) -> Run


def snapshot(label: str, source: Path, work: Path, wait_s: float) -> Build:
    """Copies `source` into the work folder once it looks like a finished link: executable, not empty, unchanged for
    10 seconds (a concurrent rebuild may be writing it); waits up to wait_s for that."""
    source = source.resolve()
    exe = work / "bin" / f"{label}-compress-compile"
    exe.parent.mkdir(parents=True, exist_ok=True)
    deadline, announced = time.monotonic() + wait_s, False
    while True:
        st = source.stat() if source.is_file() else None
        if st and st.st_size > 0 and os.access(source, os.X_OK) and time.time() - st.st_mtime > 10:
            shutil.copyfile(source, exe)
            after = source.stat()
            if (after.st_mtime_ns, after.st_size) == (st.st_mtime_ns, st.st_size) and exe.stat().st_size == st.st_size:
                break
        if time.monotonic() > deadline:
            sys.exit(f"error: {source} is missing, not executable or still changing after {wait_s:.0f} s")
        if not announced:
            log(f"{label}: waiting for {source} (missing, empty, not executable or just written)")
            announced = True
        time.sleep(2)
    exe.chmod(0o755)
    digest = hashlib.sha256(exe.read_bytes()).hexdigest()[:12]
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.st_mtime))
    log(f"{label}: {source} (modified {stamp}, sha256 {digest}) copied to {exe}")
    return Build(label, source, exe)


def ensure_model(work: Path, blocks: int, args) -> Path:
    tag = f"llama-{blocks}x{args.hidden}-h{args.heads}-i{args.intermediate}-seed{args.seed}"
    path = work / "models" / tag / "model.onnx"
    if not (path.is_file() and (path.parent / "model.onnx.data").is_file()):
        log(f"building {path}")
        save(llama_block.build_model(args.seed, blocks, args.hidden, args.heads, args.intermediate), path,
             external_data=True)
    return path


def ensure_calibration(work: Path, args) -> Path:
    folder = work / "calibration" / f"h{args.hidden}-seq{args.seq}-sets{args.sets}-seed{args.seed}"
    rng = np.random.default_rng(args.seed)
    for k in range(args.sets):
        x = rng.standard_normal((1, args.seq, args.hidden), dtype=np.float32)
        f = folder / f"set{k}" / "hidden.npy"
        if not f.is_file():
            f.parent.mkdir(parents=True, exist_ok=True)
            np.save(f, x)
    return folder


def compile_once(build: Build, model: Path, method: str, calibration: Path, work: Path, args):
    """Returns (Run, None) or (None, error text); with --repeat R, the run of least wall time of R."""
    out = work / "out" / f"{build.label}-{model.parent.name}-{method}"
    time_file = work / "out" / "time.txt"
    time_file.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["/usr/bin/time", "-f", "%e %M %U %S", "-o", str(time_file), str(build.exe), str(model), "-o", str(out)]
    if method == "gptq":
        cmd += ["--calibration", str(calibration)]
    cmd += ["--passes", f"compress-quantize{{bits=4 group-size={args.group_size} method={method}}}"]
    if args.threads:
        cmd += [f"--threads={args.threads}"]
    shown = shlex.join(cmd[5:]).replace(str(build.exe), str(build.source))
    log(f"  {shown}")
    best = None
    for _ in range(args.repeat):
        shutil.rmtree(out, ignore_errors=True)
        time_file.unlink(missing_ok=True)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        shutil.rmtree(out, ignore_errors=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr + proc.stdout).strip().splitlines()[-20:])
            return None, f"command: {shown}\nexit status {proc.returncode}\n{tail}"
        wall, peak_kb, user, system = time_file.read_text().split()[-4:]
        run = Run(float(wall), float(user) + float(system), int(peak_kb) * 1024 / 1e6)
        log(f"    {run.wall:.2f} s wall, {run.cpu:.2f} s CPU, {run.rss_mb:.0f} MB")
        if best is None or run.wall < best.wall:
            best = run
    return best, None


def ratio(values):
    values = [v for v in values if v is not None and v > 0]
    return max(values) / min(values) if len(values) > 1 else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(build: Build, depths, models, args) -> str:
    lines = ["| method | blocks | weights MB | wall s | wall s/block | CPU s/block | peak RSS MB |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    weights = {n: (models[n].parent / "model.onnx.data").stat().st_size / 1e6 for n in depths}
    summary = {}
    for method in (*METHODS, "calib"):
        per_block, cpu_block, rss = [], [], []
        for n in depths:
            if method == "calib":  # GPTQ's calibration cost: gptq minus rtn
                rtn, gptq = build.runs.get((n, "rtn")), build.runs.get((n, "gptq"))
                run = Run(gptq.wall - rtn.wall, gptq.cpu - rtn.cpu, gptq.rss_mb - rtn.rss_mb) if rtn and gptq else None
            else:
                run = build.runs.get((n, method))
            per_block.append(run and run.wall / n)
            cpu_block.append(run and run.cpu / n)
            rss.append(run and run.rss_mb)
            name = "gptq - rtn" if method == "calib" else method
            lines.append(f"| {name} | {n} | {weights[n]:.0f} | {fmt(run and run.wall, '.2f')} "
                         f"| {fmt(per_block[-1], '.3f')} | {fmt(cpu_block[-1], '.3f')} | {fmt(run and run.rss_mb, '.0f')} |")
        summary[method] = (ratio(per_block), ratio(rss))
        lines.append(f"| {name} max/min | | | | {fmt(ratio(per_block), '.2f')}x | {fmt(ratio(cpu_block), '.2f')}x "
                     f"| {fmt(ratio(rss), '.2f')}x |")
    time_ratio, rss_ratio = summary["gptq"]
    verdict = "n/a" if time_ratio is None or rss_ratio is None else (
        "met" if time_ratio <= CRITERION and rss_ratio <= CRITERION else "NOT met")
    title = (f"**{build.label}** (`{build.source}`): hidden {args.hidden}, {args.heads} heads, SwiGLU "
             f"{args.intermediate}, int4 g{args.group_size}; gptq calibrated on {args.sets} sets of [1, {args.seq}, "
             f"{args.hidden}]; weights MB = the float32 model's weights")
    crit = (f"Criterion (gptq wall s/block max/min <= {CRITERION} and gptq peak RSS max/min <= {CRITERION}): "
            f"{verdict} ({fmt(time_ratio, '.2f')}x, {fmt(rss_ratio, '.2f')}x).")
    return "\n".join([title, "", *lines, "", crit])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compress-compile", type=Path, default=ROOT / "build" / "bin" / "compress-compile",
                    help="the compress-compile to measure (default: build/bin/compress-compile)")
    ap.add_argument("--baseline", type=Path, help="a second compress-compile (e.g. an old build), run interleaved "
                    "with the first; both tables are printed")
    ap.add_argument("--depths", default="4,8,16", help="comma-separated block counts (default 4,8,16)")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--intermediate", type=int, default=1376)
    ap.add_argument("--group-size", type=int, default=128)
    ap.add_argument("--sets", type=int, default=8, help="calibration sets (default 8)")
    ap.add_argument("--seq", type=int, default=128, help="tokens per calibration set (default 128)")
    ap.add_argument("--seed", type=int, default=llama_block.SEED, help="seed of weights and calibration data")
    ap.add_argument("--threads", type=int, default=0, help="compress-compile --threads (default: its own)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per point; the least wall time is kept (default 1)")
    ap.add_argument("--wait", type=float, default=600,
                    help="seconds to wait for a compress-compile that is being rebuilt (default 600)")
    ap.add_argument("--work", type=Path, help="work folder (default $COMPRESS_CACHE/bench/calibration_depth)")
    args = ap.parse_args(argv)
    depths = [int(d) for d in args.depths.split(",")]
    work = (args.work or cache_dir() / "bench" / "calibration_depth").resolve()

    builds = [snapshot("current", args.compress_compile, work, args.wait)]
    if args.baseline:
        builds.append(snapshot("baseline", args.baseline, work, args.wait))
    calibration = ensure_calibration(work, args)
    models = {n: ensure_model(work, n, args) for n in depths}

    errors = []
    for n in depths:
        for method in METHODS:
            for build in builds:  # interleaved, so drift in machine load hits both builds alike
                log(f"{build.label}: {n} blocks, {method}")
                result, err = compile_once(build, models[n], method, calibration, work, args)
                if err:
                    log(err)
                    errors.append(f"{build.label}, {n} blocks, {method}:\n{err}")
                else:
                    build.runs[(n, method)] = result

    print(f"`{shlex.join(['python', 'bench/calibration_depth.py', *(sys.argv[1:] if argv is None else argv)])}`"
          f" on {len(os.sched_getaffinity(0))} cores\n")
    print("\n\n".join(table(b, depths, models, args) for b in builds))
    if errors:
        print("\nFailed commands:\n\n" + "\n\n".join(f"```\n{e}\n```" for e in errors))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
