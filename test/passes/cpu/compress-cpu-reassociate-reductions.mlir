// RUN: compress-opt %s --compress-cpu-reassociate-reductions | FileCheck %s

// Tests that the arithmetic of a reduction may be reassociated, and that of
// an elementwise op is left strict.
// (Operands are matched without spaces, so that a fastmath flag cannot hide
// in them.)
// CHECK-LABEL: func.func @sum_and_scale
// CHECK: arith.addf %{{[^ ,]+}}, %{{[^ ,]+}} fastmath<reassoc,contract> : f32
// CHECK: arith.mulf %{{[^ ,]+}}, %{{[^ ,]+}} : f32
func.func @sum_and_scale(%x: tensor<4x8xf32>, %acc: tensor<4xf32>, %out: tensor<4x8xf32>) -> (tensor<4xf32>, tensor<4x8xf32>) {
  %0 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<4x8xf32>) outs(%acc : tensor<4xf32>) {
  ^bb0(%in: f32, %a: f32):
    %s = arith.addf %in, %a : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %1 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%out : tensor<4x8xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.mulf %in, %in : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32>
  return %0, %1 : tensor<4xf32>, tensor<4x8xf32>
}
