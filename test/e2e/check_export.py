"""compress-export against onnxruntime, run by run_all.sh: the exported ONNX model, run by onnxruntime, must compute
what compress-run computes for the same passes on the same inputs, and write no more bytes than onnxruntime's own
quantizer does for the same scheme.

  small model   MatMul on a 3-D input, Gemm with a bias (transB), a MatMul whose K (80) ends in a partial group:
                every form export writes (MatMulNBits symmetric and with zero points, 8 and widened 3 bits, per
                channel; GPTQ; float and quantized low-rank factors; unstructured and 2:4 pruning as dense MatMuls;
                EoRA and the outlier-aware plugin as chains), within 1e-5 relative; and the refusals (int8
                activations, groups MatMulNBits cannot express, a pass that changes the graph outside its layers,
                an .mlir model), each naming what is wrong, exiting non-zero and leaving an existing output as it was.
  blocks        llama_block.py's 3-block model with its last block dropped, without and with a cache, against its
                2-block model in onnxruntime; a middle block dropped and int4, and blocks sharing weights (one
                initializer each; with per-block scales, a Mul after each layer), MLP channels pruned, tokens routed
                (skip-kv=false, with and without a cache), against compress-run; attention heads pruned and
                skip-kv=true refused.
  MiniLM        int4 groups of 32: outputs within 1e-5; file no larger than MatMulNBitsQuantizer(block 32, symmetric).
  SmolLM2       int4 groups of 128: logits within 1e-3 relative (the issue's bound); file no larger than
                MatMulNBitsQuantizer(block 128, symmetric), the .onnx and its .data together.

Measured (2 cores): small-model cases 0..5e-7; MiniLM 1.5e-6, 54.47 MB as onnxruntime's (the same weight bytes);
SmolLM2 1.0e-6, 192.73 MB against onnxruntime's 195.74 MB (blocks of 64 where its K = 576 leaves half a block of 128
as padding); about 30 s.
"""
import argparse
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
from compress_models import cache_dir, llama_block, smollm2  # noqa: E402
from compress_models.minilm import save  # noqa: E402
from e2e_tools import Checks, rel_err  # noqa: E402

check = Checks()
failures = check.failures


def run(cmd: list) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True)


def onnxruntime_outputs(path: Path, feeds: dict) -> dict:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def model_bytes(path: Path) -> int:
    data = path.with_name(path.name + ".data")
    return path.stat().st_size + (data.stat().st_size if data.exists() else 0)


def small_model(path: Path) -> dict:
    """x [2, 5, 96] -> MatMul "up" [96, 160] -> Relu -> [10, 160] -> Gemm "proj" (transB, bias) -> MatMul "out"
    [80, 48]; returns the feeds."""
    rng = np.random.default_rng(7)
    w = lambda *shape: (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)  # noqa: E731
    nodes = [helper.make_node("MatMul", ["x", "w_up"], ["h"], name="up"),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Reshape", ["r", "rows"], ["r2"], name="rows"),
             helper.make_node("Gemm", ["r2", "w_proj", "b_proj"], ["p"], name="proj", transB=1),
             helper.make_node("MatMul", ["p", "w_out"], ["y"], name="out")]
    inits = [numpy_helper.from_array(w(96, 160), "w_up"), numpy_helper.from_array(np.array([-1, 160]), "rows"),
             numpy_helper.from_array(w(80, 160), "w_proj"),
             numpy_helper.from_array(rng.standard_normal(80).astype(np.float32), "b_proj"),
             numpy_helper.from_array(w(80, 48), "w_out")]
    graph = helper.make_graph(nodes, "layers", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5, 96])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [10, 48])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), str(path))
    return {"x": rng.standard_normal((2, 5, 96)).astype(np.float32)}


