"""The main job: compress SmolLM2-135M-Instruct (a Llama decoder built from its shipped weights) to int4 with GPTQ,
calibrated on Jane Austen's *Sense and Sensibility*, and show what a user wants to know, before and after, on this
CPU: weights size, prompt and generation speed (the key/value-cache graph compiled ahead of time, run in this
process through the artifact's C API), a few greedily generated words, perplexity on *Pride and Prejudice*, and the
time compression took. Then a second, cheap part: all-MiniLM-L6-v2 sentence embeddings in float32 and int4, compared
by cosine similarity and semantic-search results on real sentences."""
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench"))
from compress_models import austen, smollm2  # noqa: E402
from compress_models.artifact import Artifact, compile_model  # noqa: E402
import llm_quality  # noqa: E402
import minilm_quality  # noqa: E402

BIN = ROOT / "build" / "bin"
THREADS = 2
CALIBRATION_WINDOWS = 8  # the first 8 of the protocol's Sense and Sensibility windows (docs/benchmarks.md's GPTQ rows)
EVAL_WINDOWS, EVAL_START = 2, 2000  # Pride and Prejudice windows of 512 tokens from token 2000
PROMPT = "It is a truth universally acknowledged, that"
NEW_TOKENS = 24
# The best int4 g128 row of docs/benchmarks.md's LLM table: asymmetric (zero points), act-order.
QUANTIZE = "compress-quantize{bits=4 group-size=128 symmetric=false method=gptq act-order=true report=REPORT}"
# What the MiniLM part compresses: int4 weights by GPTQ, int8 activations (integer dot products).
MINILM_QUANTIZE = minilm_quality.VARIANTS["int4-g128-gptq-w4a8"][0]
# docs/benchmarks.md: this configuration costs SmolLM2 about +14% perplexity; far more means something broke.
PERPLEXITY_RATIO_LIMIT = 2.0


def mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


class Decoder:
    """Greedy decoding and scoring through the cache graph. The artifact refuses an empty past, so every sequence
    starts after one masked dummy position: a zero key/value at position 0 with attention_mask 0 there (the mask
    sends its score to float32 min, so it gets exactly zero weight); real tokens take positions 0, 1, ..."""

    def __init__(self, artifact: Artifact):
        self.art = artifact
        self.layers = smollm2.LAYERS

    def step(self, ids: np.ndarray, past: dict[str, np.ndarray] | None, position: int):
        n = ids.shape[1]
        if past is None:
            zero = np.zeros((1, smollm2.KV_HEADS, 1, smollm2.HEAD_DIM), np.float32)
            past = {f"past_key_values.{i}.{kv}": zero for i in range(self.layers) for kv in ("key", "value")}
        length = past["past_key_values.0.key"].shape[2]
        mask = np.ones((1, length + n), np.int64)
        mask[0, 0] = 0
        feeds = {"input_ids": ids.astype(np.int64), "attention_mask": mask,
                 "position_ids": np.arange(position, position + n, dtype=np.int64)[None], **past}
        out = self.art.run(feeds)
        present = {f"past_key_values.{i}.{kv}": out[f"present.{i}.{kv}"]
                   for i in range(self.layers) for kv in ("key", "value")}
        return out["logits"], present

    def generate(self, ids: list[int], new_tokens: int) -> tuple[list[int], float, float]:
        """Greedy continuation: (new ids, prompt seconds, seconds for the new_tokens - 1 decode steps)."""
        start = time.perf_counter()
        logits, past = self.step(np.array([ids]), None, 0)
        prompt_s = time.perf_counter() - start
        out = [int(logits[0, -1].argmax())]
        start = time.perf_counter()
        for _ in range(new_tokens - 1):
            logits, past = self.step(np.array([[out[-1]]]), past, len(ids) + len(out) - 1)
            out.append(int(logits[0, -1].argmax()))
        return out, prompt_s, time.perf_counter() - start

    def window_nll(self, window: np.ndarray) -> tuple[float, float]:
        """(mean NLL of the window as bench/llm_quality.py scores it, seconds of the 512-token prefill)."""
        start = time.perf_counter()
        logits, _ = self.step(window[None], None, 0)
        seconds = time.perf_counter() - start
        return float(llm_quality.window_nll(logits, window[None])[0]), seconds


