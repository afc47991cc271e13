"""Runs one model through compress-run and onnxruntime on the same seeded inputs and compares every output."""
import argparse
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[2]

# Image shapes the PP-OCR models are run at: det needs sides divisible by 32, rec and cls fix the height at 48.
PPOCR_SHAPES = {"ppocr-det": (1, 3, 64, 64), "ppocr-rec": (1, 3, 48, 320), "ppocr-cls": (1, 3, 48, 192)}
MINILM_VOCAB, MINILM_CLS, MINILM_SEP = 30522, 101, 102


def file_name(name: str) -> str:
    """The .npy file name compress-run uses for a tensor name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".npy"


def minilm_inputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Batch 2 x seq 16: [CLS] words [SEP] then padding, the second sentence shorter so the mask matters."""
    batch, seq, lengths = 2, 16, (16, 11)
    ids = np.zeros((batch, seq), np.int64)
    mask = np.zeros((batch, seq), np.int64)
    for b, n in enumerate(lengths):
        # Ids from 1000 up skip [PAD]/[unused*]/special tokens, as real word pieces do.
        ids[b, :n] = np.concatenate([[MINILM_CLS], rng.integers(1000, MINILM_VOCAB, n - 2), [MINILM_SEP]])
        mask[b, :n] = 1
    return {"input_ids": ids, "attention_mask": mask}


def text_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A grey-scale page in [0, 255]: light background with rows of dark glyph-like strokes, plus noise.
    Pure noise saturates the det model's sigmoid to all zeros, which would make the comparison vacuous."""
    img = np.full((h, w), 235.0)
    line_h = max(h // 6, 6)
    for top in range(h // 8, h - h // 4, max(h // 3, 12)):
        x = w // 16
        while x < w - w // 16:
            gw = int(rng.integers(3, 7))
            glyph = np.zeros((line_h, gw), bool)
            glyph[:, rng.integers(0, gw)] = True
            glyph[rng.integers(0, line_h, 2), :] = True
            img[top:top + line_h, x:x + gw][glyph] = 20
            x += gw + int(rng.integers(1, 4))
    return np.clip(img + rng.normal(0, 8, (h, w)), 0, 255)


def image_input(rng: np.random.Generator, key: str) -> np.ndarray:
    """The page normalised as PP-OCR preprocesses it: ImageNet mean/std for det, (x/255 - 0.5)/0.5 for rec/cls."""
    n, c, h, w = PPOCR_SHAPES[key]
    img = np.stack([text_image(rng, h, w) for _ in range(n)])[:, None] / 255.0
    if key == "ppocr-det":
        mean = np.array([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
        std = np.array([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
        return ((img - mean) / std).astype(np.float32)
    return np.repeat((img - 0.5) / 0.5, c, axis=1).astype(np.float32)


def spec_input(rng: np.random.Generator, spec: str) -> tuple[str, np.ndarray]:
    """Parses NAME=DTYPE:D0xD1x... (e.g. x=float32:1x3x8x8) into a seeded random tensor."""
    name, rest = spec.split("=", 1)
    dtype, _, dims = rest.partition(":")
    shape = tuple(int(d) for d in dims.split("x")) if dims else ()
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return name, rng.integers(0, 2, shape).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        return name, rng.integers(0, 10, shape).astype(dtype)
    return name, rng.uniform(-1, 1, shape).astype(dtype)


def make_inputs(model: onnx.ModelProto, key: str | None, specs: list[str], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    if key == "minilm":
        return minilm_inputs(rng)
    if key in PPOCR_SHAPES:
        return {model.graph.input[0].name: image_input(rng, key)}
    return dict(spec_input(rng, s) for s in specs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model", type=Path)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-key", choices=["minilm", *PPOCR_SHAPES], help="use the inputs made for this model")
    src.add_argument("--input", dest="specs", action="append", metavar="NAME=DTYPE:D0xD1...",
                     help="a generated input (repeatable)")
    ap.add_argument("--compress-run", type=Path, default=ROOT / "build" / "bin" / "compress-run")
    ap.add_argument("--work-dir", type=Path, help="where inputs/ and outputs/ go (default: build/e2e/<model name>)")
    ap.add_argument("--threshold", type=float, default=1e-4, help="largest relative error that passes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep-dynamic-shapes", action="store_true",
                    help="have compress-run compile for the model's symbolic shapes, not the inputs' shapes")
    ap.add_argument("--timeout", type=float, default=600, help="seconds compress-run may take")
    ap.add_argument("--ort-optimization", choices=["all", "basic", "disable"], default="all",
                    help="onnxruntime's graph optimization level: 'basic' keeps a graph's exact numerics (constant "
                         "folding, no fusions); 'all' also fuses QDQ groups into its integer kernels")
    args = ap.parse_args(argv)

    model = onnx.load(str(args.model), load_external_data=False)
    inputs = make_inputs(model, args.model_key, args.specs or [], args.seed)
    work = args.work_dir or ROOT / "build" / "e2e" / (args.model.stem + ("_dynamic" if args.keep_dynamic_shapes else ""))
    in_dir, out_dir = work / "inputs", work / "outputs"
    in_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.npy"):  # so a crashed run cannot be judged on an older run's outputs
        stale.unlink()

    cmd = [str(args.compress_run), str(args.model)]
    for name, value in inputs.items():
        path = in_dir / file_name(name)
        np.save(path, value)
        cmd += ["--input", f"{name}={path}"]
    cmd += ["--output-dir", str(out_dir)]
    if args.keep_dynamic_shapes:
        cmd.append("--keep-dynamic-shapes")
    print("$", " ".join(cmd), flush=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        print(f"FAIL {args.model.name}: compress-run timed out after {args.timeout:.0f}s")
        return 1
    except OSError as e:
        print(f"FAIL {args.model.name}: cannot run compress-run: {e}")
        return 1
    if proc.returncode != 0:
        print(f"FAIL {args.model.name}: compress-run exited {proc.returncode}\n{proc.stderr.strip()}")
        return 1

    options = ort.SessionOptions()
    options.graph_optimization_level = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                                        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}[args.ort_optimization]
    sess = ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    expected = dict(zip(names, sess.run(None, inputs)))
    ok = True
    for name in names:
        ref, path = expected[name], out_dir / file_name(name)
        if not path.is_file():
            print(f"  {name}: MISSING {path}")
            ok = False
            continue
        ours = np.load(path)
        if ours.shape != ref.shape or ours.dtype != ref.dtype:
            print(f"  {name}: MISMATCH ours {ours.dtype}{list(ours.shape)} vs onnxruntime {ref.dtype}{list(ref.shape)}")
            ok = False
            continue
        diff = ours.astype(np.float64) - ref.astype(np.float64)
        ref_norm = np.linalg.norm(ref.astype(np.float64))
        # An all-zero reference has no scale; fall back to the absolute error norm.
        rel = np.linalg.norm(diff) / ref_norm if ref_norm > 0 else np.linalg.norm(diff)
        max_abs = np.abs(diff).max() if diff.size else 0.0
        passed = bool(rel <= args.threshold)  # NaN compares False, so NaNs fail
        ok &= passed
        print(f"  {name}: {'ok  ' if passed else 'FAIL'} rel_err {rel:.3e} max_abs_diff {max_abs:.3e} "
              f"shape {list(ref.shape)}")
    print(f"{'PASS' if ok else 'FAIL'} {args.model.name} (threshold {args.threshold:g}, onnxruntime optimization "
          f"{args.ort_optimization})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
