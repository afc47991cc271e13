"""Builds a Llama-7B-sized decoder block (RMSNorm, rotary causal attention, SwiGLU MLP) in ONNX with seeded weights.

With --blocks N it builds a stack of N such blocks chained on the residual stream (input `hidden` [1, seq, H] ->
output `output`), and --hidden / --heads / --intermediate set the width (defaults: Llama-7B's 4096 / 32 / 11008).
The defaults write exactly the single block this script has always written. With --kv-cache the model decodes with
a key/value cache, as Hugging Face's Llama exports with `past_key_values`: inputs `hidden` [1, S, H] and, per block,
`past_key.{i}` / `past_value.{i}` [1, heads, P, head_dim] (the P positions before the S new tokens); outputs `output`
and `present_key.{i}` / `present_value.{i}` [1, heads, P + S, head_dim]. The new tokens sit at positions P .. P+S-1
(rotary angles and causal mask rows from there)."""
import argparse
import math
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from compress_models import op_summary
from compress_models.minilm import GraphBuilder, save

OPSET = 17
IR_VERSION = 8
SEED = 7
HIDDEN = 4096
HEADS = 32
HEAD_DIM = HIDDEN // HEADS
INTERMEDIATE = 11008
# Llama-1 7B: 2048 positions, rotary base 10000, RMSNorm epsilon 1e-6.
MAX_POSITIONS = 2048
ROPE_THETA = 10000.0
RMS_EPSILON = 1e-6
INT64_MAX = np.iinfo(np.int64).max
PREFIX = "model.layers.0."


def rotary_tables(max_positions: int = MAX_POSITIONS, head_dim: int = HEAD_DIM) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin [1, 1, max_positions, head_dim] as Hugging Face's LlamaRotaryEmbedding caches them:
    angles t * theta^(-2i/d), the half-width table repeated twice along the last axis."""
    inv_freq = 1.0 / ROPE_THETA ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    freqs = np.outer(np.arange(max_positions, dtype=np.float64), inv_freq)
    emb = np.concatenate([freqs, freqs], axis=-1)[None, None]
    return np.cos(emb).astype(np.float32), np.sin(emb).astype(np.float32)


class _ScopedBuilder(GraphBuilder):
    """GraphBuilder whose node names start with `scope` (e.g. "/model/layers.3"), as torch.onnx scopes a module's
    nodes; the empty scope gives GraphBuilder's own names."""

    def __init__(self):
        super().__init__()
        self.scope = ""

    def _name(self, op):
        return self.scope + super()._name(op)


