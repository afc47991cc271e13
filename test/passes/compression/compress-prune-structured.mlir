// Tests compress-prune pattern=structured: whole channels removed from the
// layer producing them, the layer consuming them and every op in between
// (MLP, convolution), ranked by the L2 norm of the consumer's input on the
// calibration data; and the structures whose shapes cannot propagate, which
// fail with one line naming the op and leave no output.

// RUN: rm -rf %t && split-file %s %t
// RUN: %python -c "import numpy as np, os, sys; [os.makedirs(f'%t/{d}/set0') for d in ('cal_mlp', 'cal_conv')]; np.save('%t/cal_mlp/set0/x.npy', np.ones((4, 8), np.float32)); np.save('%t/cal_conv/set0/x.npy', np.ones((1, 4, 3, 3), np.float32))"

// RUN: compress-opt %t/mlp.mlir --calibration %t/cal_mlp --passes "compress-prune{pattern=structured sparsity=0.5 report=%t/mlp.json}" | FileCheck %t/mlp.mlir
// RUN: %python -c "import json, sys; e = json.load(open(sys.argv[1]))['layers']; assert len(e) == 1, e; e = e[0]; assert (e['kind'], e['name'], e['producers'], e['removed'], e['channels_before'], e['channels_after'], e['parameters_before'], e['parameters_after'], e['layer_bytes']) == ('mlp', 'fc2', ['fc1'], [0, 1, 3], 6, 3, 48 + 6 + 12, 24 + 3 + 6, [{'name': 'fc1', 'bytes_before': 192, 'bytes_after': 96}, {'name': 'fc2', 'bytes_before': 48, 'bytes_after': 24}]), e" %t/mlp.json
// The run's summary counts each layer's weight once across passes: float
// fc1 [6, 8] and fc2 [2, 6] are 240 B; pruned to [3, 8] and [2, 3], then
// int8 per channel: 24 + 3 * 4 and 6 + 2 * 4 bytes, 50 B. (The pruning
// pass's own line counts fc1's bias too: 264 B.)
// RUN: compress-opt %t/mlp.mlir --calibration %t/cal_mlp --passes "compress-prune{pattern=structured sparsity=0.5},compress-quantize{bits=8}" -o /dev/null 2>&1 | FileCheck %s --check-prefix=SUMMARY
// SUMMARY: compress-prune 2 layers changed, 264 B -> 132 B (2.00x smaller)
// SUMMARY: model 2 layers changed, 240 B -> 50 B (4.80x smaller)
// RUN: compress-opt %t/conv.mlir --calibration %t/cal_conv --passes "compress-prune{pattern=structured sparsity=0.5 report=%t/conv.json}" | FileCheck %t/conv.mlir
// RUN: %python -c "import json, sys; e = json.load(open(sys.argv[1]))['layers'][0]; assert (e['kind'], e['removed'], e['parameters_before'], e['parameters_after']) == ('conv', [0, 3], 16 + 4 + 8, 8 + 2 + 4), e" %t/conv.json

// structured-targets picks the kinds: nothing of an MLP is touched for conv.
// RUN: compress-opt %t/mlp.mlir --calibration %t/cal_mlp --passes "compress-prune{pattern=structured sparsity=0.5 structured-targets=conv}" | FileCheck %t/mlp.mlir --check-prefix=UNTOUCHED

// Errors: one line naming the op, no output.
// RUN: compress-opt %t/errors-mlp.mlir -split-input-file -verify-diagnostics --calibration %t/cal_mlp --passes "compress-prune{pattern=structured sparsity=0.5}"
// RUN: compress-opt %t/errors-conv.mlir -split-input-file -verify-diagnostics --calibration %t/cal_conv --passes "compress-prune{pattern=structured sparsity=0.5}"
// An ONNX model through compress-opt: one line, no output.
// RUN: %python %S/inputs/structured_prune.py leak %t/leak --build-only
// RUN: not compress-opt %t/leak/model.onnx --calibration %t/leak/cal --passes "compress-prune{pattern=structured sparsity=0.5}" -o %t/leak/out.mlir > %t/leak/stdout 2> %t/leak/stderr
// RUN: FileCheck %s --check-prefix=ONE-LINE --match-full-lines --input-file %t/leak/stderr
// RUN: not test -s %t/leak/stdout
// RUN: not test -e %t/leak/out.mlir
// ONE-LINE: compress-opt: error: compress-prune: mlp structure of 'down_proj': cannot propagate the pruned channels through 'func.return' in {{.*}}model.onnx: the channels reach the model's output 'a'
// ONE-LINE-EMPTY:

