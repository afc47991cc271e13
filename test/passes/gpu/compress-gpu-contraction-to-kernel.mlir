// RUN: compress-opt %s --split-input-file --compress-gpu-contraction-to-kernel | FileCheck %s

// Tests that a float32 matrix product on buffers becomes one call of the
// CUDA runtime's GEMM with compress_rt_contract_f32's arguments: batch sizes
// (1 when unused), m, n, k, then each operand's address and element strides
// (batch dimensions, then its two matrix dimensions).
// CHECK: func.func private @compress_cuda_contract_f32(index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index)
// CHECK-LABEL: func.func @matmul
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[M:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[N:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[K:.*]] = arith.constant 3 : index
// CHECK: call @compress_cuda_contract_f32(%[[ONE]], %[[ONE]], %[[ONE]], %[[M]], %[[N]], %[[K]],
// CHECK-NOT: linalg.matmul
func.func @matmul(%a: memref<2x3xf32>, %b: memref<3x4xf32>, %c: memref<2x4xf32>) {
  linalg.matmul ins(%a, %b : memref<2x3xf32>, memref<3x4xf32>) outs(%c : memref<2x4xf32>)
  return
}

// -----

// Tests that a batched product (attention's scores) is one call, and that
// products of other element types stay loops.
// CHECK-LABEL: func.func @batched
// CHECK: call @compress_cuda_contract_f32
// CHECK: linalg.batch_matmul {{.*}}f16
func.func @batched(%a: memref<8x5x16xf32>, %b: memref<8x16x5xf32>, %c: memref<8x5x5xf32>,
                   %a16: memref<8x5x16xf16>, %b16: memref<8x16x5xf16>, %c16: memref<8x5x5xf16>) {
  linalg.batch_matmul ins(%a, %b : memref<8x5x16xf32>, memref<8x16x5xf32>) outs(%c : memref<8x5x5xf32>)
  linalg.batch_matmul ins(%a16, %b16 : memref<8x5x16xf16>, memref<8x16x5xf16>) outs(%c16 : memref<8x5x5xf16>)
  return
}

// -----

// Tests that a weight-only quantized layer's marked loop becomes one call of
// the runtime's quantized kernel with the CPU microkernel's arguments (the
// zero fill before it goes: the kernel overwrites), and that a product
// reading a global (host memory on this target) stays a loop.
#x = affine_map<(d0, d1, d2) -> (d0, d2)>
#w = affine_map<(d0, d1, d2) -> (d1, d2)>
#s = affine_map<(d0, d1, d2) -> (d1, d2 floordiv 4)>
#o = affine_map<(d0, d1, d2) -> (d0, d1)>
memref.global "private" constant @small : memref<2x8xi8> = dense<1>
// CHECK: func.func private @compress_cuda_quantized_linear_f32(index, index, index, index, index, index, index, index, index, index, index, index, index, index)
// CHECK-LABEL: func.func @quantized
// CHECK-NOT: linalg.fill
// CHECK: call @compress_cuda_quantized_linear_f32(
// CHECK: linalg.generic
// CHECK-SAME: compress.quantized_linear
func.func @quantized(%x: memref<3x8xf32>, %w: memref<2x8xi8>, %s: memref<2x2xf32>, %out: memref<3x2xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%out : memref<3x2xf32>)
  linalg.generic {indexing_maps = [#x, #w, #s, #o], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w, %s : memref<3x8xf32>, memref<2x8xi8>, memref<2x2xf32>) outs(%out : memref<3x2xf32>)
      attrs = {compress.quantized_linear = #compress.quantized_product<bits = 8, group_size = 4, in_features = 8, int8_activations = false, tiled = false>} {
  ^bb0(%a: f32, %q: i8, %scale: f32, %acc: f32):
    %v = arith.sitofp %q : i8 to f32
    %d = arith.mulf %v, %scale : f32
    %p = arith.mulf %a, %d : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  %g = memref.get_global @small : memref<2x8xi8>
  linalg.generic {indexing_maps = [#x, #w, #s, #o], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %g, %s : memref<3x8xf32>, memref<2x8xi8>, memref<2x2xf32>) outs(%out : memref<3x2xf32>)
      attrs = {compress.quantized_linear = #compress.quantized_product<bits = 8, group_size = 4, in_features = 8, int8_activations = false, tiled = false>} {
  ^bb0(%a: f32, %q: i8, %scale: f32, %acc: f32):
    %v = arith.sitofp %q : i8 to f32
    %d = arith.mulf %v, %scale : f32
    %p = arith.mulf %a, %d : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// Tests that a float32 product by a small constant kept in the code (a
// global, host memory on this target) stays a loop.
memref.global "private" constant @small_b : memref<3x4xf32> = dense<1.0>
// CHECK-LABEL: func.func @global_operand
// CHECK-NOT: call
// CHECK: linalg.matmul
func.func @global_operand(%a: memref<2x3xf32>, %c: memref<2x4xf32>) {
  %b = memref.get_global @small_b : memref<3x4xf32>
  linalg.matmul ins(%a, %b : memref<2x3xf32>, memref<3x4xf32>) outs(%c : memref<2x4xf32>)
  return
}
