// RUN: compress-opt %s -split-input-file --convert-compress-to-linalg --compress-cpu-tile-quantized-weights | FileCheck %s

// Tests that a 4-bit layer of 16 channels gets its constants in tiles:
// weight [16/16, 8/8, 16, 4] with channel c's features k and k+4 in byte
// k of its lane (row c holds codes 0..7 in order: bytes 0x40, 0x51, 0x62,
// 0x73), scales [1, groups, 16]; the loop reads them through the tile maps
// and selects the high nibble for features 4..7 of each lane. (Groups must
// be a multiple of a lane's 8 features.)
// CHECK-LABEL: func.func @int4
// CHECK-DAG: %[[W:.*]] = arith.constant dense_resource<{{.*}}> : tensor<1x1x16x4xi8>
// CHECK-DAG: %[[S:.*]] = arith.constant dense_resource<{{.*}}> : tensor<1x1x16xf32>
// CHECK: linalg.generic
// CHECK-SAME: ins(%{{.*}}, %[[W]], %[[S]] : tensor<3x8xf32>, tensor<1x1x16x4xi8>, tensor<1x1x16xf32>)
// CHECK-SAME: compress.quantized_linear = #compress.quantized_product<bits = 4, group_size = 8, in_features = 8, int8_activations = false, tiled = true>
// CHECK: arith.remui %{{.*}}, %c8
// CHECK: arith.cmpi uge, %{{.*}}, %c4
// CHECK: quantized_weight0_tiled: "0x40000000405162734051627340516273
func.func @int4(%x: tensor<3x8xf32>) -> tensor<3x16xf32> {
  %w = arith.constant dense<[[16, 50, 84, 118], [16, 50, 84, 118], [16, 50, 84, 118], [16, 50, 84, 118],
                             [16, 50, 84, 118], [16, 50, 84, 118], [16, 50, 84, 118], [16, 50, 84, 118],
                             [16, 50, 84, 118], [16, 50, 84, 118], [16, 50, 84, 118], [16, 50, 84, 118],
                             [16, 50, 84, 118], [16, 50, 84, 118], [16, 50, 84, 118], [16, 50, 84, 118]]> : tensor<16x4xi8>
  %s = arith.constant dense<0.5> : tensor<16x1xf32>
  %0 = compress.quantized_linear %x, %w, %s {bits = 4 : i64, group_size = 8 : i64, in_features = 8 : i64} : tensor<3x8xf32>, tensor<16x4xi8>, tensor<16x1xf32> -> tensor<3x16xf32>
  return %0 : tensor<3x16xf32>
}

// -----

// Tests that layers the kernels cannot tile keep the row-major layout: 2
// channels, a weight that is no constant, a partial last group (K = 12 in
// groups of 8).
// CHECK-LABEL: func.func @untiled
// CHECK: compress.quantized_linear = {{.*}}tiled = false
// CHECK: compress.quantized_linear = {{.*}}tiled = false
// CHECK: compress.quantized_linear = {{.*}}in_features = 12{{.*}}tiled = false
func.func @untiled(%x: tensor<3x8xf32>, %w16: tensor<16x8xi8>, %x12: tensor<3x12xf32>) -> (tensor<3x2xf32>, tensor<3x16xf32>, tensor<3x16xf32>) {
  %w = arith.constant dense<1> : tensor<2x8xi8>
  %s = arith.constant dense<0.5> : tensor<2x1xf32>
  %0 = compress.quantized_linear %x, %w, %s {bits = 8 : i64, group_size = 8 : i64, in_features = 8 : i64} : tensor<3x8xf32>, tensor<2x8xi8>, tensor<2x1xf32> -> tensor<3x2xf32>
  %s16 = arith.constant dense<0.5> : tensor<16x1xf32>
  %1 = compress.quantized_linear %x, %w16, %s16 {bits = 8 : i64, group_size = 8 : i64, in_features = 8 : i64} : tensor<3x8xf32>, tensor<16x8xi8>, tensor<16x1xf32> -> tensor<3x16xf32>
  %w12 = arith.constant dense<1> : tensor<16x12xi8>
  %s12 = arith.constant dense<0.5> : tensor<16x2xf32>
  %2 = compress.quantized_linear %x12, %w12, %s12 {bits = 8 : i64, group_size = 8 : i64, in_features = 12 : i64} : tensor<3x12xf32>, tensor<16x12xi8>, tensor<16x2xf32> -> tensor<3x16xf32>
  return %0, %1, %2 : tensor<3x2xf32>, tensor<3x16xf32>, tensor<3x16xf32>
}
