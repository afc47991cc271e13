// RUN: compress-opt %s --split-input-file --compress-gpu-contraction-to-kernel=precision=f16 | FileCheck %s
// RUN: compress-opt %s --split-input-file --compress-gpu-contraction-to-kernel=precision=f8 -verify-diagnostics

// Tests that with precision=f16 a weight-only quantized layer and a float
// product call the entry points that may round their inputs to fp16 (the
// runtime picks the int4 tensor-core kernel where it takes the layer, and
// cuBLASLt's fp16 tensor cores for the float product); and that an unknown
// precision is an error naming it.
#x = affine_map<(d0, d1, d2) -> (d0, d2)>
#w = affine_map<(d0, d1, d2) -> (d1, d2 floordiv 2)>
#s = affine_map<(d0, d1, d2) -> (d1, d2 floordiv 128)>
#o = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @int4
// CHECK: call @compress_cuda_quantized_linear_f16(
// CHECK: call @compress_cuda_contract_f16(
// expected-error @below {{compress-gpu-contraction-to-kernel: precision must be f32 or f16, not 'f8'}}
module {
func.func @int4(%x: memref<1x128xf32>, %w: memref<16x64xi8>, %s: memref<16x1xf32>, %out: memref<1x16xf32>,
                %a: memref<2x3xf32>, %b: memref<3x4xf32>, %c: memref<2x4xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #s, #o], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w, %s : memref<1x128xf32>, memref<16x64xi8>, memref<16x1xf32>) outs(%out : memref<1x16xf32>)
      attrs = {compress.quantized_linear = #compress.quantized_product<bits = 4, group_size = 128, in_features = 128, int8_activations = false, tiled = false>} {
  ^bb0(%in: f32, %q: i8, %scale: f32, %acc: f32):
    %v = arith.sitofp %q : i8 to f32
    %d = arith.mulf %v, %scale : f32
    %p = arith.mulf %in, %d : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  linalg.matmul ins(%a, %b : memref<2x3xf32>, memref<3x4xf32>) outs(%c : memref<2x4xf32>)
  return
}
}
