"""SmolLM2-135M with 25% of its MLP channels removed (compress-prune pattern=structured structured-targets=mlp),
run by run_all.sh; under 2 minutes on 2 cores:

  parameters  the float32 parameters of the pruned module (compress-opt's output, every float constant counted)
              are those of the unpruned one less exactly LAYERS x 3 x HIDDEN x round(0.25 x INTERMEDIATE): the
              gate and up projections lose that many rows, the down projection as many columns;
  ranking     the channels the report removes are, per block, the ones with the smallest L2 norm of the down
              projection's input over the calibration tokens, measured here on the numpy reference;
  outputs     compress-run's logits of the pruned model on a 512-token prompt equal an independent numpy forward
              pass (test/e2e/smollm2_reference.py, float64, straight from the GGUF) of the same model with the
              report's channels deleted from its weights (relative L2 below 1e-4), and differ from the unpruned
              reference's (the pruning did something).

With --heads it also removes one of the three key/value head groups of every block (three query heads and their
key/value head: structured-targets=heads, the same sparsity) and compares compress-run's logits with the reference
with those heads deleted (q/k/v rows, o_proj columns; about a minute more).

With --latency (not run by run_all.sh: two compress-compile runs, about 4 minutes more) it also times the prefill
of the 512-token prompt with 2 threads, the pruned and the dense artifact alternately in one process
(compress_models.artifact), and checks pruned / dense (the fastest runs) against LATENCY_GOAL.
"""
import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from compress_models import austen, smollm2  # noqa: E402
from e2e_tools import Checks, rel_err  # noqa: E402
from smollm2_reference import Reference  # noqa: E402

SPARSITY = 0.25
PROMPT_TOKENS = 512
# One calibration window of the prompt's shape: compress-run then measures on the module it compiles.
CALIBRATION_SETS, CALIBRATION_TOKENS = 1, PROMPT_TOKENS
LOGITS_TOLERANCE = 1e-4
LATENCY_GOAL = 0.90
THREADS = 2
check = Checks()
failures = check.failures


def run(cmd: list) -> str:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{(proc.stderr + proc.stdout)[-3000:]}")
    return proc.stdout + proc.stderr


CONSTANT = re.compile(r"arith\.constant (?:dense|dense_resource)<.*?> : tensor<([0-9x]*)f32>")


def float_parameters(mlir_text: str) -> int:
    """Elements of every float32 tensor constant of a printed module."""
    return sum(int(np.prod([int(d) for d in shape.split("x") if d])) for shape in CONSTANT.findall(mlir_text))


