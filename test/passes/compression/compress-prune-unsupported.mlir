// RUN: compress-opt %s --compress-prune -verify-diagnostics | FileCheck %s

// Tests that a layer the pass cannot prune is named with the reason.
// CHECK-LABEL: func.func @unsupported
// CHECK: compress.embedding
// CHECK: compress.linear %{{.*}}, %arg1
func.func @unsupported(%ids: tensor<3xi64>, %w: tensor<2x8xf32>) -> (tensor<3x8xf32>, tensor<3x2xf32>) {
  %table = arith.constant dense<0.5> : tensor<10x8xf32>
  // expected-warning @+1 {{compress-prune: layer 'layer0' left as it is: compress-prune prunes linear layers, not embedding}}
  %e = compress.embedding %table[%ids] : tensor<10x8xf32>, tensor<3xi64> -> tensor<3x8xf32>
  // expected-warning @+1 {{compress-prune: layer 'layer1' left as it is: the weight is not a constant}}
  %y = compress.linear %e, %w : tensor<3x8xf32>, tensor<2x8xf32> -> tensor<3x2xf32>
  return %e, %y : tensor<3x8xf32>, tensor<3x2xf32>
}