// Small ONNX models against numpy (ranking, outputs, parameters): MiniLM's
// GELU MLP with biases, SmolLM2's SwiGLU MLP, grouped-query attention (whole
// groups of query heads with their key/value head), Conv + BatchNorm + Relu
// + Conv.
// RUN: %python %S/inputs/structured_prune.py mlp %t/onnx-mlp
// RUN: %python %S/inputs/structured_prune.py swiglu %t/onnx-swiglu
// RUN: %python %S/inputs/structured_prune.py attention %t/onnx-attention
// RUN: %python %S/inputs/structured_prune.py attention %t/onnx-attention-25 --sparsity 0.25
// RUN: %python %S/inputs/structured_prune.py conv %t/onnx-conv

//--- mlp.mlir
// On the all-ones calibration input, fc1 row c (all v_c / 8) plus the bias
// gives v_c + b_c = [0.5, -0.75, 3.5, 0.85, 3.0, 2.25]; after the relu the
// norms rank channels 1, 0, 3 lowest: half of the 6 channels (0, 1, 3) go.
// fc1 keeps rows 2, 4, 5, the bias entries 0.5, 1.0, 1.25, fc2 (w[n][c] =
// c + 1) columns 3, 5, 6; every op in between works on 3 channels.
// CHECK-LABEL: func.func @main
// CHECK: %[[W1:.*]] = arith.constant dense<{{\[\[}}3.750000e-01, {{.*}}], [2.500000e-01, {{.*}}], [1.250000e-01, {{.*}}]]> : tensor<3x8xf32>
// CHECK: %[[H:.*]] = compress.linear %arg0, %[[W1]] : tensor<4x8xf32>, tensor<3x8xf32> -> tensor<4x3xf32>
// CHECK: tensor.empty() : tensor<4x3xf32>
// CHECK: %[[B1:.*]] = arith.constant dense<[5.000000e-01, 1.000000e+00, 1.250000e+00]> : tensor<3xf32>
// CHECK: %[[HB:.*]] = linalg.generic {{.*}} ins(%[[H]], %[[B1]] : tensor<4x3xf32>, tensor<3xf32>) {{.*}}
// CHECK: } -> tensor<4x3xf32>
// CHECK: %[[R:.*]] = linalg.generic {{.*}} ins(%[[HB]] : tensor<4x3xf32>) {{.*}}
// CHECK: } -> tensor<4x3xf32>
// CHECK: %[[W2:.*]] = arith.constant dense<{{\[\[}}3.000000e+00, 5.000000e+00, 6.000000e+00], [3.000000e+00, 5.000000e+00, 6.000000e+00]]> : tensor<2x3xf32>
// CHECK: compress.linear %[[R]], %[[W2]] : tensor<4x3xf32>, tensor<2x3xf32> -> tensor<4x2xf32>
// CHECK-NOT: tensor<4x6xf32>
// UNTOUCHED: compress.linear {{.*}} -> tensor<4x6xf32>
// UNTOUCHED: compress.linear {{.*}} : tensor<4x6xf32>, tensor<2x6xf32> -> tensor<4x2xf32>
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
func.func @main(%x: tensor<4x8xf32> {compress.name = "x"}) -> (tensor<4x2xf32> {compress.name = "y"}) {
  %w1 = arith.constant dense<[[0.0625, 0.0625, 0.0625, 0.0625, 0.0625, 0.0625, 0.0625, 0.0625],
                              [-0.125, -0.125, -0.125, -0.125, -0.125, -0.125, -0.125, -0.125],
                              [0.375, 0.375, 0.375, 0.375, 0.375, 0.375, 0.375, 0.375],
                              [0.0125, 0.0125, 0.0125, 0.0125, 0.0125, 0.0125, 0.0125, 0.0125],
                              [0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25],
                              [0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125]]> : tensor<6x8xf32>
  %b1 = arith.constant dense<[0.0, 0.25, 0.5, 0.75, 1.0, 1.25]> : tensor<6xf32>
  %w2 = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]> : tensor<2x6xf32>
  %zero = arith.constant 0.0 : f32
  %h = compress.linear %x, %w1 : tensor<4x8xf32>, tensor<6x8xf32> -> tensor<4x6xf32> loc("fc1")
  %e0 = tensor.empty() : tensor<4x6xf32>
  %hb = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%h, %b1 : tensor<4x6xf32>, tensor<6xf32>) outs(%e0 : tensor<4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<4x6xf32>
  %e1 = tensor.empty() : tensor<4x6xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%hb : tensor<4x6xf32>) outs(%e1 : tensor<4x6xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<4x6xf32>
  %y = compress.linear %r, %w2 : tensor<4x6xf32>, tensor<2x6xf32> -> tensor<4x2xf32> loc("fc2")
  return %y : tensor<4x2xf32>
}