def parameters(compress_opt: Path, model: Path, *options: str) -> int:
    """compress-opt's module (resources elided: only the types matter) -> its float32 parameters."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "module.mlir"
        run([compress_opt, model, "--mlir-elide-resource-strings-if-larger=16", "-o", out, *options])
        return float_parameters(out.read_text())


def down_input_norms(ref: Reference, windows: np.ndarray) -> dict[int, np.ndarray]:
    """Per block, the L2 norm over the windows' tokens of each channel of the down projection's input
    (silu(gate(h)) * up(h) with h the block's normed hidden state), on the reference as it is."""
    sums = {i: np.zeros(smollm2.INTERMEDIATE) for i in range(ref.layers)}
    original = ref.norm
    for window in windows:
        layer = [0]

        def norm(x, weight):
            out = original(x, weight)
            i = layer[0]
            if i < ref.layers and weight is ref.t[f"blk.{i}.ffn_norm.weight"]:
                g = out @ ref.t[f"blk.{i}.ffn_gate.weight"].T
                a = g / (1 + np.exp(-g)) * (out @ ref.t[f"blk.{i}.ffn_up.weight"].T)
                sums[i] += (a * a).sum(axis=0)
                layer[0] += 1
            return out
        ref.norm = norm
        try:
            ref.hidden(window)
        finally:
            ref.norm = original
    return {i: np.sqrt(s) for i, s in sums.items()}


def latency(compress_compile: Path, model: Path, prune: list[str], ids: np.ndarray, tmp: Path, runs: int,
            jit_logits: np.ndarray | None) -> None:
    from compress_models.artifact import Artifact, compile_model
    for name, options in (("dense", []), ("pruned", prune)):
        seconds = compile_model(compress_compile, model, tmp / name, name, *options)
        print(f"     compress-compile {name}: {seconds:.0f} s", flush=True)
    arts = {name: Artifact(tmp / name / f"lib{name}.so", threads=THREADS) for name in ("dense", "pruned")}
    times = {name: [] for name in arts}
    for art in arts.values():  # warm-up: weights paged in, packed weights cached
        art.run({"input_ids": ids[None]}, ["logits"])
    if jit_logits is not None:  # the artifact is compiled for dynamic shapes, compress-run's JIT for the prompt's
        e = rel_err(arts["pruned"].run({"input_ids": ids[None]}, ["logits"])["logits"][0], jit_logits)
        check(e < 1e-5, f"outputs: the pruned artifact (dynamic shapes) vs compress-run: {e:.2e}")
    for _ in range(runs):
        for name, art in arts.items():
            start = time.perf_counter()
            art.run({"input_ids": ids[None]}, ["logits"])
            times[name].append(time.perf_counter() - start)
    dense, pruned = min(times["dense"]), min(times["pruned"])
    median = np.median(times["pruned"]) / np.median(times["dense"])
    check(pruned / dense <= LATENCY_GOAL,
          f"latency: prefill of {len(ids)} tokens, {THREADS} threads, fastest of {runs} alternating runs: pruned "
          f"{pruned * 1e3:.0f} ms / dense {dense * 1e3:.0f} ms = {pruned / dense:.3f} (medians: {median:.3f}; "
          f"goal <= {LATENCY_GOAL})")


def check_heads(compress_run: Path, model: Path, ref: Reference, ids: np.ndarray, tmp: Path) -> None:
    report_path = tmp / "heads.json"
    passes = (f"compress-prune{{pattern=structured sparsity={SPARSITY} structured-targets=heads "
              f"report={report_path}}}")
    try:
        run([compress_run, model, "--input", f"input_ids={tmp / 'ids.npy'}", "--output-dir", tmp / "heads",
             "--num-threads", THREADS, f"--passes={passes}", f"--calibration={tmp / 'calibration'}"])
    except RuntimeError as e:
        check(False, f"heads: compress-run failed: {e}")
        return
    got = np.load(tmp / "heads" / "logits.npy")[0]
    groups, per_group = smollm2.KV_HEADS, smollm2.HEADS // smollm2.KV_HEADS
    removed = {}
    for e in json.loads(report_path.read_text())["layers"]:
        m = re.search(r"layers\.(\d+)/self_attn/o_proj", e["name"])
        if m and e["kind"] == "heads" and e["channels_before"] == groups:
            removed[int(m[1])] = e["removed"]
    ok = sorted(removed) == list(range(ref.layers)) and all(len(r) == 1 for r in removed.values())
    check(ok, f"heads: {len(removed)} attention structures of {groups} head groups, one group removed from each")
    if not ok:
        return
    hd = ref.head_dim
    for i, (g,) in removed.items():
        q_rows = np.arange(g * per_group * hd, (g + 1) * per_group * hd)
        kv_rows = np.arange(g * hd, (g + 1) * hd)
        t = lambda n: f"blk.{i}.{n}.weight"
        ref.t[t("attn_q")] = np.delete(ref.t[t("attn_q")], q_rows, axis=0)
        ref.t[t("attn_k")] = np.delete(ref.t[t("attn_k")], kv_rows, axis=0)
        ref.t[t("attn_v")] = np.delete(ref.t[t("attn_v")], kv_rows, axis=0)
        ref.t[t("attn_output")] = np.delete(ref.t[t("attn_output")], q_rows, axis=1)
    # Every block keeps 2 groups: 6 query heads, 2 key/value heads, 384 attention features.
    ref.n_head, ref.n_kv, ref.dim = (groups - 1) * per_group, groups - 1, (groups - 1) * per_group * hd
    e = rel_err(got, ref.logits(ids))
    check(e < LOGITS_TOLERANCE, f"heads: compress-run pruned vs numpy reference with the same heads deleted, "
                                f"{len(ids)} tokens: {e:.2e}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bin_dir = ROOT / "build" / "bin"
    ap.add_argument("--compress-run", type=Path, default=bin_dir / "compress-run")
    ap.add_argument("--compress-opt", type=Path, default=bin_dir / "compress-opt")
    ap.add_argument("--compress-compile", type=Path, default=bin_dir / "compress-compile")
    ap.add_argument("--heads", action="store_true", help="also remove attention head groups and compare")
    ap.add_argument("--latency", action="store_true", help="also compile both artifacts and time the prefill")
    ap.add_argument("--runs", type=int, default=8, help="--latency: timed prefill runs per model")
    args, _ = ap.parse_known_args(argv)  # run_all.sh passes its other arguments through
    for binary in (args.compress_run, args.compress_opt) + ((args.compress_compile,) if args.latency else ()):
        if not binary.exists():
            print(f"structured prune: no {binary}")
            return 1
    paths = smollm2.fetch()
    model = paths["ids"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        calibration = austen.calibration_windows(CALIBRATION_SETS, tokens=CALIBRATION_TOKENS)
        austen.write_calibration(tmp / "calibration", calibration)
        ids = austen.evaluation_windows(1, tokens=PROMPT_TOKENS)[0]
        np.save(tmp / "ids.npy", ids[None])
        report_path = tmp / "report.json"
        passes = (f"compress-prune{{pattern=structured sparsity={SPARSITY} structured-targets=mlp "
                  f"report={report_path}}}")
        prune = [f"--passes={passes}", f"--calibration={tmp / 'calibration'}"]

        # Parameters, counted in the modules themselves.
        dense_params = parameters(args.compress_opt, model)
        pruned_params = parameters(args.compress_opt, model, *prune)
        removed_per_block = round(SPARSITY * smollm2.INTERMEDIATE)
        expected = smollm2.LAYERS * 3 * smollm2.HIDDEN * removed_per_block
        check(dense_params - pruned_params == expected,
              f"parameters: {dense_params} -> {pruned_params}, {dense_params - pruned_params} removed, expected "
              f"{smollm2.LAYERS} x 3 x {smollm2.HIDDEN} x {removed_per_block} = {expected}")

        report = json.loads(report_path.read_text())
        entries = [e for e in report["layers"] if "skipped" not in e]
        removed = {}
        for e in entries:
            m = re.search(r"layers\.(\d+)/mlp/down_proj", e["name"])
            if m and e["kind"] == "mlp":
                removed[int(m[1])] = e["removed"]
        check(sorted(removed) == list(range(smollm2.LAYERS)) and len(entries) == smollm2.LAYERS
              and all(len(r) == removed_per_block for r in removed.values()),
              f"report: {len(entries)} mlp structures, {removed_per_block} channels removed from each")

        # The reference ranks the channels on the same calibration tokens.
        ref = Reference(paths["gguf"])
        norms = down_input_norms(ref, calibration)
        ranked = [i for i in removed
                  if sorted(np.argsort(norms[i], kind="stable")[:removed_per_block].tolist()) == removed[i]]
        check(len(ranked) == len(removed),
              f"ranking: the removed channels are the least important by the calibration norm in "
              f"{len(ranked)} of {len(removed)} blocks")

        # The compiled pruned model against the reference with the same channels deleted.
        got = None
        try:
            run([args.compress_run, model, "--input", f"input_ids={tmp / 'ids.npy'}", "--output-dir", tmp / "out",
                 "--num-threads", THREADS, *prune])
            got = np.load(tmp / "out" / "logits.npy")[0]
        except RuntimeError as e:
            check(False, f"outputs: compress-run failed: {e}")
        dense_t = {}
        for i, channels in removed.items():
            for kind, axis in (("ffn_gate", 0), ("ffn_up", 0), ("ffn_down", 1)):
                key = f"blk.{i}.{kind}.weight"
                dense_t[key] = ref.t[key]
                ref.t[key] = np.delete(ref.t[key], channels, axis=axis)
        if got is not None:
            want = ref.logits(ids)
            e = rel_err(got, want)
            check(got.shape == want.shape and e < LOGITS_TOLERANCE,
                  f"outputs: compress-run pruned vs numpy reference with the same channels deleted, "
                  f"{PROMPT_TOKENS} tokens: {e:.2e}")
            ref.t.update(dense_t)
            head = 64  # causal: the first positions' logits need only the first tokens
            change = rel_err(got[:head], ref.logits(ids[:head]))
            check(change > 1e-2, f"outputs: the pruned logits differ from the unpruned reference's (first {head} "
                                 f"positions: {change:.2e})")
        if args.heads:
            ref.t.update(dense_t)
            check_heads(args.compress_run, model, ref, ids, tmp)
        if args.latency:
            latency(args.compress_compile, model, prune, ids, tmp, args.runs, got)
    print(f"structured prune: {len(failures)} failed, {check.seconds():.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
