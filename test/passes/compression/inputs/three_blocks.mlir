// Three blocks on a residual stream: block i reads the stream and past2,
// adds its layer's output to the stream and returns present2 (as a
// key/value cache's past and present tensors), then a head.
module {
  func.func @main(%x: tensor<2x4xf32> {compress.name = "x"},
                  %past0: tensor<2x4xf32> {compress.name = "past.0"},
                  %past1: tensor<2x4xf32> {compress.name = "past.1"},
                  %past2: tensor<2x4xf32> {compress.name = "past.2"})
      -> (tensor<2x3xf32> {compress.name = "logits"}, tensor<2x4xf32> {compress.name = "present.0"},
          tensor<2x4xf32> {compress.name = "present.1"}, tensor<2x4xf32> {compress.name = "present.2"}) {
    %w0 = arith.constant dense<[[-0.73, 0.69, 0.53, -0.49], [-0.01, -0.10, 0.30, 0.58], [-0.81, -0.94, 0.67, -0.13], [0.52, -1.00, -0.11, 0.44]]> : tensor<4x4xf32>
    %w1 = arith.constant dense<[[-0.54, 0.89, 0.80, -0.94], [-0.95, 0.08, 0.88, -0.24], [-0.57, -0.16, -0.94, -0.56], [-0.12, -0.01, -0.53, -0.54]]> : tensor<4x4xf32>
    %w2 = arith.constant dense<[[-0.56, -0.08, -0.42, -0.96], [0.68, 0.11, 0.28, -0.63], [0.99, 0.72, -0.76, -0.33], [0.44, 0.42, 0.87, -0.16]]> : tensor<4x4xf32>
    %y0 = compress.linear %x, %w0 : tensor<2x4xf32>, tensor<4x4xf32> -> tensor<2x4xf32> loc("layers.0.fc")
    %present0 = arith.mulf %y0, %past0 : tensor<2x4xf32>
    %h1 = arith.addf %x, %y0 : tensor<2x4xf32>
    %y1 = compress.linear %h1, %w1 : tensor<2x4xf32>, tensor<4x4xf32> -> tensor<2x4xf32> loc("layers.1.fc")
    %present1 = arith.mulf %y1, %past1 : tensor<2x4xf32>
    %h2 = arith.addf %h1, %y1 : tensor<2x4xf32>
    %y2 = compress.linear %h2, %w2 : tensor<2x4xf32>, tensor<4x4xf32> -> tensor<2x4xf32> loc("layers.2.fc")
    %present2 = arith.mulf %y2, %past2 : tensor<2x4xf32>
    %h3 = arith.addf %h2, %y2 : tensor<2x4xf32>
    %head_w = arith.constant dense<[[1.0, 0.0, 0.0, 0.5], [0.0, 1.0, 0.0, 0.5], [0.0, 0.0, 1.0, 0.5]]> : tensor<3x4xf32>
    %logits = compress.linear %h3, %head_w : tensor<2x4xf32>, tensor<3x4xf32> -> tensor<2x3xf32> loc("head")
    return %logits, %present0, %present1, %present2 : tensor<2x3xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  }
}
