"""Jane Austen's novels (Debian's r-cran-janeaustenr, read without R) and the fixed LLM evaluation protocol on them.

Text: each novel is an R character vector of lines in janeaustenr's lazy-load database
(/usr/lib/R/site-library/janeaustenr/data/Rdata.rdx + .rdb); a book's text is its lines joined by "\\n" plus a final
"\\n" (what R's writeLines prints), tokenized whole with the SmolLM2 tokenizer (no BOS/EOS added).

Protocol (fixed; change PROTOCOL_VERSION with it):
  calibration  CALIBRATION_WINDOWS windows of WINDOW_TOKENS tokens from *Sense and Sensibility* only, at start
               offsets drawn uniformly with numpy.random.default_rng(CALIBRATION_SEED) (they may overlap each other);
  evaluation   the consecutive non-overlapping WINDOW_TOKENS-token windows of *Pride and Prejudice*, from token 0,
               every complete one (the last partial one is dropped). Each window is scored on its own: the mean
               negative log-likelihood of tokens 2..W given their prefix in the window, perplexity = exp(mean over
               all scored tokens), standard error from the spread of the per-window means (delta method: the
               perplexity's relative standard error is the standard error of the mean NLL).

    python -m compress_models.austen --summary
    python -m compress_models.austen --write-calibration DIR [--sets 128] [--with-attention-mask]
"""
import argparse
import sys
import warnings
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

JANEAUSTENR_DATA = Path("/usr/lib/R/site-library/janeaustenr/data")
BOOKS = {  # janeaustenr object name -> title
    "sensesensibility": "Sense & Sensibility", "prideprejudice": "Pride & Prejudice",
    "mansfieldpark": "Mansfield Park", "emma": "Emma", "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
}
CALIBRATION_BOOK, EVALUATION_BOOK = "sensesensibility", "prideprejudice"
WINDOW_TOKENS = 512
CALIBRATION_WINDOWS = 128
CALIBRATION_SEED = 0
PROTOCOL_VERSION = "austen-1"


def book_lines(name: str, data_dir: Path = JANEAUSTENR_DATA) -> list[str]:
    """One novel's lines. The .rdx (a gzipped R serialization) maps object names to (offset, length) in the .rdb;
    each .rdb record is a 4-byte big-endian uncompressed length then a zlib stream of the serialized object."""
    import rdata
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdata warns that it "assumed RDS" for a bare serialization
        index = rdata.read_rds(str(data_dir / "Rdata.rdx"))
        offset, length = (int(v) for v in index["variables"][name])
        with open(data_dir / "Rdata.rdb", "rb") as f:
            f.seek(offset)
            record = f.read(length)
        raw = zlib.decompress(record[4:])
        if len(raw) != int.from_bytes(record[:4], "big"):
            raise ValueError(f"{name}: record length mismatch")
        lines = rdata.conversion.convert(rdata.parser.parse_data(raw))
    return [str(s) for s in lines]


def book_text(name: str) -> str:
    return "\n".join(book_lines(name)) + "\n"


@lru_cache(maxsize=None)
def book_tokens(name: str) -> np.ndarray:
    """The whole book tokenized with SmolLM2's tokenizer, int64."""
    from compress_models.smollm2 import load_tokenizer
    return np.asarray(load_tokenizer().encode(book_text(name)).ids, np.int64)


def calibration_windows(n: int = CALIBRATION_WINDOWS, tokens: int = WINDOW_TOKENS,
                        seed: int = CALIBRATION_SEED) -> np.ndarray:
    """[n, tokens] int64 windows of Sense and Sensibility at seeded random starts."""
    ids = book_tokens(CALIBRATION_BOOK)
    starts = np.random.default_rng(seed).integers(0, len(ids) - tokens + 1, size=n)
    return np.stack([ids[s:s + tokens] for s in starts])


def evaluation_windows(n: int | None = None, tokens: int = WINDOW_TOKENS, start: int = 0) -> np.ndarray:
    """[n, tokens] int64 consecutive non-overlapping windows of Pride and Prejudice from token `start`:
    the first n of them (all complete windows if n is None)."""
    ids = book_tokens(EVALUATION_BOOK)[start:]
    available = len(ids) // tokens
    n = available if n is None else n
    if n > available:
        raise ValueError(f"only {available} windows of {tokens} tokens from token {start}, {n} asked")
    return ids[:n * tokens].reshape(n, tokens).copy()


def write_calibration(out_dir: Path, windows: np.ndarray | None = None, batch: int = 1,
                      attention_mask: bool = False) -> list[Path]:
    """Writes the calibration windows as OUT_DIR/set_NNNN.npz, `batch` windows per set: input_ids [batch, tokens]
    int64 and, for a model that takes it, attention_mask (all ones). This is the folder `--calibration DIR` reads."""
    windows = calibration_windows() if windows is None else windows
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("set_*.npz"):
        old.unlink()
    paths = []
    for i in range(0, len(windows) - batch + 1, batch):
        arrays = {"input_ids": np.ascontiguousarray(windows[i:i + batch], np.int64)}
        if attention_mask:
            arrays["attention_mask"] = np.ones_like(arrays["input_ids"])
        path = out_dir / f"set_{i // batch:04d}.npz"
        np.savez(path, **arrays)
        paths.append(path)
    return paths


def perplexity(window_nll: np.ndarray) -> tuple[float, float]:
    """(perplexity, its standard error) from per-window mean NLLs (each window scores the same number of tokens)."""
    nll = np.asarray(window_nll, np.float64)
    ppl = float(np.exp(nll.mean()))
    se = float(nll.std(ddof=1) / np.sqrt(len(nll))) if len(nll) > 1 else float("nan")
    return ppl, ppl * se


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--summary", action="store_true", help="print token counts and window counts")
    ap.add_argument("--write-calibration", type=Path, metavar="DIR", help="write the calibration sets there")
    ap.add_argument("--sets", type=int, default=CALIBRATION_WINDOWS, help="calibration windows to write")
    ap.add_argument("--batch", type=int, default=1, help="windows per calibration set")
    ap.add_argument("--window-tokens", type=int, default=WINDOW_TOKENS)
    ap.add_argument("--with-attention-mask", action="store_true", help="add an all-ones attention_mask")
    args = ap.parse_args(argv)
    if args.summary or not args.write_calibration:
        for name, title in BOOKS.items():
            text = book_text(name)
            print(f"{title}: {text.count(chr(10))} lines, {len(text)} characters, {len(book_tokens(name))} tokens")
        print(f"evaluation: {len(evaluation_windows(tokens=args.window_tokens))} windows of {args.window_tokens} "
              f"tokens of {BOOKS[EVALUATION_BOOK]}")
    if args.write_calibration:
        paths = write_calibration(args.write_calibration, calibration_windows(args.sets, args.window_tokens),
                                  args.batch, args.with_attention_mask)
        print(f"wrote {len(paths)} sets to {args.write_calibration}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
