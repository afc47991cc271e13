"""SmolLM2-135M checks (run by run_all.sh; about 1-2 minutes on 2 cores):

  tokenizer   tokenizer.json round-trips the Austen text and agrees with an independent pure-Python byte-level BPE
              (GPT-2 regex on ASCII, digits split, merges read from the GGUF) on a stretch of Pride and Prejudice;
  logits      onnxruntime on the three ONNX graphs vs the numpy reference (test/e2e/smollm2_reference.py, straight
              from the GGUF with llama.cpp's adjacent-pair RoPE) within 1e-4 relative L2;
  cache       prefill + token-by-token decoding with the key/value cache equals the full-sequence logits, and a
              left-padded batch row equals the same tokens run alone;
  protocol    calibration windows (Sense and Sensibility) and evaluation windows (Pride and Prejudice) are from
              different books and share no run of OVERLAP_TOKENS tokens; evaluation windows do not overlap;
  perplexity  onnxruntime's on 2 protocol windows within 1% of the numpy reference's;
  compiler    compress-run's perplexity on the same 2 windows within 0.1% of onnxruntime's (skipped with
              --skip-compress-run or when the binary is missing).
"""
import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from compress_models import austen, smollm2  # noqa: E402
from smollm2_reference import Reference  # noqa: E402

LOGITS_TOLERANCE = 1e-4
PERPLEXITY_TOLERANCE = 0.01
COMPILER_PERPLEXITY_TOLERANCE = 0.001
OVERLAP_TOKENS = 32
LAYERS, KV_HEADS, HEAD_DIM = 30, 3, 64

failures = []


def check(ok: bool, what: str) -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        failures.append(what)


def rel(got, ref) -> float:
    return float(np.linalg.norm(np.asarray(got, np.float64) - ref) / np.linalg.norm(ref))


def session(path: Path, threads: int = 2) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


# ---------------------------------------------------------------------------------------------------------------
# An independent tokenizer for ASCII text.

def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


GPT2_ASCII = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")


def independent_bpe(text: str, vocab: list[str], merges: list[str]) -> list[int]:
    assert text.isascii()
    ids = {t: i for i, t in enumerate(vocab)}
    rank = {tuple(m.split(" ")): r for r, m in enumerate(merges)}
    b2u = bytes_to_unicode()
    out = []
    for piece in re.findall(r"[0-9]|[^0-9]+", text):  # digits one by one first
        for word in GPT2_ASCII.findall(piece):
            symbols = [b2u[b] for b in word.encode()]
            while len(symbols) > 1:
                pairs = [(rank.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(symbols, symbols[1:]))]
                best, i = min(pairs)
                if best == 1 << 30:
                    break
                symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
            out += [ids[s] for s in symbols]
    return out