def compare(args, tmp: Path, model: Path, feeds: dict, label: str, passes: str, tolerance: float,
            extra=(), output="y") -> Path:
    """Exports `model` with `passes`, runs it in onnxruntime and compress-run with the same passes; returns the
    exported file."""
    case = tmp / label.replace(" ", "_").replace(":", "")
    case.mkdir()
    exported = case / "exported.onnx"
    proc = run([args.compress_export, model, f"--passes={passes}", "-o", exported, *extra])
    if proc.returncode:
        check(False, f"{label}: compress-export failed: {proc.stderr[-2000:]}")
        return exported
    for name, value in feeds.items():
        np.save(case / f"{name}.npy", value)
    proc = run([args.compress_run, model, *[f"--input={n}={case / n}.npy" for n in feeds], "--output-dir",
                case / "ours", "--num-threads", 2, f"--passes={passes}", *extra])
    if proc.returncode:
        check(False, f"{label}: compress-run failed: {proc.stderr[-2000:]}")
        return exported
    ours = np.load(case / "ours" / f"{output}.npy")
    theirs = onnxruntime_outputs(exported, feeds)[output]
    error = rel_err(theirs, ours)
    check(error <= tolerance, f"{label}: onnxruntime on the export against compress-run, relative error "
                              f"{error:.2e} (at most {tolerance:g})")
    return exported


def expect_refusal(args, tmp: Path, model: Path, label: str, passes: str, needle: str, extra=()) -> None:
    out = tmp / "refused.onnx"
    out.write_bytes(b"an existing file")
    proc = run([args.compress_export, model, f"--passes={passes}", "-o", out, *extra])
    message = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    check(proc.returncode != 0 and needle in message and message.startswith("compress-export: error:")
          and out.read_bytes() == b"an existing file" and not out.with_name("refused.onnx.data").exists(),
          f"refused: {label}: exit {proc.returncode}, '{message}'")


def smaller_than_onnxruntime(ours: Path, model: Path, block: int, tmp: Path, label: str) -> None:
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    quantizer = MatMulNBitsQuantizer(onnx.load(str(model)),
                                     algo_config=DefaultWeightOnlyQuantConfig(block_size=block, is_symmetric=True))
    quantizer.process()
    theirs = tmp / f"{label}_onnxruntime.onnx"
    quantizer.model.save_model_to_file(str(theirs), use_external_data_format=ours.with_name(
        ours.name + ".data").exists())
    check(model_bytes(ours) <= model_bytes(theirs),
          f"{label}: export {model_bytes(ours)} B, onnxruntime's MatMulNBitsQuantizer {model_bytes(theirs)} B")


