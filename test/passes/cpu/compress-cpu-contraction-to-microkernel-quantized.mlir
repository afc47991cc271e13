// RUN: compress-opt %s --convert-compress-to-linalg --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --compress-cpu-contraction-to-microkernel | FileCheck %s

// Tests that a quantized linear layer, once bufferized, calls the quantized
// microkernel with M, N, K, the row strides, 4 bits and groups of 4, and no
// zero points (symmetric).
// CHECK-LABEL: func.func @qlinear
// CHECK: call @compress_rt_quantized_linear_f32(%{{.*}}, %c2, %c8, %{{.*}}, %c8, %{{.*}}, %{{.*}}, %c0{{.*}}, %{{.*}}, %c2{{.*}}, %c4{{.*}}, %c4{{.*}})
// CHECK-NOT: linalg.generic
func.func @qlinear(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %q = arith.constant dense<[[1, 2, 3, 4], [5, 6, 7, 8]]> : tensor<2x4xi8>
  %s = arith.constant dense<[[0.5, 0.25], [1.0, 2.0]]> : tensor<2x2xf32>
  %0 = compress.quantized_linear %x, %q, %s {bits = 4 : i64, group_size = 4 : i64} : tensor<3x8xf32>, tensor<2x4xi8>, tensor<2x2xf32> -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}
