// RUN: compress-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(compress-gpu-prepare-loops))' --verify-diagnostics | FileCheck %s

// Tests that a copy becomes a linalg op (a kernel, since the host never
// touches device buffers) and a stack buffer a heap one.
// CHECK-LABEL: func.func @copy_and_alloca
// CHECK: %[[BUF:.*]] = memref.alloc() : memref<4xf32>
// CHECK: linalg.copy ins(%{{.*}} : memref<4xf32>) outs(%[[BUF]] : memref<4xf32>)
// CHECK-NOT: memref.copy
// CHECK-NOT: memref.alloca
func.func @copy_and_alloca(%a: memref<4xf32>) -> memref<4xf32> {
  %b = memref.alloca() : memref<4xf32>
  memref.copy %a, %b : memref<4xf32> to memref<4xf32>
  return %b : memref<4xf32>
}

// -----

// Tests that a reduction over the first dimension (ReduceSum on axis 0)
// has its reduction moved innermost: one thread per output, summing in a
// sequential loop.
// CHECK-DAG: #[[IN:.*]] = affine_map<(d0, d1) -> (d1, d0)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @reduction_first
// CHECK: linalg.generic {indexing_maps = [#[[IN]], #[[OUT]]], iterator_types = ["parallel", "reduction"]}
func.func @reduction_first(%a: memref<8x4xf32>, %s: memref<4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>],
                  iterator_types = ["reduction", "parallel"]}
      ins(%a : memref<8x4xf32>) outs(%s : memref<4xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %sum = arith.addf %x, %acc : f32
    linalg.yield %sum : f32
  }
  return
}

// -----

// Tests that named ops are generalized (their reduction already last).
// CHECK-LABEL: func.func @matmul
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-NOT: linalg.matmul
func.func @matmul(%a: memref<2x3xf32>, %b: memref<3x4xf32>, %c: memref<2x4xf32>) {
  linalg.matmul ins(%a, %b : memref<2x3xf32>, memref<3x4xf32>) outs(%c : memref<2x4xf32>)
  return
}

// -----

func.func @tensors(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{compress-gpu-prepare-loops expects buffers: run it after bufferization}}
  %0 = linalg.copy ins(%a : tensor<4xf32>) outs(%b : tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// A w8a8 layer's loop computes with float activations: the CUDA target
// refuses it rather than run it silently in float.
#x = affine_map<(d0, d1, d2) -> (d0, d2)>
#w = affine_map<(d0, d1, d2) -> (d1, d2)>
#s = affine_map<(d0, d1, d2) -> (d1, d2 floordiv 8)>
#o = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @int8_activations(%x: memref<3x8xf32>, %w: memref<2x8xi8>, %s: memref<2x1xf32>, %out: memref<3x2xf32>) {
  // expected-error @+1 {{a quantized linear layer with int8 activations (mode=w8a8 or w4a8) is not supported by the CUDA target yet}}
  linalg.generic {indexing_maps = [#x, #w, #s, #o], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w, %s : memref<3x8xf32>, memref<2x8xi8>, memref<2x1xf32>) outs(%out : memref<3x2xf32>)
      attrs = {compress.quantized_linear = #compress.quantized_product<bits = 8, group_size = 8, in_features = 8, int8_activations = true, tiled = false>} {
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

// Tests that a fill stays a fill (it has no reduction to move; the passes
// after fold it into the op it initialises).
// CHECK-LABEL: func.func @fill_kept
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : memref<4xf32>)
// CHECK-NOT: linalg.generic
func.func @fill_kept(%out: memref<4xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%out : memref<4xf32>)
  return
}
