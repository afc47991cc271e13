// RUN: compress-opt %s -split-input-file --compress-cpu-contraction-to-microkernel | FileCheck %s

// Tests that a batched float32 product on buffers becomes one microkernel
// call taking addresses and per-dimension strides, and that the generic goes.
// CHECK: func.func private @compress_rt_contract_f32(index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index)
// CHECK-LABEL: func.func @batched
// CHECK-DAG: %[[A:.*]] = memref.extract_aligned_pointer_as_index %arg0
// CHECK-DAG: %[[B:.*]] = memref.extract_aligned_pointer_as_index %arg1
// CHECK-DAG: %[[C:.*]] = memref.extract_aligned_pointer_as_index %arg2
// Batch sizes (1, 1, 2), M N K, then address and strides (b0 b1 b2 and the
// two matrix dimensions) of A, B and C.
// CHECK: call @compress_rt_contract_f32(%c1, %c1, %c2, %c4, %c3, %c8, %[[A]], %c0, %c0, %c32, %c8, %c1, %[[B]], %c0, %c0, %c24, %c3, %c1, %[[C]], %c0, %c0, %c12, %c3, %c1)
// CHECK-NOT: linalg.generic
func.func @batched(%a: memref<2x4x8xf32>, %b: memref<2x8x3xf32>, %c: memref<2x4x3xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (b, k, n)>, affine_map<(b, m, n, k) -> (b, m, n)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%a, %b : memref<2x4x8xf32>, memref<2x8x3xf32>) outs(%c : memref<2x4x3xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Tests that products the microkernel cannot take stay: integer elements,
// and bodies that are not a multiply-add.
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: call @compress_rt_contract_f32
// CHECK: linalg.generic
// CHECK: linalg.generic
func.func @left_alone(%a: memref<4x8xi32>, %b: memref<8x3xi32>, %c: memref<4x3xi32>, %x: memref<4x8xf32>, %y: memref<8x3xf32>, %z: memref<4x3xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %b : memref<4x8xi32>, memref<8x3xi32>) outs(%c : memref<4x3xi32>) {
  ^bb0(%p: i32, %q: i32, %acc: i32):
    %m = arith.muli %p, %q : i32
    %s = arith.addi %acc, %m : i32
    linalg.yield %s : i32
  }
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %y : memref<4x8xf32>, memref<8x3xf32>) outs(%z : memref<4x3xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.maximumf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Tests that a product whose B is a view of the weights buffer calls the
// entry point that packs B once.
// CHECK: func.func private @compress_rt_contract_f32_constant_b(
// CHECK-LABEL: func.func @weight_product
// CHECK: call @compress_rt_contract_f32_constant_b(
func.func @weight_product(%weights: memref<?xi8> {compress.weights}, %a: memref<4x8xf32>, %c: memref<4x3xf32>) {
  %c0 = arith.constant 0 : index
  %w = memref.view %weights[%c0][] : memref<?xi8> to memref<3x8xf32>
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %w : memref<4x8xf32>, memref<3x8xf32>) outs(%c : memref<4x3xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Tests that a product whose A is constant (a filter after im2col) calls the
// packing entry point with the roles swapped: M and N exchange, the constant
// becomes B, and C is addressed transposed.
// CHECK-LABEL: func.func @constant_a
// CHECK: %[[W:.*]] = memref.get_global @filter
// CHECK-DAG: %[[PW:.*]] = memref.extract_aligned_pointer_as_index %[[W]]
// CHECK-DAG: %[[PB:.*]] = memref.extract_aligned_pointer_as_index %arg0
// CHECK: call @compress_rt_contract_f32_constant_b(%c1, %c1, %c1, %c5, %c4, %c8, %[[PB]], %c0, %c0, %c0, %c1, %c5, %[[PW]], %c0, %c0, %c0, %c1, %c8,
memref.global "private" constant @filter : memref<4x8xf32> = dense<1.0>
func.func @constant_a(%col: memref<8x5xf32>, %c: memref<4x5xf32>) {
  %w = memref.get_global @filter : memref<4x8xf32>
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%w, %col : memref<4x8xf32>, memref<8x5xf32>) outs(%c : memref<4x5xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