//--- conv.mlir
// 1x1 convolutions on an all-ones input: conv1's filter f sums to
// [0.4, 2.0, 1.2, -0.4] over the 4 input channels, plus the bias [0, 0.5,
// 0, 0.3]; after the relu the norms rank channels 3 (0) and 0 (0.4) lowest.
// CHECK-LABEL: func.func @main
// CHECK: %[[W1:.*]] = arith.constant dense<{{\[\[\[\[}}5.000000e-01]], {{.*}}, {{\[\[\[}}3.000000e-01]], {{.*}} : tensor<2x4x1x1xf32>
// CHECK: %[[B1:.*]] = arith.constant dense<[5.000000e-01, 0.000000e+00]> : tensor<2xf32>
// CHECK: %[[C:.*]] = compress.conv2d %arg0, %[[W1]], %[[B1]] {{.*}} -> tensor<1x2x3x3xf32>
// CHECK: %[[R:.*]] = linalg.generic {{.*}} ins(%[[C]] : tensor<1x2x3x3xf32>) {{.*}}
// CHECK: } -> tensor<1x2x3x3xf32>
// CHECK: %[[W2:.*]] = arith.constant dense<{{\[\[\[\[}}2.000000e+00]], {{\[\[}}3.000000e+00]]], {{\[\[\[}}2.000000e+00]], {{\[\[}}3.000000e+00]]]]> : tensor<2x2x1x1xf32>
// CHECK: compress.conv2d %[[R]], %[[W2]] {{.*}} : tensor<1x2x3x3xf32>, tensor<2x2x1x1xf32> -> tensor<1x2x3x3xf32>
// CHECK-NOT: 1x4x3x3xf32>, tensor<2x4
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @main(%x: tensor<1x4x3x3xf32> {compress.name = "x"}) -> (tensor<1x2x3x3xf32> {compress.name = "y"}) {
  %w1 = arith.constant dense<[[[[0.1]], [[0.1]], [[0.1]], [[0.1]]],
                              [[[0.5]], [[0.5]], [[0.5]], [[0.5]]],
                              [[[0.3]], [[0.3]], [[0.3]], [[0.3]]],
                              [[[-0.1]], [[-0.1]], [[-0.1]], [[-0.1]]]]> : tensor<4x4x1x1xf32>
  %b1 = arith.constant dense<[0.0, 0.5, 0.0, 0.3]> : tensor<4xf32>
  %w2 = arith.constant dense<[[[[1.0]], [[2.0]], [[3.0]], [[4.0]]],
                              [[[1.0]], [[2.0]], [[3.0]], [[4.0]]]]> : tensor<2x4x1x1xf32>
  %zero = arith.constant 0.0 : f32
  %c = compress.conv2d %x, %w1, %b1 {strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>,
      dilations = array<i64: 1, 1>, groups = 1 : i64}
      : tensor<1x4x3x3xf32>, tensor<4x4x1x1xf32>, tensor<4xf32> -> tensor<1x4x3x3xf32> loc("conv1")
  %e = tensor.empty() : tensor<1x4x3x3xf32>
  %r = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%c : tensor<1x4x3x3xf32>) outs(%e : tensor<1x4x3x3xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x3x3xf32>
  %y = compress.conv2d %r, %w2 {strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>,
      dilations = array<i64: 1, 1>, groups = 1 : i64}
      : tensor<1x4x3x3xf32>, tensor<2x4x1x1xf32> -> tensor<1x2x3x3xf32> loc("conv2")
  return %y : tensor<1x2x3x3xf32>
}