def check_dropped_blocks(args, tmp: Path) -> None:
    """llama_block.py draws its weights block after block from one seed: its 3-block model without the last block
    is its 2-block model, which onnxruntime runs as written. Dropping a middle block and quantizing is checked
    against compress-run; sharing blocks (new ops outside the layers) is refused."""
    rng = np.random.default_rng(5)
    hidden = rng.standard_normal((1, 5, 64), dtype=np.float32)
    past = {f"past_{kind}.{i}": rng.standard_normal((1, 4, 6, 16), dtype=np.float32)
            for i in range(3) for kind in ("key", "value")}
    for kv in (False, True):
        label = "with a cache" if kv else "without a cache"
        models = {}
        for blocks in (2, 3):
            models[blocks] = tmp / f"blocks{blocks}{'_kv' if kv else ''}.onnx"
            save(llama_block.build_model(blocks=blocks, hidden=64, heads=4, intermediate=96, kv_cache=kv),
                 models[blocks], external_data=True)
        exported = tmp / f"dropped{'_kv' if kv else ''}.onnx"
        proc = run([args.compress_export, models[3], "--passes=compress-drop-blocks{blocks=2}", "-o", exported])
        if proc.returncode:
            check(False, f"last block dropped, {label}: compress-export failed: {proc.stderr[-2000:]}")
            continue
        feeds = {"hidden": hidden, **({k: v for k, v in past.items() if not k.endswith(".2")} if kv else {})}
        want, got = onnxruntime_outputs(models[2], feeds), onnxruntime_outputs(exported, feeds)
        errors = {name: rel_err(got[name], want[name]) for name in want if name in got}
        check(sorted(got) == sorted(want) and max(errors.values()) <= 1e-6,
              f"last block dropped, {label}: the export's outputs {sorted(got)} against the 2-block model's, "
              f"largest relative error {max(errors.values(), default=float('nan')):.1e}")
    feeds = {"hidden": hidden, **{k: v for k, v in past.items() if ".1" not in k}}
    compare(args, tmp, models[3], feeds, "middle block dropped, int4 g32",
            "compress-drop-blocks{blocks=1},compress-quantize{bits=4 group-size=32}", 1e-5, output="present_key.2")
    # Shared weights without corrections: one initializer for each layer position of the three blocks.
    shared = compare(args, tmp, models[3], feeds3 := {"hidden": hidden, **past}, "blocks sharing weights",
                     "compress-share-blocks{group=3 corrections=none}", 1e-5, output="output")
    if shared.exists():
        graph = onnx.load(str(shared), load_external_data=False).graph
        weights = {i for n in graph.node if n.op_type == "MatMul" for i in n.input if i.endswith("_dense")}
        check(len(weights) == 7, f"blocks sharing weights: {len(weights)} weight initializers for 21 layers")
    calibration = tmp / "blocks_calibration" / "set0"
    calibration.mkdir(parents=True)
    for name, value in feeds3.items():
        np.save(calibration / f"{name}.npy", value)
    scaled = compare(args, tmp, models[3], feeds3, "blocks sharing weights, per-block scales",
                     "compress-share-blocks{group=3}", 1e-5, (f"--calibration={calibration.parent}",), output="output")
    if scaled.exists():
        kinds = [n.op_type for n in onnx.load(str(scaled), load_external_data=False).graph.node]
        check(kinds.count("Mul") - [n.op_type for n in onnx.load(str(models[3]), load_external_data=False)
                                    .graph.node].count("Mul") == 21,
              "blocks sharing weights, per-block scales: a Mul after each of the 21 layers")
    compare(args, tmp, models[3], feeds3, "MLP channels pruned (structured)",
            "compress-prune{pattern=structured sparsity=0.25 structured-targets=mlp}", 1e-5,
            (f"--calibration={calibration.parent}",), output="output")
    # Token routing, skip-kv=false: a router and a Where per routed block; compared on inputs the routers were
    # not fitted on (a token scored at its threshold could fall either way).
    compare(args, tmp, models[3], {"hidden": hidden + 0.5, **past}, "tokens routed, with a cache",
            "compress-token-skip{skip=0.3}", 1e-5, (f"--calibration={calibration.parent}",), output="output")
    # Pruned heads change the sizes Reshape nodes hold: refused (the model without a cache, whose heads the pass
    # prunes).
    no_cache = tmp / "blocks3.onnx"
    hidden_calibration = tmp / "hidden_calibration" / "set0"
    hidden_calibration.mkdir(parents=True)
    np.save(hidden_calibration / "hidden.npy", hidden)
    compare(args, tmp, no_cache, {"hidden": hidden + 0.5}, "tokens routed", "compress-token-skip{skip=0.3}", 1e-5,
            (f"--calibration={hidden_calibration.parent}",), output="output")
    expect_refusal(args, tmp, no_cache, "tokens routed, keys of skipped tokens masked",
                   "compress-token-skip{skip=0.3 skip-kv=true}", "outside the layers",
                   (f"--calibration={hidden_calibration.parent}", "--input-shape=hidden=1x5x64"))
    expect_refusal(args, tmp, no_cache, "attention heads pruned",
                   "compress-prune{pattern=structured sparsity=0.25 structured-targets=heads}",
                   "(node '/model/layers.0/Reshape_0') outside the layers",
                   (f"--calibration={hidden_calibration.parent}",))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compress-export", type=Path, default=ROOT / "build" / "bin" / "compress-export")
    ap.add_argument("--compress-run", type=Path, default=ROOT / "build" / "bin" / "compress-run")
    ap.add_argument("--plugin", type=Path, default=ROOT / "build" / "lib" / "libOutlierQuantize.so")
    args, _ = ap.parse_known_args(argv)  # run_all.sh passes its other arguments through
    for path in (args.compress_export, args.compress_run, args.plugin):
        if not path.exists():
            print(f"export: no {path}")
            return 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "layers.onnx"
        feeds = small_model(model)
        calibration = tmp / "calibration"
        rng = np.random.default_rng(3)
        for i in range(2):
            (calibration / f"set{i}").mkdir(parents=True)
            np.save(calibration / f"set{i}" / "x.npy", rng.standard_normal((2, 5, 96)).astype(np.float32))
        calibrated = [f"--calibration={calibration}"]
        cases = [
            ("int4 g32", "compress-quantize{bits=4 group-size=32}", ()),
            ("int4 g32 zero points", "compress-quantize{bits=4 group-size=32 symmetric=false}", ()),
            ("int8 per channel", "compress-quantize{bits=8}", ()),
            ("int3 g16", "compress-quantize{bits=3 group-size=16}", ()),
            ("gptq int4 g32", "compress-quantize{bits=4 group-size=32 method=gptq}", calibrated),
            ("svd rank 16", "compress-factorize{method=svd rank=16}", ()),
            ("svd rank 16 int8 factors", "compress-factorize{method=svd rank=16 bits=8 group-size=16}", ()),
            ("magnitude 50%", "compress-prune{sparsity=0.5}", ()),
            ("2:4", "compress-prune{pattern=2:4}", ()),
            ("EoRA on int4", "compress-quantize{bits=4 group-size=32},compress-factorize{compensate=1 rank=8}",
             calibrated),
            ("outlier-aware plugin", "outlier-aware-quantize{top-k=4 bits=4 group-size=32}",
             (f"--load-pass-plugin={args.plugin}", *calibrated)),
        ]
        for label, passes, extra in cases:
            exported = compare(args, tmp, model, feeds, label, passes, 1e-5, extra)
            if label == "int4 g32" and exported.exists():
                kinds = sorted(n.op_type for n in onnx.load(str(exported)).graph.node)
                check(kinds == ["Add", "MatMulNBits", "MatMulNBits", "MatMulNBits", "Relu", "Reshape"] and
                      len(onnx.load(str(exported)).graph.initializer) == 8,
                      f"int4 g32: nodes {kinds}; the float weights gone")
        expect_refusal(args, tmp, model, "int8 activations", "compress-quantize{bits=8 mode=w8a8}",
                       "layer 'up': it quantizes its activations to int8")
        expect_refusal(args, tmp, model, "groups of 8", "compress-quantize{bits=4 group-size=8}",
                       "layer 'up': its groups of 8 columns")
        expect_refusal(args, tmp, model, "bad flag", "compress-quantize", "bad --external-data 'sometimes'",
                       ("--external-data=sometimes",))
        mlir = tmp / "layers.mlir"
        mlir.write_text("module {}\n")
        expect_refusal(args, tmp, mlir, "an .mlir model", "compress-quantize", "is not an .onnx file")
        check_dropped_blocks(args, tmp)

        # MiniLM, int4 in groups of 32.
        minilm = cache_dir() / "minilm" / "minilm.onnx"
        tokens = np.random.default_rng(5).integers(1000, 20000, size=(1, 24))
        minilm_feeds = {"input_ids": tokens.astype(np.int64), "attention_mask": np.ones_like(tokens, np.int64)}
        output = onnx.load(str(minilm), load_external_data=False).graph.output[0].name
        exported = compare(args, tmp, minilm, minilm_feeds, "MiniLM int4 g32",
                           "compress-quantize{bits=4 group-size=32}", 1e-5, output=output)
        if exported.exists():
            smaller_than_onnxruntime(exported, minilm, 32, tmp, "MiniLM int4 g32")

        # SmolLM2, int4 in groups of 128 (its weights in external data, as the export's).
        paths = smollm2.fetch()
        ids = np.random.default_rng(11).integers(0, smollm2.VOCAB, size=(1, 32)).astype(np.int64)
        exported = compare(args, tmp, paths["ids"], {"input_ids": ids}, "SmolLM2 int4 g128",
                           "compress-quantize{bits=4 group-size=128}", 1e-3, output="logits")
        if exported.exists():
            smaller_than_onnxruntime(exported, paths["ids"], 128, tmp, "SmolLM2 int4 g128")
    print(f"export: {len(failures)} failed, {check.seconds():.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