class OrtRunner:
    """onnxruntime on the same cache graph, with the Artifact's run(feeds) -> outputs interface."""

    def __init__(self, model: Path):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = THREADS
        self.session = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        self.names = [o.name for o in self.session.get_outputs()]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.names, self.session.run(self.names, feeds)))


def write_calibration(folder: Path) -> None:
    """The calibration windows as the cache graph's inputs: 512 tokens after the masked dummy position."""
    folder.mkdir(parents=True)
    zero = np.zeros((1, smollm2.KV_HEADS, 1, smollm2.HEAD_DIM), np.float32)
    for i, w in enumerate(austen.calibration_windows(CALIBRATION_WINDOWS)):
        mask = np.ones((1, len(w) + 1), np.int64)
        mask[0, 0] = 0
        arrays = {"input_ids": w[None], "attention_mask": mask, "position_ids": np.arange(len(w))[None],
                  **{f"past_key_values.{j}.{kv}": zero for j in range(smollm2.LAYERS) for kv in ("key", "value")}}
        np.savez(folder / f"set_{i:04d}.npz", **arrays)


def compile_smollm2(model: Path, out: Path, passes: str = "", calibration: Path | None = None) -> float:
    """compress-compile of the cache graph with every dimension symbolic; returns the seconds it took."""
    try:
        return compile_model(BIN / "compress-compile", model, out, "smollm2", f"--num-threads={THREADS}",
                             passes=passes, calibration=calibration)
    except RuntimeError as e:
        raise SystemExit(str(e))


def measure(label: str, art, tokenizer, windows: np.ndarray) -> dict:
    dec = Decoder(art)
    prompt = tokenizer.encode(PROMPT).ids
    dec.generate(prompt, 2)  # warm-up: touches the weights (mmapped) and the code
    new, _, decode_s = dec.generate(prompt, NEW_TOKENS)
    nll, prefill_s = zip(*(dec.window_nll(w) for w in windows))
    ppl, _ = austen.perplexity(np.array(nll))
    r = {"text": tokenizer.decode(new), "decode_tps": (NEW_TOKENS - 1) / decode_s,
         "prompt_tps": windows.shape[1] / min(prefill_s), "perplexity": ppl}
    print(f"{label}: prompt {r['prompt_tps']:.0f} tokens/s ({windows.shape[1]}-token prompt), generation "
          f"{r['decode_tps']:.1f} tokens/s, perplexity {ppl:.2f}")
    print(f"  {PROMPT!r} -> {r['text']!r}")
    return r


def smollm2_part(work: Path) -> int:
    start = time.perf_counter()
    paths = smollm2.fetch()
    tokenizer = smollm2.load_tokenizer()
    windows = austen.evaluation_windows(EVAL_WINDOWS, austen.WINDOW_TOKENS, EVAL_START)
    print(f"== SmolLM2-135M-Instruct (Llama decoder, 30 blocks, 134.5 M parameters): int4 GPTQ "
          f"[model ready in {time.perf_counter() - start:.0f} s]")

    fp32_dir, int4_dir, report = work / "smollm2-fp32", work / "smollm2-int4", work / "quantize-report.json"
    seconds = compile_smollm2(paths["kv"], fp32_dir)
    fp32_bytes = (fp32_dir / "smollm2.weights").stat().st_size
    print(f"float32: compiled ahead of time in {seconds:.0f} s, weights {mib(fp32_bytes)}")

    calibration = work / "calibration"
    write_calibration(calibration)
    passes = QUANTIZE.replace("REPORT", str(report))
    compress_s = compile_smollm2(paths["kv"], int4_dir, passes, calibration)
    int4_bytes = (int4_dir / "smollm2.weights").stat().st_size
    totals = json.loads(report.read_text())["totals"]
    print(f"int4: --passes \"{QUANTIZE.replace(' report=REPORT', '')}\" calibrated on {CALIBRATION_WINDOWS} windows of "
          f"512 tokens of {austen.BOOKS[austen.CALIBRATION_BOOK]}: compressed and compiled in {compress_s:.0f} s, "
          f"{totals['layers']} linear layers, weights {mib(int4_bytes)}")

    print(f"perplexity on {EVAL_WINDOWS} windows of 512 tokens of {austen.BOOKS[austen.EVALUATION_BOOK]} "
          f"(from token {EVAL_START}); {THREADS} threads; greedy continuation of a short prompt:")
    reference = OrtRunner(paths["kv"])
    measure("onnxruntime float32 (for reference)", reference, tokenizer, windows)
    # The float artifact must compute what onnxruntime does.
    fp32 = Artifact(fp32_dir / "libsmollm2.so", THREADS)
    ids = np.array([tokenizer.encode(PROMPT).ids])
    expected, _ = Decoder(reference).step(ids, None, 0)
    got, _ = Decoder(fp32).step(ids, None, 0)
    error = float(np.linalg.norm(got - expected) / np.linalg.norm(expected))
    del reference
    before = measure(f"float32 (logits within {error:.0e} of onnxruntime)", fp32, tokenizer, windows)
    fp32.close()
    int4 = Artifact(int4_dir / "libsmollm2.so", THREADS)
    after = measure("int4", int4, tokenizer, windows)
    int4.close()
    print(f"SmolLM2 gained: weights {fp32_bytes / int4_bytes:.1f}x smaller ({mib(fp32_bytes)} -> {mib(int4_bytes)}; "
          f"the float32 token embedding, {mib(smollm2.VOCAB * smollm2.HIDDEN * 4)}, stays), prompt "
          f"{before['prompt_tps']:.0f} -> {after['prompt_tps']:.0f} tokens/s, generation {before['decode_tps']:.1f} -> "
          f"{after['decode_tps']:.1f} tokens/s, for perplexity {before['perplexity']:.2f} -> {after['perplexity']:.2f} "
          f"(+{after['perplexity'] / before['perplexity'] - 1:.0%}); compression took {compress_s:.0f} s")
    ok = error < 1e-4 and after["perplexity"] < PERPLEXITY_RATIO_LIMIT * before["perplexity"]
    return 0 if ok else 1


