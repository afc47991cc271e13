// Token routing ops on six tokens, with thresholds that keep every token
// (-inf), some (0) and none (+inf): the kept rows go through a linear layer
// (gather, product, scatter) and a select merges a negation with the input,
// at the tokens of the router without (merged) and with a scale term (scaled).
func.func @main(%x: tensor<1x6x4xf32> {compress.name = "x"})
    -> (tensor<1x6x3xf32> {compress.name = "all"}, tensor<1x6x3xf32> {compress.name = "some"},
        tensor<1x6x3xf32> {compress.name = "none"}, tensor<1x6x4xf32> {compress.name = "merged"},
        tensor<1x6x4xf32> {compress.name = "scaled"}) {
  %r = arith.constant dense<[1.0, -1.0, 0.5, 0.0]> : tensor<4xf32>
  %w = arith.constant dense<[[1.0, 0.0, 0.0, 0.5], [0.0, 1.0, 0.0, 0.5], [0.0, 0.0, 1.0, 0.5]]> : tensor<3x4xf32>
  %all = compress.route_tokens %x, %r {threshold = 0xFFF0000000000000 : f64} : tensor<1x6x4xf32>, tensor<4xf32> -> tensor<1x6xi1>
  %some = compress.route_tokens %x, %r {threshold = 0.0 : f64} : tensor<1x6x4xf32>, tensor<4xf32> -> tensor<1x6xi1>
  %none = compress.route_tokens %x, %r {threshold = 0x7FF0000000000000 : f64} : tensor<1x6x4xf32>, tensor<4xf32> -> tensor<1x6xi1>
  %rows_all = compress.gather_tokens %x, %all : tensor<1x6x4xf32>, tensor<1x6xi1> -> tensor<?x4xf32>
  %p_all = compress.linear %rows_all, %w : tensor<?x4xf32>, tensor<3x4xf32> -> tensor<?x3xf32>
  %y_all = compress.scatter_tokens %p_all, %all : tensor<?x3xf32>, tensor<1x6xi1> -> tensor<1x6x3xf32>
  %rows_some = compress.gather_tokens %x, %some : tensor<1x6x4xf32>, tensor<1x6xi1> -> tensor<?x4xf32>
  %p_some = compress.linear %rows_some, %w : tensor<?x4xf32>, tensor<3x4xf32> -> tensor<?x3xf32>
  %y_some = compress.scatter_tokens %p_some, %some : tensor<?x3xf32>, tensor<1x6xi1> -> tensor<1x6x3xf32>
  %rows_none = compress.gather_tokens %x, %none : tensor<1x6x4xf32>, tensor<1x6xi1> -> tensor<?x4xf32>
  %p_none = compress.linear %rows_none, %w : tensor<?x4xf32>, tensor<3x4xf32> -> tensor<?x3xf32>
  %y_none = compress.scatter_tokens %p_none, %none : tensor<?x3xf32>, tensor<1x6xi1> -> tensor<1x6x3xf32>
  %neg = arith.negf %x : tensor<1x6x4xf32>
  %merged = compress.select_tokens %some, %neg, %x : tensor<1x6xi1>, tensor<1x6x4xf32>, tensor<1x6x4xf32> -> tensor<1x6x4xf32>
  %by_scale = compress.route_tokens %x, %r {threshold = -1.0 : f64, scale_weight = 4.0 : f64} : tensor<1x6x4xf32>, tensor<4xf32> -> tensor<1x6xi1>
  %scaled = compress.select_tokens %by_scale, %neg, %x : tensor<1x6xi1>, tensor<1x6x4xf32>, tensor<1x6x4xf32> -> tensor<1x6x4xf32>
  return %y_all, %y_some, %y_none, %merged, %scaled : tensor<1x6x3xf32>, tensor<1x6x3xf32>, tensor<1x6x3xf32>, tensor<1x6x4xf32>, tensor<1x6x4xf32>
}
