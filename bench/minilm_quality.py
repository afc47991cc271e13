"""MiniLM (all-MiniLM-L6-v2) sentence-embedding quality of compressed variants, in the figures users of sentence
embeddings read: on real sentences of Jane Austen's *Emma*, tokenized with MiniLM's own tokenizer
(compress_models.minilm.load_tokenizer: the tokenizer.json shipped with the weights, 128 tokens, padded),

  cosine       cosine similarity of each sentence's `sentence_embedding` to the float32 one (onnxruntime), mean and
               minimum over every sentence (queries and corpus: QUERIES + CORPUS);
  top-1 kept   semantic search: each of QUERIES query sentences retrieves its nearest neighbour (cosine) among CORPUS
               other sentences; the fraction of queries whose nearest neighbour is the one the float model finds;
  top-10 kept  the mean overlap of the 10 nearest neighbours with the float model's 10.

Calibration (GPTQ) sentences come from *Persuasion* only. Sentences: paragraphs joined into lines, split after
. ! ? (not after Mr. Mrs. Dr. St. Col.), 6 to 60 words, drawn with numpy.random.default_rng(SEED); queries and corpus
are disjoint.

    python bench/minilm_quality.py                        # the default variants, a markdown table on stdout
    python bench/minilm_quality.py --variants fp32,int4-gptq-w4a8

Variants are compiled by compress-compile for [?, 128] (a dynamic batch) and run through the C API in batches of
BATCH.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
from compress_models import artifact, austen, cache_dir  # noqa: E402

SEQ = 128
QUERIES, CORPUS, BATCH = 64, 256, 64
CALIBRATION_SENTENCES = 128
SEED = 0
SENTENCE_BOOK, CALIBRATION_BOOK = "emma", "persuasion"
ABBREVIATIONS = ("Mr.", "Mrs.", "Dr.", "St.", "Col.", "Capt.", "Esq.")

VARIANTS = {  # name -> (passes, needs calibration)
    "fp32": ("", False),
    "int8-rtn": ("compress-quantize{bits=8}", False),
    "int8-rtn-w8a8": ("compress-quantize{bits=8 mode=w8a8}", False),
    "int4-g128-rtn": ("compress-quantize{bits=4 group-size=128}", False),
    "int4-g128-gptq": ("compress-quantize{bits=4 group-size=128 symmetric=false method=gptq}", True),
    "int4-g128-gptq-w4a8": ("compress-quantize{bits=4 group-size=128 symmetric=false method=gptq mode=w4a8}", True),
}


def book_sentences(book: str) -> list[str]:
    """The book's sentences of 6 to 60 words, in order."""
    text = "\n".join(austen.book_lines(book))
    out = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        if not paragraph or paragraph.isupper():  # titles, CHAPTER headings
            continue
        pieces, current, start = [], "", 0
        for m in re.finditer(r'[.!?]["\']?\s+(?=["\']?[A-Z])', paragraph):
            pieces.append(paragraph[start:m.end()].strip())
            start = m.end()
        pieces.append(paragraph[start:].strip())
        for piece in pieces:
            current = f"{current} {piece}".strip() if current else piece
            if current.endswith(ABBREVIATIONS):
                continue
            if 6 <= len(current.split()) <= 60:
                out.append(current)
            current = ""
    return out


def sentence_sets(seed: int = SEED) -> tuple[list[str], list[str], list[str]]:
    """(queries, corpus, calibration) sentences: disjoint draws from SENTENCE_BOOK, calibration from another book."""
    rng = np.random.default_rng(seed)
    sentences = book_sentences(SENTENCE_BOOK)
    pick = rng.choice(len(sentences), QUERIES + CORPUS, replace=False)
    queries = [sentences[i] for i in pick[:QUERIES]]
    corpus = [sentences[i] for i in pick[QUERIES:]]
    others = book_sentences(CALIBRATION_BOOK)
    calibration = [others[i] for i in rng.choice(len(others), CALIBRATION_SENTENCES, replace=False)]
    return queries, corpus, calibration


def tokenize(sentences: list[str]) -> dict[str, np.ndarray]:
    from compress_models.minilm import load_tokenizer
    tok = load_tokenizer()
    tok.enable_truncation(SEQ)
    tok.enable_padding(length=SEQ)
    enc = tok.encode_batch(sentences)
    return {"input_ids": np.array([e.ids for e in enc], np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], np.int64)}


def build_model() -> Path:
    model = cache_dir() / "minilm" / "minilm.onnx"
    if not model.exists():
        subprocess.run([sys.executable, "-m", "compress_models.minilm", "-o", str(model)], check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "python")})
    return model


