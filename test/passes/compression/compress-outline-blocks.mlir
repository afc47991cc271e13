// RUN: compress-opt %S/inputs/three_blocks.mlir --compress-outline-blocks | FileCheck %s
// RUN: compress-opt %S/inputs/three_blocks.mlir --compress-outline-blocks --compress-inline-blocks | FileCheck %s --check-prefix=INLINED
// RUN: compress-opt %S/inputs/three_blocks.mlir --compress-outline-blocks --compress-find-blocks 2>&1 | FileCheck %s --check-prefix=OUTLINED

// Each block becomes a function of its stream input, its weight and its
// past tensor, returning the stream and its present tensor; the functions
// appear in block order and @main calls them in turn.
// CHECK-LABEL: func.func private @block_0
// CHECK-SAME:    (%[[X:.*]]: tensor<2x4xf32>, %[[W:.*]]: tensor<4x4xf32>, %[[PAST:.*]]: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) attributes {compress.block = 0 : i64}
// CHECK:         %[[Y:.*]] = compress.linear %[[X]], %[[W]]
// CHECK:         %[[PRESENT:.*]] = arith.mulf %[[Y]], %[[PAST]]
// CHECK:         %[[H:.*]] = arith.addf %[[X]], %[[Y]]
// CHECK:         return %[[H]], %[[PRESENT]]
// CHECK-LABEL: func.func private @block_1
// CHECK-SAME:    attributes {compress.block = 1 : i64}
// CHECK-LABEL: func.func private @block_2
// CHECK-SAME:    attributes {compress.block = 2 : i64}
// CHECK-LABEL: func.func @main
// CHECK-SAME:    (%[[ARG:.*]]: tensor<2x4xf32> {compress.name = "x"}, %[[PAST0:.*]]: tensor<2x4xf32> {compress.name = "past.0"}, %[[PAST1:.*]]: tensor<2x4xf32> {compress.name = "past.1"}, %[[PAST2:.*]]: tensor<2x4xf32> {compress.name = "past.2"})
// CHECK-DAG:     %[[W0:.*]] = arith.constant dense<{{\[\[}}-7.3{{.*}}> : tensor<4x4xf32>
// CHECK-DAG:     %[[W1:.*]] = arith.constant dense<{{\[\[}}-5.4{{.*}}> : tensor<4x4xf32>
// CHECK-DAG:     %[[W2:.*]] = arith.constant dense<{{\[\[}}-5.6{{.*}}> : tensor<4x4xf32>
// CHECK:         %[[B0:.*]]:2 = call @block_0(%[[ARG]], %[[W0]], %[[PAST0]]) {compress.block = 0 : i64}
// CHECK:         %[[B1:.*]]:2 = call @block_1(%[[B0]]#0, %[[W1]], %[[PAST1]]) {compress.block = 1 : i64}
// CHECK:         %[[B2:.*]]:2 = call @block_2(%[[B1]]#0, %[[W2]], %[[PAST2]]) {compress.block = 2 : i64}
// CHECK:         %[[LOGITS:.*]] = compress.linear %[[B2]]#0
// CHECK:         return %[[LOGITS]], %[[B0]]#1, %[[B1]]#1, %[[B2]]#1

// Inlining restores the flat model, each op tagged with its block.
// INLINED-NOT:   func.func private
// INLINED-LABEL: func.func @main
// INLINED:         %[[Y0:.*]] = compress.linear %{{.*}}, %{{.*}} {compress.block = 0 : i64}
// INLINED:         arith.mulf %[[Y0]], %{{.*}} {compress.block = 0 : i64}
// INLINED:         %[[H1:.*]] = arith.addf %{{.*}}, %[[Y0]] {compress.block = 0 : i64}
// INLINED:         compress.linear %[[H1]], %{{.*}} {compress.block = 1 : i64}
// INLINED:         compress.linear %{{.*}}, %{{.*}} {compress.block = 2 : i64}
// INLINED-NOT:   call

// The block passes need the flat model and say so.
// OUTLINED: warning: compress-find-blocks: its blocks are outlined as functions (compress-outline-blocks); inline them first (compress-inline-blocks); left as it is

// RUN: compress-opt %s --compress-outline-blocks | FileCheck %s --check-prefix=STRUCTURAL

// Structure shared by the blocks (an empty tensor, a fill of a scalar
// constant, a splat) is copied into each function; only the stream and the
// weights are operands.
// STRUCTURAL-LABEL: func.func private @block_0
// STRUCTURAL-SAME:    (%{{.*}}: tensor<2x4xf32>, %{{.*}}: tensor<4x4xf32>) -> tensor<2x4xf32>
// STRUCTURAL:         tensor.empty() : tensor<2x4xf32>
// STRUCTURAL:         linalg.fill
// STRUCTURAL-LABEL: func.func private @block_1
// STRUCTURAL-SAME:    (%{{.*}}: tensor<2x4xf32>, %{{.*}}: tensor<4x4xf32>) -> tensor<2x4xf32>
// STRUCTURAL-LABEL: func.func @main
// STRUCTURAL:         call @block_0
// STRUCTURAL:         call @block_1
module {
  func.func @main(%x: tensor<2x4xf32> {compress.name = "x"}) -> (tensor<2x3xf32> {compress.name = "logits"}) {
    %w0 = arith.constant dense<[[-0.73, 0.69, 0.53, -0.49], [-0.01, -0.10, 0.30, 0.58], [-0.81, -0.94, 0.67, -0.13], [0.52, -1.00, -0.11, 0.44]]> : tensor<4x4xf32>
    %w1 = arith.constant dense<[[-0.54, 0.89, 0.80, -0.94], [-0.95, 0.08, 0.88, -0.24], [-0.57, -0.16, -0.94, -0.56], [-0.12, -0.01, -0.53, -0.54]]> : tensor<4x4xf32>
    %zero = arith.constant 0.0 : f32
    %half = arith.constant dense<0.5> : tensor<2x4xf32>
    %empty = tensor.empty() : tensor<2x4xf32>
    %zeros = linalg.fill ins(%zero : f32) outs(%empty : tensor<2x4xf32>) -> tensor<2x4xf32>
    %y0 = compress.linear %x, %w0 : tensor<2x4xf32>, tensor<4x4xf32> -> tensor<2x4xf32>
    %r0 = linalg.max ins(%y0, %zeros : tensor<2x4xf32>, tensor<2x4xf32>) outs(%empty : tensor<2x4xf32>) -> tensor<2x4xf32>
    %s0 = arith.mulf %r0, %half : tensor<2x4xf32>
    %h1 = arith.addf %x, %s0 : tensor<2x4xf32>
    %y1 = compress.linear %h1, %w1 : tensor<2x4xf32>, tensor<4x4xf32> -> tensor<2x4xf32>
    %r1 = linalg.max ins(%y1, %zeros : tensor<2x4xf32>, tensor<2x4xf32>) outs(%empty : tensor<2x4xf32>) -> tensor<2x4xf32>
    %s1 = arith.mulf %r1, %half : tensor<2x4xf32>
    %h2 = arith.addf %h1, %s1 : tensor<2x4xf32>
    %head_w = arith.constant dense<[[1.0, 0.0, 0.0, 0.5], [0.0, 1.0, 0.0, 0.5], [0.0, 0.0, 1.0, 0.5]]> : tensor<3x4xf32>
    %logits = compress.linear %h2, %head_w : tensor<2x4xf32>, tensor<3x4xf32> -> tensor<2x3xf32>
    return %logits : tensor<2x3xf32>
  }
}
