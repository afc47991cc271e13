// RUN: compress-opt %s -split-input-file --convert-compress-to-linalg --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --compress-cpu-contraction-to-microkernel | FileCheck %s

// Tests that a 2:4 layer, once bufferized, calls the N:M microkernel with M
// (rows), N, K, the input and its row stride, values, positions, no scales
// or zero points (0: float values), the output and its row stride, keep 2
// of block 4, bits 0, group 0, float activations and, into its zero-filled
// buffer, accumulate 0 (the fill goes).
// CHECK-LABEL: func.func @nm
// CHECK-NOT: linalg.fill
// CHECK: call @compress_rt_nm_sparse_linear_f32(%c3{{.*}}, %c2{{.*}}, %c8{{.*}}, %{{.*}}, %c8{{.*}}, %{{.*}}, %{{.*}}, %c0{{.*}}, %c0{{.*}}, %{{.*}}, %c2{{.*}}, %c2{{.*}}, %c4{{.*}}, %c0{{.*}}, %c0{{.*}}, %c0{{.*}}, %c0{{.*}})
// CHECK-NOT: linalg.generic
func.func @nm(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %v = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<2x4xf32>
  %i = arith.constant dense<[[-119], [-18]]> : tensor<2x1xi8>
  %0 = compress.sparse_linear %x, %v, %i {block = 4 : i64, in_features = 8 : i64, keep = 2 : i64} : tensor<3x8xf32>, tensor<2x4xf32>, tensor<2x1xi8> -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

// Tests that 4-bit codes with zero points and int8 activations pass their
// scales and zero points (the shape operand is not taken for them), bits 4,
// group 2 and int8 activations 1; the shape operand's allocation does not
// keep the fill (accumulate 0).
// CHECK-LABEL: func.func @nm_int4
// CHECK-NOT: linalg.fill
// CHECK: call @compress_rt_nm_sparse_linear_f32(%{{.*}}, %c2{{.*}}, %c8{{.*}}, %{{.*}}, %c8{{.*}}, %{{.*}}, %{{.*}}, %intptr{{.*}}, %intptr{{.*}}, %{{.*}}, %c2{{.*}}, %c2{{.*}}, %c4{{.*}}, %c4{{.*}}, %c2{{.*}}, %c1{{.*}}, %c0{{.*}})
// CHECK-NOT: linalg.generic
func.func @nm_int4(%x: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %v = arith.constant dense<[[17, 34], [51, 68]]> : tensor<2x2xi8>
  %i = arith.constant dense<[[-119], [-18]]> : tensor<2x1xi8>
  %s = arith.constant dense<[[0.5, 0.25], [1.0, 2.0]]> : tensor<2x2xf32>
  %z = arith.constant dense<8> : tensor<2x2xi8>
  %0 = compress.sparse_linear %x, %v, %i scales %s zero_points %z {bits = 4 : i64, block = 4 : i64, group_size = 2 : i64, in_features = 8 : i64, int8_activations, keep = 2 : i64} : tensor<?x8xf32>, tensor<2x2xi8>, tensor<2x1xi8> scales tensor<2x2xf32> zero_points tensor<2x2xi8> -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}

// -----

// Tests that an ELL layer with a bias calls the ELL microkernel with its
// 16-bit columns, counts and 3 slots per row, adding to the broadcast bias
// (accumulate 1).
// CHECK-LABEL: func.func @ell
// CHECK: linalg.broadcast
// CHECK: call @compress_rt_ell_sparse_linear_f32(%c5{{.*}}, %c2{{.*}}, %c8{{.*}}, %{{.*}}, %c8{{.*}}, %{{.*}}, %{{.*}}, %c16{{.*}}, %{{.*}}, %c3{{.*}}, %c0{{.*}}, %c0{{.*}}, %{{.*}}, %c2{{.*}}, %c0{{.*}}, %c0{{.*}}, %c0{{.*}}, %c1{{.*}})
// CHECK-NOT: linalg.generic
func.func @ell(%x: tensor<1x5x8xf32>) -> tensor<1x5x2xf32> {
  %v = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]]> : tensor<2x3xf32>
  %c = arith.constant dense<[[0, 3, 7], [5, 0, 0]]> : tensor<2x3xi16>
  %n = arith.constant dense<[3, 1]> : tensor<2xi32>
  %b = arith.constant dense<[0.5, -0.5]> : tensor<2xf32>
  %0 = compress.sparse_linear %x, %v, %c counts %n bias %b {in_features = 8 : i64} : tensor<1x5x8xf32>, tensor<2x3xf32>, tensor<2x3xi16> counts tensor<2xi32> bias tensor<2xf32> -> tensor<1x5x2xf32>
  return %0 : tensor<1x5x2xf32>
}