//--- errors-mlp.mlir
#id = affine_map<(d0, d1) -> (d0, d1)>
#rows = affine_map<(d0, d1) -> (d0)>
// The activation between the layers is also a result of the model.
// expected-error@+1 {{compress-prune: mlp structure of 'fc2': cannot propagate the pruned channels through 'func.return'}}
module {
  func.func @main(%x: tensor<4x8xf32> {compress.name = "x"})
      -> (tensor<4x2xf32> {compress.name = "y"}, tensor<4x6xf32> {compress.name = "h"}) {
    %w1 = arith.constant dense<0.5> : tensor<6x8xf32>
    %w2 = arith.constant dense<0.25> : tensor<2x6xf32>
    %zero = arith.constant 0.0 : f32
    %h = compress.linear %x, %w1 : tensor<4x8xf32>, tensor<6x8xf32> -> tensor<4x6xf32> loc("fc1")
    %e = tensor.empty() : tensor<4x6xf32>
    %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
        ins(%h : tensor<4x6xf32>) outs(%e : tensor<4x6xf32>) {
    ^bb0(%a: f32, %o: f32):
      %m = arith.maximumf %a, %zero : f32
      linalg.yield %m : f32
    } -> tensor<4x6xf32>
    %y = compress.linear %r, %w2 : tensor<4x6xf32>, tensor<2x6xf32> -> tensor<4x2xf32> loc("fc2")
    return %y, %r : tensor<4x2xf32>, tensor<4x6xf32>
  }
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>
#rows = affine_map<(d0, d1) -> (d0)>
// A reduction over the channels (a norm of the activation) reads them all.
// expected-error@+1 {{compress-prune: mlp structure of 'fc2': cannot propagate the pruned channels through 'linalg.generic' (node 'sum'): it reduces over the channel dimension}}
module {
  func.func @main(%x: tensor<4x8xf32> {compress.name = "x"})
      -> (tensor<4x2xf32> {compress.name = "y"}, tensor<4xf32> {compress.name = "s"}) {
    %w1 = arith.constant dense<0.5> : tensor<6x8xf32>
    %w2 = arith.constant dense<0.25> : tensor<2x6xf32>
    %zero = arith.constant 0.0 : f32
    %h = compress.linear %x, %w1 : tensor<4x8xf32>, tensor<6x8xf32> -> tensor<4x6xf32> loc("fc1")
    %e = tensor.empty() : tensor<4x6xf32>
    %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
        ins(%h : tensor<4x6xf32>) outs(%e : tensor<4x6xf32>) {
    ^bb0(%a: f32, %o: f32):
      %m = arith.maximumf %a, %zero : f32
      linalg.yield %m : f32
    } -> tensor<4x6xf32>
    %init = tensor.empty() : tensor<4xf32>
    %fill = linalg.fill ins(%zero : f32) outs(%init : tensor<4xf32>) -> tensor<4xf32>
    %s = linalg.generic {indexing_maps = [#id, #rows], iterator_types = ["parallel", "reduction"]}
        ins(%r : tensor<4x6xf32>) outs(%fill : tensor<4xf32>) {
    ^bb0(%a: f32, %o: f32):
      %t = arith.addf %a, %o : f32
      linalg.yield %t : f32
    } -> tensor<4xf32> loc("sum")
    %y = compress.linear %r, %w2 : tensor<4x6xf32>, tensor<2x6xf32> -> tensor<4x2xf32> loc("fc2")
    return %y, %s : tensor<4x2xf32>, tensor<4xf32>
  }
}

// -----

#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// Reshapes split the channels into groups and merge them again on the way.
// expected-error@+1 {{compress-prune: mlp structure of 'fc2': cannot propagate the pruned channels through 'tensor.collapse_shape' (node 'merge'): it is not an op structured pruning can rewrite}}
module {
  func.func @main(%x: tensor<4x8xf32> {compress.name = "x"}) -> (tensor<4x2xf32> {compress.name = "y"}) {
    %w1 = arith.constant dense<0.5> : tensor<6x8xf32>
    %w2 = arith.constant dense<0.25> : tensor<2x6xf32>
    %zero = arith.constant 0.0 : f32
    %h = compress.linear %x, %w1 : tensor<4x8xf32>, tensor<6x8xf32> -> tensor<4x6xf32> loc("fc1")
    %g = tensor.expand_shape %h [[0], [1, 2]] output_shape [4, 2, 3] : tensor<4x6xf32> into tensor<4x2x3xf32> loc("split")
    %e = tensor.empty() : tensor<4x2x3xf32>
    %r = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
        ins(%g : tensor<4x2x3xf32>) outs(%e : tensor<4x2x3xf32>) {
    ^bb0(%a: f32, %o: f32):
      %m = arith.maximumf %a, %zero : f32
      linalg.yield %m : f32
    } -> tensor<4x2x3xf32>
    %c = tensor.collapse_shape %r [[0], [1, 2]] : tensor<4x2x3xf32> into tensor<4x6xf32> loc("merge")
    %y = compress.linear %c, %w2 : tensor<4x6xf32>, tensor<2x6xf32> -> tensor<4x2xf32> loc("fc2")
    return %y : tensor<4x2xf32>
  }
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>
// A cast makes the channel dimension dynamic: its size is unknown before run time.
// expected-error@+1 {{compress-prune: mlp structure of 'fc2': cannot propagate the pruned channels through 'tensor.cast' (node 'dynamic'): the channel dimension 1 of its result tensor<4x?xf32> is dynamic (a shape computed at run time)}}
module {
  func.func @main(%x: tensor<4x8xf32> {compress.name = "x"}) -> (tensor<4x2xf32> {compress.name = "y"}) {
    %w1 = arith.constant dense<0.5> : tensor<6x8xf32>
    %w2 = arith.constant dense<0.25> : tensor<2x6xf32>
    %h = compress.linear %x, %w1 : tensor<4x8xf32>, tensor<6x8xf32> -> tensor<4x6xf32> loc("fc1")
    %d = tensor.cast %h : tensor<4x6xf32> to tensor<4x?xf32> loc("dynamic")
    %s = tensor.cast %d : tensor<4x?xf32> to tensor<4x6xf32> loc("static")
    %y = compress.linear %s, %w2 : tensor<4x6xf32>, tensor<2x6xf32> -> tensor<4x2xf32> loc("fc2")
    return %y : tensor<4x2xf32>
  }
}

//--- errors-conv.mlir
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// The consumer is a depthwise convolution: its input channels cannot go.
// expected-error@+1 {{compress-prune: conv structure of 'dw': the consumer is a grouped (depthwise) convolution; its input channels cannot be removed}}
module {
  func.func @main(%x: tensor<1x4x3x3xf32> {compress.name = "x"}) -> (tensor<1x4x3x3xf32> {compress.name = "y"}) {
    %w1 = arith.constant dense<0.5> : tensor<4x4x1x1xf32>
    %w2 = arith.constant dense<0.5> : tensor<4x1x1x1xf32>
    %zero = arith.constant 0.0 : f32
    %c = compress.conv2d %x, %w1 {strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>,
        dilations = array<i64: 1, 1>, groups = 1 : i64}
        : tensor<1x4x3x3xf32>, tensor<4x4x1x1xf32> -> tensor<1x4x3x3xf32> loc("conv1")
    %e = tensor.empty() : tensor<1x4x3x3xf32>
    %r = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
        ins(%c : tensor<1x4x3x3xf32>) outs(%e : tensor<1x4x3x3xf32>) {
    ^bb0(%a: f32, %o: f32):
      %m = arith.maximumf %a, %zero : f32
      linalg.yield %m : f32
    } -> tensor<1x4x3x3xf32>
    %y = compress.conv2d %r, %w2 {strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>,
        dilations = array<i64: 1, 1>, groups = 4 : i64}
        : tensor<1x4x3x3xf32>, tensor<4x1x1x1xf32> -> tensor<1x4x3x3xf32> loc("dw")
    return %y : tensor<1x4x3x3xf32>
  }
}

// -----

#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// A residual add joins the channels to the block's input.
// expected-error@+1 {{compress-prune: conv structure of 'conv1': cannot propagate the pruned channels through 'linalg.generic' (node 'residual'): a residual add joins them to channels of another source before 'conv2'}}
module {
  func.func @main(%x: tensor<1x4x3x3xf32> {compress.name = "x"}) -> (tensor<1x2x3x3xf32> {compress.name = "y"}) {
    %w1 = arith.constant dense<0.5> : tensor<4x4x1x1xf32>
    %w2 = arith.constant dense<0.5> : tensor<2x4x1x1xf32>
    %c = compress.conv2d %x, %w1 {strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>,
        dilations = array<i64: 1, 1>, groups = 1 : i64}
        : tensor<1x4x3x3xf32>, tensor<4x4x1x1xf32> -> tensor<1x4x3x3xf32> loc("conv1")
    %e = tensor.empty() : tensor<1x4x3x3xf32>
    %s = linalg.generic {indexing_maps = [#id4, #id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
        ins(%c, %x : tensor<1x4x3x3xf32>, tensor<1x4x3x3xf32>) outs(%e : tensor<1x4x3x3xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %t = arith.addf %a, %b : f32
      linalg.yield %t : f32
    } -> tensor<1x4x3x3xf32> loc("residual")
    %y = compress.conv2d %s, %w2 {strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>,
        dilations = array<i64: 1, 1>, groups = 1 : i64}
        : tensor<1x4x3x3xf32>, tensor<2x4x1x1xf32> -> tensor<1x2x3x3xf32> loc("conv2")
    return %y : tensor<1x2x3x3xf32>
  }
}

// -----

#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// The channels are flattened into a linear layer.
// expected-error@+1 {{compress-prune: conv structure of 'conv1': cannot propagate the pruned channels through 'tensor.collapse_shape' (node 'flatten'): it flattens them into the linear layer 'fc'}}
module {
  func.func @main(%x: tensor<1x4x3x3xf32> {compress.name = "x"}) -> (tensor<1x2xf32> {compress.name = "y"}) {
    %w1 = arith.constant dense<0.5> : tensor<4x4x1x1xf32>
    %w2 = arith.constant dense<0.5> : tensor<2x36xf32>
    %zero = arith.constant 0.0 : f32
    %c = compress.conv2d %x, %w1 {strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>,
        dilations = array<i64: 1, 1>, groups = 1 : i64}
        : tensor<1x4x3x3xf32>, tensor<4x4x1x1xf32> -> tensor<1x4x3x3xf32> loc("conv1")
    %e = tensor.empty() : tensor<1x4x3x3xf32>
    %r = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
        ins(%c : tensor<1x4x3x3xf32>) outs(%e : tensor<1x4x3x3xf32>) {
    ^bb0(%a: f32, %o: f32):
      %m = arith.maximumf %a, %zero : f32
      linalg.yield %m : f32
    } -> tensor<1x4x3x3xf32>
    %f = tensor.collapse_shape %r [[0], [1, 2, 3]] : tensor<1x4x3x3xf32> into tensor<1x36xf32> loc("flatten")
    %y = compress.linear %f, %w2 : tensor<1x36xf32>, tensor<2x36xf32> -> tensor<1x2xf32> loc("fc")
    return %y : tensor<1x2xf32>
  }
}
