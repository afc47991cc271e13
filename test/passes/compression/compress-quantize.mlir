// RUN: compress-opt %s -split-input-file --compress-quantize | FileCheck %s --check-prefix=INT8
// RUN: compress-opt %s -split-input-file --compress-quantize="bits=4 group-size=4" | FileCheck %s --check-prefix=INT4
// RUN: compress-opt %s -split-input-file --compress-quantize="bits=8 symmetric=false" | FileCheck %s --check-prefix=ASYM
// RUN: compress-opt %s -split-input-file --compress-quantize="skip=^keep" | FileCheck %s --check-prefix=SKIP
// RUN: compress-opt %s -split-input-file --compress-quantize="mode=w8a8" | FileCheck %s --check-prefix=W8A8
// RUN: compress-opt %s -split-input-file --compress-quantize="mode=w4a8 bits=4 group-size=4" | FileCheck %s --check-prefix=W4A8
// RUN: compress-opt %s -split-input-file --compress-quantize="bits=4 group-size=3" | FileCheck %s --check-prefix=PARTIAL

// Tests the activation modes: w8a8 and w4a8 mark layers int8_activations;
// weight-only (the default, INT8 below) leaves activations in float.
// W8A8-LABEL: func.func @linear
// W8A8: compress.quantized_linear {{.*}} {bits = 8 : i64, group_size = 8 : i64, in_features = 8 : i64, int8_activations}
// W4A8-LABEL: func.func @linear
// W4A8: compress.quantized_linear {{.*}} {bits = 4 : i64, group_size = 4 : i64, in_features = 8 : i64, int8_activations}

// Tests that a group size that does not divide K leaves a partial last
// group: K = 8 in groups of 3 needs 3 scales per row.
// PARTIAL-LABEL: func.func @linear
// PARTIAL: compress.quantized_linear {{.*}} {bits = 4 : i64, group_size = 3 : i64, in_features = 8 : i64} : tensor<3x8xf32>, tensor<2x4xi8>, tensor<2x3xf32> -> tensor<3x2xf32>

// Tests that symmetric int8 per-channel RTN stores q = round(w / scale) with
// scale = max|w| / 127.5 per output row: row 0 has max 1.0 (scale 1/127.5),
// row 1 max 2.54 (scale 2.54/127.5).
// INT8-LABEL: func.func @linear
// INT8-DAG: %[[Q:.*]] = arith.constant dense<{{\[\[}}127, -127, 64, 0, 32, -32, 1, 0], [127, 50, -50, 0, 0, 0, 0, -127]]> : tensor<2x8xi8>
// INT8-DAG: %[[S:.*]] = arith.constant dense<{{\[\[}}0.00784313772], [0.0199215692]]> : tensor<2x1xf32>
// INT8-NOT: tensor<2x8xf32>
// INT8: compress.quantized_linear %arg0, %[[Q]], %[[S]] {bits = 8 : i64, group_size = 8 : i64, in_features = 8 : i64} :
// INT8-NOT: compress.linear

// Tests that int4 with groups of 4 packs two values per byte (the first in the
// low nibble) and keeps one scale per group, max|w| / 7.5. Row 0 quantizes
// to 7 -7 4 0 | 7 -7 0 0 and row 1 to 7 3 -3 0 | 0 0 0 -8 (numpy's rint of
// w / scale); bytes lo | hi << 4: 7 | 0x9 << 4 = 0x97 = -105, 4 | 0 << 4 = 4,
// 7 | 3 << 4 = 55, 0xD = 13, 0 | 0x8 << 4 = -128.
// INT4-LABEL: func.func @linear
// INT4-DAG: %[[Q:.*]] = arith.constant dense<{{\[\[}}-105, 4, -105, 0], [55, 13, 0, -128]]> : tensor<2x4xi8>
// INT4-DAG: %[[S:.*]] = arith.constant dense<{{\[\[}}0.13333334, 0.0333333351], [0.338666648, 0.338666648]]> : tensor<2x2xf32>
// INT4: compress.quantized_linear %arg0, %[[Q]], %[[S]] {bits = 4 : i64, group_size = 4 : i64, in_features = 8 : i64} : tensor<3x8xf32>, tensor<2x4xi8>, tensor<2x2xf32> -> tensor<3x2xf32>

// Tests that asymmetric quantization adds zero points.
// ASYM-LABEL: func.func @linear
// ASYM: compress.quantized_linear {{.*}} zero_points {{.*}} : tensor<3x8xf32>, tensor<2x8xi8>, tensor<2x1xf32> zero_points tensor<2x1xi8> -> tensor<3x2xf32>

// SKIP-LABEL: func.func @linear
// SKIP: compress.quantized_linear
func.func @linear(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, -1.0, 0.5, 0.0, 0.25, -0.25, 0.0078125, 0.0], [2.54, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0, -2.54]]> : tensor<2x8xf32>
  %0 = compress.linear %x, %w : tensor<3x8xf32>, tensor<2x8xf32> -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

// Tests that a layer whose name matches `skip` stays in float32.
// INT8-LABEL: func.func @named
// SKIP-LABEL: func.func @named
// SKIP: compress.linear
// SKIP-NOT: compress.quantized_linear
func.func @named(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<0.5> : tensor<2x8xf32>
  %0 = compress.linear %x, %w : tensor<3x8xf32>, tensor<2x8xf32> -> tensor<3x2xf32> loc("keep_me")
  return %0 : tensor<3x2xf32>
}

// -----

// Tests that layer-bits gives a matching layer other bits and group size,
// and that progress names each layer.
// RUN: compress-opt %s -split-input-file --compress-quantize="bits=8 layer-bits=^ffn.*:4:4 progress=true" 2>&1 | FileCheck %s --check-prefix=OVERRIDE
// (The progress lines go to stderr, unbuffered, so they come first.)
// OVERRIDE: compress-quantize: [1/2] attn: rtn 8-bit, group 8
// OVERRIDE: compress-quantize: [2/2] ffn_up: rtn 4-bit, group 4
// OVERRIDE-LABEL: func.func @two_layers
// SKIP-LABEL: func.func @two_layers
// OVERRIDE: compress.quantized_linear {{.*}} {bits = 8 : i64, group_size = 8 : i64, in_features = 8 : i64}
// OVERRIDE: compress.quantized_linear {{.*}} {bits = 4 : i64, group_size = 4 : i64, in_features = 8 : i64}
func.func @two_layers(%x: tensor<3x8xf32>) -> (tensor<3x2xf32>, tensor<3x2xf32>) {
  %w = arith.constant dense<[[1.0, -1.0, 0.5, 0.0, 0.25, -0.25, 0.0078125, 0.0], [2.54, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0, -2.54]]> : tensor<2x8xf32>
  %0 = compress.linear %x, %w : tensor<3x8xf32>, tensor<2x8xf32> -> tensor<3x2xf32> loc("attn")
  %1 = compress.linear %x, %w : tensor<3x8xf32>, tensor<2x8xf32> -> tensor<3x2xf32> loc("ffn_up")
  return %0, %1 : tensor<3x2xf32>, tensor<3x2xf32>
}

