// RUN: compress-opt %s -split-input-file | compress-opt | FileCheck %s

// Tests that a linear layer with and without bias round-trips.
// CHECK-LABEL: func.func @linear
// CHECK: compress.linear %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x16x8xf32>, tensor<4x8xf32>, tensor<4xf32> -> tensor<?x16x4xf32>
// CHECK: compress.linear %{{.*}}, %{{.*}} : tensor<8xf32>, tensor<4x8xf32> -> tensor<4xf32>
func.func @linear(%x: tensor<?x16x8xf32>, %v: tensor<8xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>) -> (tensor<?x16x4xf32>, tensor<4xf32>) {
  %0 = compress.linear %x, %w, %b : tensor<?x16x8xf32>, tensor<4x8xf32>, tensor<4xf32> -> tensor<?x16x4xf32>
  %1 = compress.linear %v, %w : tensor<8xf32>, tensor<4x8xf32> -> tensor<4xf32>
  return %0, %1 : tensor<?x16x4xf32>, tensor<4xf32>
}

// -----

// Tests that a grouped, strided convolution round-trips with its attributes.
// CHECK-LABEL: func.func @conv
// CHECK: compress.conv2d %{{.*}}, %{{.*}} {dilations = array<i64: 1, 1>, groups = 2 : i64, padding = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>}
func.func @conv(%x: tensor<1x4x8x8xf32>, %w: tensor<6x2x3x3xf32>) -> tensor<1x6x4x4xf32> {
  %0 = compress.conv2d %x, %w {strides = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 2 : i64} : tensor<1x4x8x8xf32>, tensor<6x2x3x3xf32> -> tensor<1x6x4x4xf32>
  return %0 : tensor<1x6x4x4xf32>
}

// -----

// Tests that an embedding lookup round-trips.
// CHECK-LABEL: func.func @embedding
// CHECK: compress.embedding %{{.*}}[%{{.*}}] : tensor<100x8xf32>, tensor<?x?xi64> -> tensor<?x?x8xf32>
func.func @embedding(%table: tensor<100x8xf32>, %ids: tensor<?x?xi64>) -> tensor<?x?x8xf32> {
  %0 = compress.embedding %table[%ids] : tensor<100x8xf32>, tensor<?x?xi64> -> tensor<?x?x8xf32>
  return %0 : tensor<?x?x8xf32>
}

// -----

// Tests that a quantized linear layer round-trips, also when its input's
// last dimension is only known at run time (K then comes from the scales).
// CHECK-LABEL: func.func @quantized
// CHECK: compress.quantized_linear %{{.*}}, %{{.*}}, %{{.*}} zero_points %{{.*}} {bits = 4 : i64, group_size = 4 : i64, in_features = 8 : i64} : tensor<?x?xf32>, tensor<2x4xi8>, tensor<2x2xf32> zero_points tensor<2x2xi8> -> tensor<?x2xf32>
func.func @quantized(%x: tensor<?x?xf32>, %q: tensor<2x4xi8>, %s: tensor<2x2xf32>, %z: tensor<2x2xi8>) -> tensor<?x2xf32> {
  %0 = compress.quantized_linear %x, %q, %s zero_points %z {bits = 4 : i64, group_size = 4 : i64, in_features = 8 : i64} : tensor<?x?xf32>, tensor<2x4xi8>, tensor<2x2xf32> zero_points tensor<2x2xi8> -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}

// -----

