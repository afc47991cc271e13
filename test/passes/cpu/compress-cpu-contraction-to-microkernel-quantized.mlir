// RUN: compress-opt %s -split-input-file --convert-compress-to-linalg --compress-cpu-tile-quantized-weights --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --compress-cpu-contraction-to-microkernel | FileCheck %s

// Tests that a quantized linear layer, once bufferized, calls the row-major
// quantized microkernel (2 channels cannot be tiled) with M, N, K, the row
// strides, 4 bits, groups of 4, no zero points (symmetric) and float
// activations (int8 activations 0); the result overwrites its
// zero-filled buffer (accumulate 0), so the fill goes.
// CHECK-LABEL: func.func @qlinear
// CHECK-NOT: linalg.fill
// CHECK: call @compress_rt_quantized_linear_f32(%{{.*}}, %c2, %c8, %{{.*}}, %c8, %{{.*}}, %{{.*}}, %c0{{.*}}, %{{.*}}, %c2{{.*}}, %c4{{.*}}, %c4{{.*}}, %c0{{.*}}, %c0{{.*}})
// CHECK-NOT: linalg.generic
func.func @qlinear(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %q = arith.constant dense<[[1, 2, 3, 4], [5, 6, 7, 8]]> : tensor<2x4xi8>
  %s = arith.constant dense<[[0.5, 0.25], [1.0, 2.0]]> : tensor<2x2xf32>
  %0 = compress.quantized_linear %x, %q, %s {bits = 4 : i64, group_size = 4 : i64, in_features = 8 : i64} : tensor<3x8xf32>, tensor<2x4xi8>, tensor<2x2xf32> -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

// Tests that a tiled layer (16 channels, constant tables) calls the tiled
// microkernel, with zero points and int8 activations (the argument after
// the group size).
// CHECK-LABEL: func.func @tiled
// CHECK-NOT: linalg.fill
// CHECK: call @compress_rt_quantized_linear_tiled_f32(%{{.*}}, %c16{{.*}}, %c8{{.*}}, %{{.*}}, %c8{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c16{{.*}}, %c4{{.*}}, %c8{{.*}}, %c1{{.*}}, %c0{{.*}})
// CHECK-NOT: linalg.generic
func.func @tiled(%x: tensor<3x8xf32>) -> tensor<3x16xf32> {
  %q = arith.constant dense<7> : tensor<16x4xi8>
  %s = arith.constant dense<0.5> : tensor<16x1xf32>
  %z = arith.constant dense<8> : tensor<16x1xi8>
  %0 = compress.quantized_linear %x, %q, %s zero_points %z {bits = 4 : i64, group_size = 8 : i64, in_features = 8 : i64, int8_activations} : tensor<3x8xf32>, tensor<16x4xi8>, tensor<16x1xf32> zero_points tensor<16x1xi8> -> tensor<3x16xf32>
  return %0 : tensor<3x16xf32>
}

// -----

// Tests that a layer with a bias adds to the buffer the bias was broadcast
// into (accumulate 1).
// CHECK-LABEL: func.func @with_bias
// CHECK: linalg.broadcast
// CHECK: call @compress_rt_quantized_linear_tiled_f32(%{{.*}}, %c16{{.*}}, %c8{{.*}}, %{{.*}}, %c8{{.*}}, %{{.*}}, %{{.*}}, %c0{{.*}}, %{{.*}}, %c16{{.*}}, %c8{{.*}}, %c8{{.*}}, %c0{{.*}}, %c1{{.*}})
func.func @with_bias(%x: tensor<3x8xf32>, %b: tensor<16xf32>) -> tensor<3x16xf32> {
  %q = arith.constant dense<7> : tensor<16x8xi8>
  %s = arith.constant dense<0.5> : tensor<16x1xf32>
  %0 = compress.quantized_linear %x, %q, %s bias %b {bits = 8 : i64, group_size = 8 : i64, in_features = 8 : i64} : tensor<3x8xf32>, tensor<16x8xi8>, tensor<16x1xf32> bias tensor<16xf32> -> tensor<3x16xf32>
  return %0 : tensor<3x16xf32>
}