def check_tokenizer(paths) -> None:
    import gguf
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(paths["tokenizer"]))
    fields = gguf.GGUFReader(str(paths["gguf"])).fields
    vocab = fields["tokenizer.ggml.tokens"].contents()
    merges = fields["tokenizer.ggml.merges"].contents()
    check(len(merges) == 48900 and tok.get_vocab_size() == 49152, "tokenizer: 49152 tokens, 48900 merges")
    special = [tok.token_to_id(t) for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")]
    check(special == [0, 1, 2] and tok.encode("<|im_start|>user").ids[0] == 1,
          f"tokenizer: special tokens 0, 1, 2 (got {special})")
    check(tok.encode("in 1813, 42").tokens == ["in", "Ġ", "1", "8", "1", "3", ",", "Ġ", "4", "2"],
          "tokenizer: digits split one by one")
    text = austen.book_text(austen.EVALUATION_BOOK)
    check(tok.decode(tok.encode(text).ids) == text, "tokenizer: Pride and Prejudice round-trips")
    sample = text[:40000]
    theirs, ours = tok.encode(sample).ids, independent_bpe(sample, vocab, merges)
    check(theirs == ours, f"tokenizer: {len(ours)} tokens of Pride and Prejudice equal an independent BPE")


# ---------------------------------------------------------------------------------------------------------------

def empty_past(batch: int) -> dict[str, np.ndarray]:
    return {f"past_key_values.{i}.{kind}": np.zeros((batch, KV_HEADS, 0, HEAD_DIM), np.float32)
            for i in range(LAYERS) for kind in ("key", "value")}


def check_logits(paths, ref: Reference, ids: np.ndarray) -> np.ndarray:
    """The three graphs on one short sequence against the reference; returns the reference logits."""
    want = ref.logits(ids)
    n = len(ids)
    got_ids = session(paths["ids"]).run(["logits"], {"input_ids": ids[None]})[0][0]
    got_mask = session(paths["nocache"]).run(["logits"], {"input_ids": ids[None],
                                                          "attention_mask": np.ones((1, n), np.int64)})[0][0]
    got_kv = session(paths["kv"]).run(["logits"], {"input_ids": ids[None], "attention_mask": np.ones((1, n), np.int64),
                                                   "position_ids": np.arange(n)[None], **empty_past(1)})[0][0]
    for name, got in (("nocache_ids", got_ids), ("nocache", got_mask), ("kv (empty past)", got_kv)):
        e = rel(got, want)
        check(e < LOGITS_TOLERANCE, f"logits: onnxruntime {name} vs numpy reference, {n} tokens: {e:.2e}")
    return want


def check_cache(paths, ids: np.ndarray, full: np.ndarray, prefill: int) -> None:
    """Prefill `prefill` tokens, then decode the rest one at a time with the cache."""
    sess = session(paths["kv"])
    names = [o.name for o in sess.get_outputs()]
    past, logits = empty_past(1), []
    pos = 0
    for step in [ids[:prefill]] + [ids[i:i + 1] for i in range(prefill, len(ids))]:
        n = len(step)
        out = sess.run(names, {"input_ids": step[None], "attention_mask": np.ones((1, pos + n), np.int64),
                               "position_ids": np.arange(pos, pos + n)[None], **past})
        logits.append(out[0][0])
        past = {n_.replace("present", "past_key_values"): v for n_, v in zip(names[1:], out[1:])}
        pos += n
    e = rel(np.concatenate(logits), full)
    check(e < LOGITS_TOLERANCE and past["past_key_values.0.key"].shape == (1, KV_HEADS, len(ids), HEAD_DIM),
          f"cache: prefill {prefill} + decode {len(ids) - prefill} tokens vs full-sequence reference: {e:.2e}")

    # Batch of two: row 0 the whole sequence, row 1 left-padded by `pad` (positions count real tokens only).
    pad = 5
    short = ids[:len(ids) - pad]
    batch_ids = np.stack([ids, np.concatenate([np.zeros(pad, np.int64), short])])
    mask = np.ones_like(batch_ids)
    mask[1, :pad] = 0
    positions = np.stack([np.arange(len(ids)), np.maximum(np.cumsum(mask[1]) - 1, 0)])
    out = sess.run(["logits"], {"input_ids": batch_ids, "attention_mask": mask, "position_ids": positions,
                                **empty_past(2)})[0]
    e0, e1 = rel(out[0], full), rel(out[1, pad:], full[:len(short)])
    check(max(e0, e1) < LOGITS_TOLERANCE, f"cache graph: left-padded batch row vs the row alone: {e0:.2e}, {e1:.2e}")
    # Right padding in the no-cache graph with the mask.
    right_ids = np.stack([ids, np.concatenate([short, np.zeros(pad, np.int64)])])
    out = session(paths["nocache"]).run(["logits"], {"input_ids": right_ids,
                                                     "attention_mask": mask[:, ::-1].copy()})[0]
    e = rel(out[1, :len(short)], full[:len(short)])
    check(e < LOGITS_TOLERANCE, f"nocache graph: right-padded batch row vs the row alone: {e:.2e}")


def check_protocol() -> None:
    cal = austen.calibration_windows()
    ev = austen.evaluation_windows()
    check(austen.CALIBRATION_BOOK != austen.EVALUATION_BOOK, "protocol: calibration and evaluation books differ")
    check(cal.shape == (austen.CALIBRATION_WINDOWS, austen.WINDOW_TOKENS) and cal.dtype == np.int64
          and ev.shape[1] == austen.WINDOW_TOKENS, f"protocol: {len(cal)} calibration, {len(ev)} evaluation windows")
    book = austen.book_tokens(austen.EVALUATION_BOOK)
    check(np.array_equal(ev.reshape(-1), book[:ev.size]), "protocol: evaluation windows are consecutive, disjoint")
    n = OVERLAP_TOKENS
    seen = {w[i:i + n].tobytes() for w in [austen.book_tokens(austen.CALIBRATION_BOOK)] for i in range(len(w) - n + 1)}
    seen |= {w[i:i + n].tobytes() for w in cal for i in range(len(w) - n + 1)}
    # Stronger than "no evaluation window appears in the calibration data": not even a 32-token run of one does.
    shared = sum(w[i:i + n].tobytes() in seen for w in ev for i in range(len(w) - n + 1))
    check(shared == 0, f"protocol: no evaluation window shares a {n}-token run with the calibration book or "
                       f"windows ({shared} found)")


def compress_run_nll(compress_run: Path, model: Path, windows: np.ndarray) -> np.ndarray:
    from llm_quality import window_nll
    with tempfile.TemporaryDirectory() as d:
        np.save(Path(d) / "ids.npy", windows)
        cmd = [str(compress_run), str(model), "--input", f"input_ids={d}/ids.npy", "--output-dir", f"{d}/out"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError((proc.stderr + proc.stdout)[-2000:])
        return window_nll(np.load(f"{d}/out/logits.npy"), windows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compress-run", type=Path, default=ROOT / "build" / "bin" / "compress-run")
    ap.add_argument("--skip-compress-run", action="store_true")
    ap.add_argument("--windows", type=int, default=2, help="protocol windows for the perplexity checks")
    args, _ = ap.parse_known_args(argv)  # run_all.sh passes its other arguments through
    start = time.perf_counter()
    paths = smollm2.fetch()
    check_tokenizer(paths)
    ref = Reference(paths["gguf"])
    text_ids = austen.evaluation_windows(1, start=2000)[0][:40]
    full = check_logits(paths, ref, text_ids)
    check_cache(paths, text_ids, full, prefill=32)
    check_protocol()

    from llm_quality import window_nll
    windows = austen.evaluation_windows(args.windows)
    ref_ppl, _ = austen.perplexity([ref.window_nll(w) for w in windows])
    sess = session(paths["ids"])
    ort_nll = np.array([window_nll(sess.run(["logits"], {"input_ids": w[None]})[0], w[None])[0] for w in windows])
    ort_ppl, _ = austen.perplexity(ort_nll)
    check(abs(ort_ppl / ref_ppl - 1) < PERPLEXITY_TOLERANCE,
          f"perplexity: onnxruntime {ort_ppl:.4f} vs numpy reference {ref_ppl:.4f} on {len(windows)} windows")
    if not args.skip_compress_run:
        if not args.compress_run.exists():
            print(f"skip compiler: no {args.compress_run}")
        else:
            try:
                ours, _ = austen.perplexity(compress_run_nll(args.compress_run, paths["ids"], windows))
                check(abs(ours / ort_ppl - 1) < COMPILER_PERPLEXITY_TOLERANCE,
                      f"perplexity: compress-run {ours:.4f} vs onnxruntime {ort_ppl:.4f} on {len(windows)} windows")
            except RuntimeError as e:
                check(False, f"perplexity: compress-run failed: {e}")
    print(f"smollm2: {len(failures)} failed, {time.perf_counter() - start:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
