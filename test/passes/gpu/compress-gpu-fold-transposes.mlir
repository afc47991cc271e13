// RUN: compress-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(compress-gpu-fold-transposes))' | FileCheck %s

// Tests that attention's K^T copy goes: the product reads the keys in
// place through its indexing map composed with the permutation.
// CHECK: #[[KEYS:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-LABEL: func.func @scores
// CHECK-SAME: (%[[Q:.*]]: memref<2x1x8xf32>, %[[K:.*]]: memref<2x5x8xf32>, %[[S:.*]]: memref<2x1x5xf32>)
// CHECK-NOT: linalg.transpose
// CHECK: linalg.generic {indexing_maps = [#{{[a-z0-9]+}}, #[[KEYS]], #{{[a-z0-9]+}}]
// CHECK-SAME: ins(%[[Q]], %[[K]] : memref<2x1x8xf32>, memref<2x5x8xf32>) outs(%[[S]] : memref<2x1x5xf32>)
func.func @scores(%q: memref<2x1x8xf32>, %k: memref<2x5x8xf32>, %s: memref<2x1x5xf32>) {
  %kt = memref.alloc() : memref<2x8x5xf32>
  linalg.transpose ins(%k : memref<2x5x8xf32>) outs(%kt : memref<2x8x5xf32>) permutation = [0, 2, 1]
  linalg.generic {indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (b, k, n)>,
                                   affine_map<(b, m, n, k) -> (b, m, n)>],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %kt : memref<2x1x8xf32>, memref<2x8x5xf32>) outs(%s : memref<2x1x5xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %sum = arith.addf %c, %p : f32
    linalg.yield %sum : f32
  }
  memref.dealloc %kt : memref<2x8x5xf32>
  return
}

// -----

// Tests what stays: a source written between the copy and its reader (the
// copy holds the old values), and a copy that is written to.
// CHECK-LABEL: func.func @kept
// CHECK: linalg.transpose
// CHECK: linalg.fill
// CHECK: linalg.generic
// CHECK: linalg.transpose
// CHECK: linalg.generic
func.func @kept(%x: memref<4x3xf32>, %out: memref<3x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %t = memref.alloc() : memref<3x4xf32>
  linalg.transpose ins(%x : memref<4x3xf32>) outs(%t : memref<3x4xf32>) permutation = [1, 0]
  linalg.fill ins(%zero : f32) outs(%x : memref<4x3xf32>)
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%t : memref<3x4xf32>) outs(%out : memref<3x4xf32>) {
  ^bb0(%a: f32, %b: f32):
    linalg.yield %a : f32
  }
  %u = memref.alloc() : memref<3x4xf32>
  linalg.transpose ins(%x : memref<4x3xf32>) outs(%u : memref<3x4xf32>) permutation = [1, 0]
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>],
                  iterator_types = ["parallel", "parallel"]}
      outs(%u : memref<3x4xf32>) {
  ^bb0(%b: f32):
    %d = arith.addf %b, %b : f32
    linalg.yield %d : f32
  }
  return
}