// Tests that a bias without zero points round-trips (its type is not taken
// for the zero points').
// CHECK-LABEL: func.func @quantized_bias
// CHECK: compress.quantized_linear %{{.*}}, %{{.*}}, %{{.*}} bias %{{.*}} {bits = 8 : i64, group_size = 4 : i64, in_features = 4 : i64} : tensor<3x4xf32>, tensor<2x4xi8>, tensor<2x1xf32> bias tensor<2xf32> -> tensor<3x2xf32>
func.func @quantized_bias(%x: tensor<3x4xf32>, %q: tensor<2x4xi8>, %s: tensor<2x1xf32>, %b: tensor<2xf32>) -> tensor<3x2xf32> {
  %0 = compress.quantized_linear %x, %q, %s bias %b {bits = 8 : i64, group_size = 4 : i64, in_features = 4 : i64} : tensor<3x4xf32>, tensor<2x4xi8>, tensor<2x1xf32> bias tensor<2xf32> -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// A partial last group (K = 6 in groups of 4: 2 scales per row) and int8
// activations.
// CHECK-LABEL: func.func @quantized_partial_group
// CHECK: compress.quantized_linear %{{.*}}, %{{.*}}, %{{.*}} {bits = 4 : i64, group_size = 4 : i64, in_features = 6 : i64, int8_activations} : tensor<?x6xf32>, tensor<2x3xi8>, tensor<2x2xf32> -> tensor<?x2xf32>
func.func @quantized_partial_group(%x: tensor<?x6xf32>, %q: tensor<2x3xi8>, %s: tensor<2x2xf32>) -> tensor<?x2xf32> {
  %0 = compress.quantized_linear %x, %q, %s {bits = 4 : i64, group_size = 4 : i64, in_features = 6 : i64, int8_activations} : tensor<?x6xf32>, tensor<2x3xi8>, tensor<2x2xf32> -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}

// -----

// Tests that an N:M sparse linear layer round-trips: 2:4 of K = 8 stores 4
// entries per row, their 2-bit positions in one byte.
// CHECK-LABEL: func.func @sparse_2_4
// CHECK: compress.sparse_linear %{{.*}}, %{{.*}}, %{{.*}} bias %{{.*}} {block = 4 : i64, in_features = 8 : i64, keep = 2 : i64} : tensor<?x8xf32>, tensor<2x4xf32>, tensor<2x1xi8> bias tensor<2xf32> -> tensor<?x2xf32>
func.func @sparse_2_4(%x: tensor<?x8xf32>, %v: tensor<2x4xf32>, %i: tensor<2x1xi8>, %b: tensor<2xf32>) -> tensor<?x2xf32> {
  %0 = compress.sparse_linear %x, %v, %i bias %b {block = 4 : i64, in_features = 8 : i64, keep = 2 : i64} : tensor<?x8xf32>, tensor<2x4xf32>, tensor<2x1xi8> bias tensor<2xf32> -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}

// 4:8 with 4-bit codes, zero points and groups of 4 stored entries: 8
// entries per row, 4-bit positions (4 bytes), two codes per byte.
// CHECK-LABEL: func.func @sparse_4_8_int4
// CHECK: compress.sparse_linear %{{.*}}, %{{.*}}, %{{.*}} scales %{{.*}} zero_points %{{.*}} {bits = 4 : i64, block = 8 : i64, group_size = 4 : i64, in_features = 16 : i64, int8_activations, keep = 4 : i64}
func.func @sparse_4_8_int4(%x: tensor<3x16xf32>, %v: tensor<2x4xi8>, %i: tensor<2x4xi8>, %s: tensor<2x2xf32>, %z: tensor<2x2xi8>) -> tensor<3x2xf32> {
  %0 = compress.sparse_linear %x, %v, %i scales %s zero_points %z {bits = 4 : i64, block = 8 : i64, group_size = 4 : i64, in_features = 16 : i64, int8_activations, keep = 4 : i64} : tensor<3x16xf32>, tensor<2x4xi8>, tensor<2x4xi8> scales tensor<2x2xf32> zero_points tensor<2x2xi8> -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// An unstructured layer in ELL form: up to 3 entries per row, 16-bit columns.
// CHECK-LABEL: func.func @sparse_ell
// CHECK: compress.sparse_linear %{{.*}}, %{{.*}}, %{{.*}} counts %{{.*}} {in_features = 8 : i64} : tensor<1x5x8xf32>, tensor<2x3xf32>, tensor<2x3xi16> counts tensor<2xi32> -> tensor<1x5x2xf32>
func.func @sparse_ell(%x: tensor<1x5x8xf32>, %v: tensor<2x3xf32>, %c: tensor<2x3xi16>, %n: tensor<2xi32>) -> tensor<1x5x2xf32> {
  %0 = compress.sparse_linear %x, %v, %c counts %n {in_features = 8 : i64} : tensor<1x5x8xf32>, tensor<2x3xf32>, tensor<2x3xi16> counts tensor<2xi32> -> tensor<1x5x2xf32>
  return %0 : tensor<1x5x2xf32>
}

// -----

// A factorized layer: rank 2 float factors and a bias.
// CHECK-LABEL: func.func @low_rank
// CHECK: compress.low_rank_linear %{{.*}}, %{{.*}}, %{{.*}} bias %{{.*}} {in_features = 8 : i64, rank = 2 : i64} : tensor<?x8xf32>, tensor<2x8xf32>, tensor<4x2xf32> bias tensor<4xf32> -> tensor<?x4xf32>
func.func @low_rank(%x: tensor<?x8xf32>, %d: tensor<2x8xf32>, %u: tensor<4x2xf32>, %b: tensor<4xf32>) -> tensor<?x4xf32> {
  %0 = compress.low_rank_linear %x, %d, %u bias %b {in_features = 8 : i64, rank = 2 : i64} : tensor<?x8xf32>, tensor<2x8xf32>, tensor<4x2xf32> bias tensor<4xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// A compensation path (EoRA) with 4-bit factors: codes two per byte, a scale
// per group of 4 inputs of down (K = 8: 2 groups) and one per row of up
// (r = 3 < 4: 1 group), added to another layer's output.
// CHECK-LABEL: func.func @low_rank_int4_addend
// CHECK: compress.low_rank_linear %{{.*}}, %{{.*}}, %{{.*}} scales %{{.*}}, %{{.*}} addend %{{.*}} {bits = 4 : i64, group_size = 4 : i64, in_features = 8 : i64, rank = 3 : i64}
func.func @low_rank_int4_addend(%x: tensor<5x8xf32>, %d: tensor<3x4xi8>, %u: tensor<4x2xi8>, %ds: tensor<3x2xf32>, %us: tensor<4x1xf32>, %a: tensor<5x4xf32>) -> tensor<5x4xf32> {
  %0 = compress.low_rank_linear %x, %d, %u scales %ds, %us addend %a {bits = 4 : i64, group_size = 4 : i64, in_features = 8 : i64, rank = 3 : i64} : tensor<5x8xf32>, tensor<3x4xi8>, tensor<4x2xi8> scales tensor<3x2xf32>, tensor<4x1xf32> addend tensor<5x4xf32> -> tensor<5x4xf32>
  return %0 : tensor<5x4xf32>
}

// -----

// A count computed at run time checked against another.
// CHECK-LABEL: func.func @check_count
// CHECK: compress.check_count %{{.*}}, %{{.*}} {site = "node 'r' (Reshape)"}
func.func @check_count(%asked: index, %total: index) -> i1 {
  %0 = compress.check_count %asked, %total {site = "node 'r' (Reshape)"}
  return %0 : i1
}
