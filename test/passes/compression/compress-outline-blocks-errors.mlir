// RUN: compress-opt %s --compress-outline-blocks -split-input-file -verify-diagnostics

// The last block's present tensor reads the result of a call (which may
// have side effects) made after the head reads the block's output: the call
// cannot move before the head, so no single call can stand for the block.
func.func private @side(tensor<2x4xf32>) -> tensor<2x4xf32>

func.func @main(%x: tensor<2x4xf32>, %past0: tensor<2x4xf32>, %past1: tensor<2x4xf32>, %past2: tensor<2x4xf32>) -> (tensor<2x3xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {
  %w0 = arith.constant dense<[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]> : tensor<4x4xf32>
  %w1 = arith.constant dense<[[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 2.0]]> : tensor<4x4xf32>
  %w2 = arith.constant dense<[[3.0, 0.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.0], [0.0, 0.0, 0.0, 3.0]]> : tensor<4x4xf32>
  %head_w = arith.constant dense<[[1.0, 0.0, 0.0, 0.5], [0.0, 1.0, 0.0, 0.5], [0.0, 0.0, 1.0, 0.5]]> : tensor<3x4xf32>
  %y0 = compress.linear %x, %w0 : tensor<2x4xf32>, tensor<4x4xf32> -> tensor<2x4xf32>
  %h1 = arith.addf %x, %y0 : tensor<2x4xf32>
  %present0 = arith.mulf %y0, %past0 : tensor<2x4xf32>
  %y1 = compress.linear %h1, %w1 : tensor<2x4xf32>, tensor<4x4xf32> -> tensor<2x4xf32>
  %h2 = arith.addf %h1, %y1 : tensor<2x4xf32>
  %present1 = arith.mulf %y1, %past1 : tensor<2x4xf32>
  %y2 = compress.linear %h2, %w2 : tensor<2x4xf32>, tensor<4x4xf32> -> tensor<2x4xf32>
  %h3 = arith.addf %h2, %y2 : tensor<2x4xf32>
  %logits = compress.linear %h3, %head_w : tensor<2x4xf32>, tensor<3x4xf32> -> tensor<2x3xf32>
  // expected-error @below {{compress-outline-blocks: block 2 reads this 'func.call' after the rest of the model reads the block's results, and it cannot move earlier, so no single call can replace the block}}
  %late = func.call @side(%past2) : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %present2 = arith.mulf %y2, %late : tensor<2x4xf32>
  return %logits, %present0, %present1, %present2 : tensor<2x3xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

// A model without repeated blocks.
// expected-error @+1 {{compress-outline-blocks: cannot find the model's blocks: the model has no repeated blocks}}
module {
  func.func @main(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
    %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 1.0, 2.0, 3.0]]> : tensor<3x4xf32>
    %y = compress.linear %x, %w : tensor<2x4xf32>, tensor<3x4xf32> -> tensor<2x3xf32>
    return %y : tensor<2x3xf32>
  }
}
