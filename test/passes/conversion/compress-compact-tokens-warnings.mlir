// RUN: compress-opt %s --compress-compact-tokens -split-input-file -verify-diagnostics | FileCheck %s

// A layer on the routed tokens flattened to rows [T, D] while the mask is
// [1, T]: left on all rows (correct, not compacted), and said.
// CHECK-LABEL: func.func @collapsed_layer
// CHECK-NOT:     compress.gather_tokens
// CHECK:         compress.linear %{{.*}} : tensor<4x8xf32>, tensor<8x8xf32> -> tensor<4x8xf32>
func.func @collapsed_layer(%x: tensor<1x4x8xf32>, %r: tensor<8xf32>, %w: tensor<8x8xf32>) -> tensor<1x4x8xf32> {
  %keep = compress.route_tokens %x, %r {threshold = 0.0 : f64} : tensor<1x4x8xf32>, tensor<8xf32> -> tensor<1x4xi1>
  %rows = tensor.collapse_shape %x [[0, 1], [2]] : tensor<1x4x8xf32> into tensor<4x8xf32>
  // expected-warning @+1 {{compress-compact-tokens: left on all rows: the rows of its input 'tensor<4x8xf32>' are not the tokens of the routing mask 'tensor<1x4xi1>'}}
  %y = compress.linear %rows, %w : tensor<4x8xf32>, tensor<8x8xf32> -> tensor<4x8xf32>
  %e = tensor.expand_shape %y [[0, 1], [2]] output_shape [1, 4, 8] : tensor<4x8xf32> into tensor<1x4x8xf32>
  %out = compress.select_tokens %keep, %e, %x : tensor<1x4xi1>, tensor<1x4x8xf32>, tensor<1x4x8xf32> -> tensor<1x4x8xf32>
  return %out : tensor<1x4x8xf32>
}

// -----

// The mask is computed after the layer in program order (the pass does not
// reorder): left on all rows, and said.
// CHECK-LABEL: func.func @mask_after_layer
// CHECK-NOT:     compress.gather_tokens
func.func @mask_after_layer(%x: tensor<1x4x8xf32>, %r: tensor<8xf32>, %w: tensor<8x8xf32>) -> tensor<1x4x8xf32> {
  // expected-warning @+1 {{compress-compact-tokens: left on all rows: the routing mask is computed after it}}
  %y = compress.linear %x, %w : tensor<1x4x8xf32>, tensor<8x8xf32> -> tensor<1x4x8xf32>
  %keep = compress.route_tokens %x, %r {threshold = 0.0 : f64} : tensor<1x4x8xf32>, tensor<8xf32> -> tensor<1x4xi1>
  %out = compress.select_tokens %keep, %y, %x : tensor<1x4xi1>, tensor<1x4x8xf32>, tensor<1x4x8xf32> -> tensor<1x4x8xf32>
  return %out : tensor<1x4x8xf32>
}