def minilm_part(work: Path) -> int:
    print("== all-MiniLM-L6-v2 sentence embeddings: int4 GPTQ weights, int8 activations")
    model = minilm_quality.build_model()
    queries, corpus, calibration = minilm_quality.sentence_sets()
    inputs = minilm_quality.tokenize(queries + corpus)
    reference = minilm_quality.embed(minilm_quality.ort_runner(model, THREADS), inputs)
    cal = minilm_quality.write_calibration(work / "minilm-calibration", calibration)
    results = {}
    for name, passes in (("float32", ""), ("int4", MINILM_QUANTIZE)):
        out = work / f"minilm-{name}"
        seconds = minilm_quality.compile_variant(model, out, passes, cal if passes else None, THREADS)
        art = Artifact(out / "libminilm.so", THREADS)
        run = lambda feeds: art.run(feeds, ["sentence_embedding"])["sentence_embedding"]  # noqa: E731
        q = minilm_quality.quality(reference, minilm_quality.embed(run, inputs))
        one = {k: v[:1] for k, v in inputs.items()}
        run(one)
        times = []
        for _ in range(20):
            t = time.perf_counter()
            run(one)
            times.append(time.perf_counter() - t)
        art.close()
        q.update(weights=(out / "minilm.weights").stat().st_size, ms=1e3 * float(np.median(times)))
        results[name] = q
        print(f"{name}: compiled in {seconds:.0f} s{' with ' + passes if passes else ''}; weights "
              f"{q['weights'] / 2**20:.1f} MiB, 1 x {minilm_quality.SEQ} tokens {q['ms']:.1f} ms; "
              f"cosine to onnxruntime float32 mean {q['cos_mean']:.4f} (min {q['cos_min']:.4f}); "
              f"nearest neighbour unchanged for {q['top1_kept']:.0%} of queries, top-10 overlap {q['top10_kept']:.0%}")
    print(f"  ({len(queries)} query and {len(corpus)} corpus sentences of {austen.BOOKS[minilm_quality.SENTENCE_BOOK]}"
          f"; calibration: {len(calibration)} sentences of {austen.BOOKS[minilm_quality.CALIBRATION_BOOK]})")
    f, q = results["float32"], results["int4"]
    return 0 if f["cos_min"] > 0.9999 and q["cos_mean"] > 0.9 else 1


def main() -> int:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="compress-demo-") as tmp:
        rc = smollm2_part(Path(tmp))
        rc |= minilm_part(Path(tmp))
    print(f"demo took {time.perf_counter() - start:.0f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
