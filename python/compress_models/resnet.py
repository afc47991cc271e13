"""Builds a ResNet-18-style image classifier in ONNX with deterministic random weights (He init, seeded)."""
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
SEED = 18
NUM_CLASSES = 1000
BN_EPSILON = 1e-5
# (channels, stride of the first block) for the four stages; each stage has two basic blocks.
STAGES = [(64, 1), (128, 2), (256, 2), (512, 2)]


def _conv(x: np.ndarray, weight: np.ndarray, stride: int) -> np.ndarray:
    """Reference convolution of one image x [C, H, W] with padding k // 2, by im2col and a matrix product."""
    c_out, c_in, k, _ = weight.shape
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::stride, ::stride]
    ho, wo = win.shape[1:3]
    cols = win.transpose(0, 3, 4, 1, 2).reshape(c_in * k * k, ho * wo)
    return (weight.reshape(c_out, -1) @ cols).reshape(c_out, ho, wo)


def _max_pool(x: np.ndarray) -> np.ndarray:
    """Reference 3x3 stride-2 max pool with padding 1 of one image x [C, H, W]."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    return np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))[:, ::2, ::2].max(axis=(3, 4))


def build_model(seed: int = SEED) -> onnx.ModelProto:
    """The checked ResNet-18-style model: input `image` float [batch, 3, 224, 224], output `logits` [batch, 1000].

    The BatchNormalization running statistics are those a calibration image (seeded standard normal, like the
    benchmark inputs) produces at each layer, perturbed per channel: means shifted by up to 0.2 standard
    deviations and variances scaled by a factor in [1/1.5, 1.5]. So the normalisation is far from an identity,
    yet activations stay of order one through all 20 layers, as in a trained network."""
    rng = np.random.default_rng(seed)
    g = GraphBuilder()

    def conv_bn(x, ref, prefix, c_in, c_out, k, stride):
        """Conv (no bias) + BatchNormalization on graph value x, whose calibration value is ref [C, H, W]."""
        # He (Kaiming) normal initialisation with fan_in.
        weight = (rng.standard_normal((c_out, c_in, k, k)) * math.sqrt(2.0 / (c_in * k * k))).astype(np.float32)
        y = g.op("Conv", x, g.const(prefix + ".conv.weight", weight), kernel_shape=[k, k],
                 strides=[stride, stride], pads=[k // 2] * 4, dilations=[1, 1], group=1)
        ref = _conv(ref, weight, stride)
        mean, std = ref.mean(axis=(1, 2)), ref.std(axis=(1, 2)) + 1e-3
        scale = rng.uniform(0.7, 1.3, c_out)
        bias = rng.normal(0.0, 0.1, c_out)
        running_mean = mean + rng.uniform(-0.2, 0.2, c_out) * std
        running_var = std ** 2 * np.exp(rng.uniform(-math.log(1.5), math.log(1.5), c_out))
        params = [a.astype(np.float32) for a in (scale, bias, running_mean, running_var)]
        names = [g.const(f"{prefix}.bn.{n}", a)
                 for n, a in zip(("weight", "bias", "running_mean", "running_var"), params)]
        scale, bias, running_mean, running_var = params
        ref = ((ref - running_mean[:, None, None]) / np.sqrt(running_var[:, None, None] + BN_EPSILON)
               * scale[:, None, None] + bias[:, None, None]).astype(np.float32)
        return g.op("BatchNormalization", y, *names, epsilon=BN_EPSILON, momentum=0.9), ref

    ref = np.random.default_rng(seed + 1).standard_normal((3, 224, 224)).astype(np.float32)
    # Stem: 7x7/2 conv, BN, ReLU, 3x3/2 max pool.
    x, ref = conv_bn("image", ref, "stem", 3, 64, 7, 2)
    x = g.op("MaxPool", g.op("Relu", x), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    ref = _max_pool(np.maximum(ref, 0))
    c_in = 64
    for s, (c_out, first_stride) in enumerate(STAGES):
        for b in range(2):
            prefix = f"layer{s + 1}.{b}"
            stride = first_stride if b == 0 else 1
            y, ref_y = conv_bn(x, ref, prefix + ".0", c_in, c_out, 3, stride)
            y, ref_y = g.op("Relu", y), np.maximum(ref_y, 0)
            y, ref_y = conv_bn(y, ref_y, prefix + ".1", c_out, c_out, 3, 1)
            if stride != 1 or c_in != c_out:
                shortcut, ref_s = conv_bn(x, ref, prefix + ".downsample", c_in, c_out, 1, stride)
            else:
                shortcut, ref_s = x, ref
            x, ref = g.op("Relu", g.op("Add", y, shortcut)), np.maximum(ref_y + ref_s, 0)
            c_in = c_out
    x = g.op("Flatten", g.op("GlobalAveragePool", x), axis=1)
    fc_w = (rng.standard_normal((NUM_CLASSES, c_in)) / math.sqrt(c_in)).astype(np.float32)
    fc_b = rng.normal(0.0, 0.01, NUM_CLASSES).astype(np.float32)
    # torch exports nn.Linear as Gemm with the [out, in] weight and transB=1.
    g.nodes.append(helper.make_node("Gemm", [x, g.const("fc.weight", fc_w), g.const("fc.bias", fc_b)], ["logits"],
                                    name="/fc/Gemm", alpha=1.0, beta=1.0, transB=1))

    graph = helper.make_graph(
        g.nodes, "resnet18",
        inputs=[helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        outputs=[helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", NUM_CLASSES])],
        initializer=g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="compressir.resnet", ir_version=IR_VERSION)
    onnx.checker.check_model(model, full_check=True)
    return model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-o", "--output", type=Path, required=True, help="output .onnx path")
    ap.add_argument("--seed", type=int, default=SEED, help="seed of the random weights")
    ap.add_argument("--list-ops", action="store_true", help="print the op types and opset of the written model")
    args = ap.parse_args(argv)
    save(build_model(args.seed), args.output)
    print(f"wrote {args.output}")
    if args.list_ops:
        print(op_summary(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
