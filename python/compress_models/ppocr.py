"""Fetches the PP-OCR det/rec/cls ONNX models shipped inside the rapidocr-onnxruntime wheel."""
import argparse
import sys
from pathlib import Path

from compress_models import cache_dir, extract_from_wheel, op_summary

RAPIDOCR_VERSION = "1.4.4"
# Model key -> file name inside the wheel's rapidocr_onnxruntime/models/.
MODELS = {
    "det": "ch_PP-OCRv4_det_infer.onnx",
    "rec": "ch_PP-OCRv4_rec_infer.onnx",
    "cls": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
}


def fetch(cache: Path | None = None) -> dict[str, Path]:
    """Returns {key: path} of the three models, downloading the wheel only if a model is missing."""
    cache = Path(cache) if cache else cache_dir()
    paths = {k: cache / "ppocr" / name for k, name in MODELS.items()}
    extract_from_wheel(f"rapidocr-onnxruntime=={RAPIDOCR_VERSION}",
                       f"rapidocr_onnxruntime-{RAPIDOCR_VERSION}-*.whl",
                       {f"rapidocr_onnxruntime/models/{MODELS[k]}": p for k, p in paths.items()}, cache)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cache", type=Path, help="cache directory (default $COMPRESS_CACHE or ~/.cache/compressir)")
    ap.add_argument("--list-ops", action="store_true", help="print the op types and opsets of each model")
    args = ap.parse_args(argv)
    paths = fetch(args.cache)
    for key, path in paths.items():
        print(f"{key}: {path}")
    if args.list_ops:
        for path in paths.values():
            print(op_summary(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
