// RUN: compress-opt %s -split-input-file --convert-compress-to-linalg | FileCheck %s

// Tests that a low-rank layer becomes two contractions: input * down^T into a
// zero [.., r] tensor, then that times up^T into the bias; the [N, K]
// product is never formed.
// CHECK-LABEL: func.func @low_rank_bias
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>, %[[D:.*]]: tensor<2x8xf32>, %[[U:.*]]: tensor<4x2xf32>, %[[B:.*]]: tensor<4xf32>)
// CHECK: %[[INNER:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<?x2xf32>)
// CHECK: %[[ACC:.*]] = linalg.broadcast ins(%[[B]] : tensor<4xf32>)
// CHECK: %[[T:.*]] = linalg.generic
// CHECK-SAME: ins(%[[X]], %[[D]] : tensor<?x8xf32>, tensor<2x8xf32>) outs(%[[INNER]] : tensor<?x2xf32>)
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[T]], %[[U]] : tensor<?x2xf32>, tensor<4x2xf32>) outs(%[[ACC]] : tensor<?x4xf32>)
// CHECK-NOT: compress.low_rank_linear
func.func @low_rank_bias(%x: tensor<?x8xf32>, %d: tensor<2x8xf32>, %u: tensor<4x2xf32>, %b: tensor<4xf32>) -> tensor<?x4xf32> {
  %0 = compress.low_rank_linear %x, %d, %u bias %b {in_features = 8 : i64, rank = 2 : i64} : tensor<?x8xf32>, tensor<2x8xf32>, tensor<4x2xf32> bias tensor<4xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// Tests that integer factors become two quantized products (each marked
// #compress.quantized_product for the CPU kernels, group sizes K and r when
// group_size = 0) and that the second accumulates into the addend.
// CHECK-LABEL: func.func @low_rank_int8_addend
// CHECK-SAME: (%[[X:.*]]: tensor<5x8xf32>, %[[D:.*]]: tensor<2x8xi8>, %[[U:.*]]: tensor<4x2xi8>, %[[DS:.*]]: tensor<2x1xf32>, %[[US:.*]]: tensor<4x1xf32>, %[[A:.*]]: tensor<5x4xf32>)
// CHECK: %[[T:.*]] = linalg.generic
// CHECK-SAME: ins(%[[X]], %[[D]], %[[DS]] :
// CHECK-SAME: compress.quantized_linear = #compress.quantized_product<bits = 8, group_size = 8, in_features = 8
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[T]], %[[U]], %[[US]] :
// CHECK-SAME: outs(%[[A]] : tensor<5x4xf32>)
// CHECK-SAME: compress.quantized_linear = #compress.quantized_product<bits = 8, group_size = 2, in_features = 2
func.func @low_rank_int8_addend(%x: tensor<5x8xf32>, %d: tensor<2x8xi8>, %u: tensor<4x2xi8>, %ds: tensor<2x1xf32>, %us: tensor<4x1xf32>, %a: tensor<5x4xf32>) -> tensor<5x4xf32> {
  %0 = compress.low_rank_linear %x, %d, %u scales %ds, %us addend %a {bits = 8 : i64, in_features = 8 : i64, rank = 2 : i64} : tensor<5x8xf32>, tensor<2x8xi8>, tensor<4x2xi8> scales tensor<2x1xf32>, tensor<4x1xf32> addend tensor<5x4xf32> -> tensor<5x4xf32>
  return %0 : tensor<5x4xf32>
}
