"""Writes a Llama-7B-shaped language model larger than memory, for the scale test (docs/scale.md).

llama_block.build_model with --vocab (token ids, embedding table, the decoder blocks, final norm, lm_head), each
initializer written to OUTPUT.data as it is drawn rather than held in memory: 32 blocks of Llama-7B's width and a
32000-token vocabulary are 6.74 billion float32 weights, about 27 GB, written with a few hundred MB of memory.
Large tensors start at 4096-byte offsets, so that a loader may map each one in place."""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from compress_models import llama_block

ALIGNMENT = 4096
INLINE_BYTES = 1024


class StreamingBuilder(llama_block._ScopedBuilder):
    """A builder whose initializers of INLINE_BYTES or more go straight to an external data file."""

    def __init__(self, data_path: Path):
        super().__init__()
        self.data_path = data_path
        self.file = open(data_path, "wb")
        self.offset = 0
        self.started = time.monotonic()

    def const(self, name, value, dtype=None):
        array = np.asarray(value, dtype=dtype)
        if array.nbytes < INLINE_BYTES:
            return super().const(name, array)
        array = np.ascontiguousarray(array)
        padding = -self.offset % ALIGNMENT
        self.file.write(b"\0" * padding)
        self.offset += padding
        array.tofile(self.file)
        tensor = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(array.dtype),
                             dims=array.shape, data_location=TensorProto.EXTERNAL)
        for key, text in (("location", self.data_path.name), ("offset", str(self.offset)),
                          ("length", str(array.nbytes))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, text
        self.initializers.append(tensor)
        self.offset += array.nbytes
        if array.nbytes >= 1 << 26:
            print(f"  {name}: {self.offset / 1e9:.1f} GB written, {time.monotonic() - self.started:.0f} s",
                  flush=True)
        return name

    def close(self):
        self.file.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-o", "--output", type=Path, required=True, help="output .onnx path; weights go to OUTPUT.data")
    ap.add_argument("--blocks", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=llama_block.HIDDEN)
    ap.add_argument("--heads", type=int, default=llama_block.HEADS)
    ap.add_argument("--intermediate", type=int, default=llama_block.INTERMEDIATE)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--seed", type=int, default=llama_block.SEED)
    args = ap.parse_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    builder = StreamingBuilder(args.output.parent / (args.output.name + ".data"))
    try:
        model = llama_block.build_model(args.seed, args.blocks, args.hidden, args.heads, args.intermediate,
                                        vocab=args.vocab, builder=builder)
    finally:
        builder.close()
    onnx.save_model(model, str(args.output))
    onnx.checker.check_model(str(args.output))
    print(f"wrote {args.output} and {builder.data_path.name} ({builder.offset / 1e9:.2f} GB of weights)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