def write_calibration(folder: Path, sentences: list[str], batch: int = 16) -> Path:
    """Calibration sets of `batch` sentences each, as .npz files (input_ids, attention_mask)."""
    folder.mkdir(parents=True, exist_ok=True)
    inputs = tokenize(sentences)
    for i in range(0, len(sentences), batch):
        np.savez(folder / f"set_{i // batch:04d}.npz", **{k: v[i:i + batch] for k, v in inputs.items()})
    return folder


def compile_variant(model: Path, out: Path, passes: str, calibration: Path | None, threads: int,
                    compile_binary: Path = ROOT / "build" / "bin" / "compress-compile") -> float:
    """compress-compile for [?, SEQ] into out/libminilm.so; returns seconds."""
    return artifact.compile_model(compile_binary, model, out, "minilm", f"--input-shape=input_ids=?x{SEQ}",
                                  f"--input-shape=attention_mask=?x{SEQ}", f"--num-threads={threads}",
                                  passes=passes, calibration=calibration)


def embed(run, inputs: dict[str, np.ndarray], batch: int = BATCH) -> np.ndarray:
    """sentence_embedding for every row, `run(feeds) -> embeddings` called on batches."""
    n = len(inputs["input_ids"])
    return np.concatenate([run({k: v[i:i + batch] for k, v in inputs.items()}) for i in range(0, n, batch)])


def ort_runner(model: Path, threads: int):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    return lambda feeds: sess.run(["sentence_embedding"], feeds)[0]


def artifact_runner(artifact_dir: Path, threads: int):
    from compress_models.artifact import Artifact
    art = Artifact(artifact_dir / "libminilm.so", threads)
    return lambda feeds: art.run(feeds, ["sentence_embedding"])["sentence_embedding"]


def quality(reference: np.ndarray, embeddings: np.ndarray, queries: int = QUERIES, k: int = 10) -> dict:
    """Cosine to the reference embeddings and how much of the reference's retrieval is kept. Rows: queries first,
    then the corpus."""
    def unit(x):
        x = x.astype(np.float64)
        return x / np.linalg.norm(x, axis=1, keepdims=True)
    ref, emb = unit(reference), unit(embeddings)
    cos = (ref * emb).sum(axis=1)

    def neighbours(e):
        scores = e[:queries] @ e[queries:].T
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]
    nr, ne = neighbours(ref), neighbours(emb)
    return {"cos_mean": float(cos.mean()), "cos_min": float(cos.min()),
            "top1_kept": float(np.mean(nr[:, 0] == ne[:, 0])),
            f"top{k}_kept": float(np.mean([len(set(a) & set(b)) / k for a, b in zip(nr, ne)]))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: " + ", ".join(VARIANTS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="keep the artifacts in this folder")
    args = ap.parse_args(argv)
    model = build_model()
    queries, corpus, calibration = sentence_sets()
    inputs = tokenize(queries + corpus)
    print(f"{len(queries)} queries and {len(corpus)} corpus sentences of {austen.BOOKS[SENTENCE_BOOK]} "
          f"(mean {inputs['attention_mask'].sum(1).mean():.1f} tokens), calibration: {len(calibration)} sentences "
          f"of {austen.BOOKS[CALIBRATION_BOOK]}", file=sys.stderr)
    reference = embed(ort_runner(model, args.threads), inputs)
    work = args.keep or Path(tempfile.mkdtemp(prefix="minilm_quality_"))
    cal = write_calibration(work / "calibration", calibration)
    rows = []
    try:
        for name in [v.strip() for v in args.variants.split(",") if v.strip()]:
            passes, needs_cal = VARIANTS[name]
            out = work / name
            seconds = compile_variant(model, out, passes, cal if needs_cal else None, args.threads)
            q = quality(reference, embed(artifact_runner(out, args.threads), inputs))
            q.update(variant=name, passes=passes, compile_s=seconds,
                     weights_mib=(out / "minilm.weights").stat().st_size / 2**20)
            rows.append(q)
            print(f"{name}: cosine mean {q['cos_mean']:.5f} min {q['cos_min']:.5f}, top-1 kept {q['top1_kept']:.3f}, "
                  f"top-10 kept {q['top10_kept']:.3f}, weights {q['weights_mib']:.1f} MiB, compile {seconds:.1f} s",
                  file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("| variant | passes | weights MiB | cosine to float, mean | min | nearest neighbour kept | top-10 kept "
          "| compile s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for q in rows:
        print(f"| {q['variant']} | `{q['passes'] or '(none)'}` | {q['weights_mib']:.1f} | {q['cos_mean']:.4f} | "
              f"{q['cos_min']:.4f} | {q['top1_kept']:.3f} | {q['top10_kept']:.3f} | {q['compile_s']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