def build_model(seed: int = SEED, blocks: int = 1, hidden: int = HIDDEN, heads: int = HEADS,
                intermediate: int = INTERMEDIATE, kv_cache: bool = False, vocab: int = 0,
                builder: "_ScopedBuilder | None" = None) -> onnx.ModelProto:
    """The checked model: input `hidden` float [1, sequence, hidden], output `output` of the same shape.

    `blocks` decoder blocks are chained on the residual stream: block i reads block i-1's output. Block i's weights
    are named model.layers.{i}.*; with more than one block its nodes are named /model/layers.{i}/<Op>_<n>. The
    rotary tables (model.layers.0.self_attn.rotary_emb.*), the causal mask and the position slices are built once and
    shared by all blocks. All weights come from one generator seeded with `seed`, drawn block after block, so block 0
    of any stack of the default width equals the single default block.

    Weights are normal with variance 1 / fan_in (so each projection keeps activations of order one), RMSNorm
    scales are 1 + N(0, 0.1^2). Projections are MatMul by [in, out] initializers, as torch.onnx exports a Linear
    without bias. `kv_cache` adds the cache inputs and outputs (module docstring); the weights are the same.
    With `vocab`, the model is a whole language model as Llama's: input `input_ids` int64 [1, sequence] looked up
    in model.embed_tokens ([vocab, hidden], drawn after the blocks), the blocks, a final RMSNorm and lm_head
    ([hidden, vocab]) to output `logits` [1, sequence, vocab]. `builder` (a _ScopedBuilder) may store the
    initializers elsewhere (llama_scale.py writes them to external data as they are drawn)."""
    if blocks < 1:
        raise ValueError(f"blocks must be at least 1, got {blocks}")
    if hidden % heads or (hidden // heads) % 2:
        raise ValueError(f"hidden {hidden} must be heads {heads} times an even head dimension")
    head_dim = hidden // heads
    rng = np.random.default_rng(seed)
    g = builder if builder is not None else _ScopedBuilder()
    f32, i64 = np.float32, np.int64
    prefix = PREFIX

    def weight(name, fan_in, fan_out):
        w = rng.standard_normal((fan_in, fan_out), dtype=f32)
        w *= f32(1.0 / math.sqrt(fan_in))
        return g.const(prefix + name + ".weight", w)

    two = g.const("/const_two", 2.0, f32)
    eps = g.const("/const_rms_eps", RMS_EPSILON, f32)
    one = g.const("/const_one", 1.0, f32)

    def rms_norm(x, name):
        # LlamaRMSNorm as torch.onnx exports it: x * rsqrt(mean(x^2) + eps) * weight, rsqrt as 1 / Sqrt.
        scale = (1.0 + 0.1 * rng.standard_normal(hidden)).astype(f32)
        variance = g.op("ReduceMean", g.op("Pow", x, two), axes=[-1], keepdims=1)
        inv = g.op("Div", one, g.op("Sqrt", g.op("Add", variance, eps)))
        return g.op("Mul", g.const(prefix + name + ".weight", scale), g.op("Mul", x, inv))

    # Sequence length as a 1-element tensor, the end of every Slice by position.
    seq_end = g.op("Unsqueeze", g.op("Gather", g.op("Shape", "hidden"), g.const("/const_one_i64", 1, i64), axis=0),
                   g.const("/const_axes_0", [0], i64))
    zero_1d = g.const("/const_zero_1d", [0], i64)
    # With a cache the new tokens start at position P (the cache's length) and end at P + S.
    seq_start = zero_1d
    if kv_cache:
        seq_start = g.op("Unsqueeze", g.op("Gather", g.op("Shape", "past_key.0"), g.const("/const_two_i64", 2, i64),
                                           axis=0), "/const_axes_0")
        seq_end = g.op("Add", seq_start, seq_end)
    cos_table, sin_table = rotary_tables(MAX_POSITIONS, head_dim)
    axis2 = g.const("/const_axes_2", [2], i64)
    cos = g.op("Slice", g.const(PREFIX + "self_attn.rotary_emb.cos_cached", cos_table), seq_start, seq_end, axis2)
    sin = g.op("Slice", g.const(PREFIX + "self_attn.rotary_emb.sin_cached", sin_table), seq_start, seq_end, axis2)
    # Causal mask [1, 1, S, P + S]: 0 where the key is not after the query, float32 min where it is.
    mask_table = np.triu(np.full((MAX_POSITIONS, MAX_POSITIONS), np.finfo(f32).min, f32), k=1)[None, None]
    mask_start = g.op("Concat", seq_start, zero_1d, axis=0) if kv_cache else g.const("/const_zero_2d", [0, 0], i64)
    mask = g.op("Slice", g.const("causal_mask", mask_table), mask_start,
                g.op("Concat", seq_end, seq_end, axis=0), g.const("/const_axes_23", [2, 3], i64))

    split_heads = g.const("/const_split_heads", [0, 0, heads, head_dim], i64)
    merge_heads = g.const("/const_merge_heads", [0, 0, hidden], i64)
    half_start, half_end = g.const("/const_half", [head_dim // 2], i64), g.const("/const_int64_max", [INT64_MAX], i64)
    axis3 = g.const("/const_axes_3", [3], i64)

    def rotate(x):
        # x * cos + rotate_half(x) * sin with rotate_half(x) = cat(-x[..., d/2:], x[..., :d/2]).
        x1 = g.op("Slice", x, zero_1d, half_start, axis3)
        x2 = g.op("Slice", x, half_start, half_end, axis3)
        rotated = g.op("Concat", g.op("Neg", x2), x1, axis=-1)
        return g.op("Add", g.op("Mul", x, cos), g.op("Mul", rotated, sin))

    def split(x):
        return g.op("Transpose", g.op("Reshape", x, split_heads), perm=[0, 2, 1, 3])

    def block(residual, first, last, index):
        # Attention.
        h = rms_norm(residual, "input_layernorm")
        q = rotate(split(g.op("MatMul", h, weight("self_attn.q_proj", hidden, hidden))))
        k = rotate(split(g.op("MatMul", h, weight("self_attn.k_proj", hidden, hidden))))
        v = split(g.op("MatMul", h, weight("self_attn.v_proj", hidden, hidden)))
        if kv_cache:
            k = g.op("Concat", f"past_key.{index}", k, axis=2)
            v = g.op("Concat", f"past_value.{index}", v, axis=2)
            g.nodes.append(helper.make_node("Identity", [k], [f"present_key.{index}"],
                                            name=g.scope + f"/Identity_present_key_{index}"))
            g.nodes.append(helper.make_node("Identity", [v], [f"present_value.{index}"],
                                            name=g.scope + f"/Identity_present_value_{index}"))
        scores = g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2]))
        if first:  # created here, not with the other constants, to keep the single block's initializer order
            g.const("/const_sqrt_head_dim", math.sqrt(head_dim), f32)
        scores = g.op("Add", g.op("Div", scores, "/const_sqrt_head_dim"), mask)
        ctx = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        ctx = g.op("Reshape", g.op("Transpose", ctx, perm=[0, 2, 1, 3]), merge_heads)
        x = g.op("Add", residual, g.op("MatMul", ctx, weight("self_attn.o_proj", hidden, hidden)))

        # MLP: down(silu(gate(h)) * up(h)), silu exported as x * Sigmoid(x).
        h = rms_norm(x, "post_attention_layernorm")
        gate = g.op("MatMul", h, weight("mlp.gate_proj", hidden, intermediate))
        up = g.op("MatMul", h, weight("mlp.up_proj", hidden, intermediate))
        act = g.op("Mul", g.op("Mul", gate, g.op("Sigmoid", gate)), up)
        down = g.op("MatMul", act, weight("mlp.down_proj", intermediate, hidden))
        if not last or vocab:
            return g.op("Add", x, down)
        g.nodes.append(helper.make_node("Add", [x, down], ["output"], name=g.scope + "/Add_output"))
        return "output"

    stream = "hidden"
    if vocab:
        # The table is drawn after the blocks (below); its node reads it by name.
        g.nodes.insert(0, helper.make_node("Gather", ["model.embed_tokens.weight", "input_ids"], ["hidden"],
                                           name="/model/embed_tokens/Gather"))
    for i in range(blocks):
        prefix = f"model.layers.{i}."
        if blocks > 1:
            g.scope = f"/model/layers.{i}"
        stream = block(stream, i == 0, i == blocks - 1, i)
    if vocab:
        g.scope, prefix = "/model", "model."
        embed = (rng.standard_normal((vocab, hidden), dtype=f32) * f32(0.02)).astype(f32)
        g.const("model.embed_tokens.weight", embed)
        del embed
        normed = rms_norm(stream, "norm")
        prefix = ""
        g.nodes.append(helper.make_node("MatMul", [normed, weight("lm_head", hidden, vocab)], ["logits"],
                                        name="/lm_head/MatMul"))

    default = (blocks, hidden, heads, intermediate) == (1, HIDDEN, HEADS, INTERMEDIATE)
    name = "llama-7b-decoder-block" if default else f"llama-decoder-{blocks}x{hidden}-h{heads}-i{intermediate}"
    if kv_cache:
        name += "-kv-cache"
    if vocab:
        name += f"-v{vocab}"
        inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "sequence"])]
        outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "sequence", vocab])]
    else:
        inputs = [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, [1, "sequence", hidden])]
        outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, "sequence", hidden])]
    for i in range(blocks if kv_cache else 0):
        for kind in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(f"past_{kind}.{i}", TensorProto.FLOAT,
                                                        [1, heads, "past", head_dim]))
            outputs.append(helper.make_tensor_value_info(f"present_{kind}.{i}", TensorProto.FLOAT,
                                                         [1, heads, "total", head_dim]))
    graph = helper.make_graph(g.nodes, name, inputs=inputs, outputs=outputs, initializer=g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="compressir.llama_block", ir_version=IR_VERSION)
    # The default block's weights are about 810 MB, under protobuf's 2 GB limit, so the in-memory model can be
    # checked whole; a larger stack is checked from its saved file (main) instead.
    if builder is None and weight_bytes(model) < CHECK_IN_MEMORY_BYTES:
        onnx.checker.check_model(model, full_check=True)
    return model


