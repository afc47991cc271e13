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