# Below protobuf's 2 GB message limit, with room for everything that is not a weight.
CHECK_IN_MEMORY_BYTES = 2**31 - 2**26


def weight_bytes(model: onnx.ModelProto) -> int:
    return sum(len(t.raw_data) for t in model.graph.initializer)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-o", "--output", type=Path, required=True,
                    help="output .onnx path; the weights go to OUTPUT.data next to it")
    ap.add_argument("--seed", type=int, default=SEED, help="seed of the random weights")
    ap.add_argument("--blocks", type=int, default=1, help="number of decoder blocks chained on the residual stream")
    ap.add_argument("--hidden", type=int, default=HIDDEN, help="hidden size (residual stream width)")
    ap.add_argument("--heads", type=int, default=HEADS, help="attention heads (hidden / heads must be even)")
    ap.add_argument("--intermediate", type=int, default=INTERMEDIATE, help="SwiGLU MLP intermediate size")
    ap.add_argument("--kv-cache", action="store_true",
                    help="decode with a key/value cache: past_key.i / past_value.i in, present_key.i / present_value.i out")
    ap.add_argument("--vocab", type=int, default=0,
                    help="make a language model: token ids in, an embedding table and lm_head of this vocabulary")
    ap.add_argument("--list-ops", action="store_true", help="print the op types and opset of the written model")
    args = ap.parse_args(argv)
    model = build_model(args.seed, args.blocks, args.hidden, args.heads, args.intermediate, args.kv_cache, args.vocab)
    checked = weight_bytes(model) < CHECK_IN_MEMORY_BYTES
    save(model, args.output, external_data=True)
    if not checked:
        onnx.checker.check_model(str(args.output), full_check=True)
    print(f"wrote {args.output} and {args.output.name}.data")
    if args.list_ops:
        print(op_summary(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
