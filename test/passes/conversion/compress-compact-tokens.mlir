// RUN: compress-opt %s --compress-compact-tokens | FileCheck %s

#row = affine_map<(b, t, d) -> (b, t, d)>
#qk_q = affine_map<(b, i, j, d) -> (b, i, d)>
#qk_k = affine_map<(b, i, j, d) -> (b, j, d)>
#qk_s = affine_map<(b, i, j, d) -> (b, i, j)>
#pv_p = affine_map<(b, i, d, j) -> (b, i, j)>
#pv_v = affine_map<(b, i, d, j) -> (b, j, d)>
#pv_o = affine_map<(b, i, d, j) -> (b, i, d)>

// A routed block: attention (queries from q, keys and values from k and v)
// and an MLP on the residual stream. The query, output and MLP layers run on
// the kept tokens; the key and value layers, which every query reads, run
// on all tokens. The MLP's activation runs on the kept rows between its two
// layers, with no scatter and gather between them.
// CHECK-LABEL: func.func @routed_block
// CHECK-SAME:    (%[[X:.*]]: tensor<1x4x8xf32>
// CHECK:         %[[KEEP:.*]] = compress.route_tokens %[[X]]
// CHECK:         %[[ROWS:.*]] = compress.gather_tokens %[[X]], %[[KEEP]] : tensor<1x4x8xf32>, tensor<1x4xi1> -> tensor<?x8xf32>
// CHECK:         %[[Q:.*]] = compress.linear %[[ROWS]], %{{.*}} : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
// CHECK:         compress.scatter_tokens %[[Q]], %[[KEEP]] : tensor<?x8xf32>, tensor<1x4xi1> -> tensor<1x4x8xf32>
// CHECK:         compress.linear %[[X]], %{{.*}} : tensor<1x4x8xf32>, tensor<8x8xf32> -> tensor<1x4x8xf32>
// CHECK:         compress.linear %[[X]], %{{.*}} : tensor<1x4x8xf32>, tensor<8x8xf32> -> tensor<1x4x8xf32>
// CHECK:         compress.gather_tokens
// CHECK:         compress.linear %{{.*}} : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
// CHECK:         compress.gather_tokens
// CHECK:         %[[UP:.*]] = compress.linear %{{.*}} : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
// CHECK-NOT:     compress.gather_tokens
// CHECK:         %[[ACT:.*]] = linalg.generic {{.*}} ins(%[[UP]] : tensor<?x16xf32>)
// CHECK:         compress.linear %[[ACT]], %{{.*}} : tensor<?x16xf32>, tensor<8x16xf32> -> tensor<?x8xf32>
// CHECK:         compress.select_tokens %[[KEEP]]
func.func @routed_block(%x: tensor<1x4x8xf32>, %r: tensor<8xf32>, %wq: tensor<8x8xf32>, %wk: tensor<8x8xf32>,
                        %wv: tensor<8x8xf32>, %wo: tensor<8x8xf32>, %w1: tensor<16x8xf32>,
                        %w2: tensor<8x16xf32>) -> tensor<1x4x8xf32> {
  %keep = compress.route_tokens %x, %r {threshold = 0.0 : f64} : tensor<1x4x8xf32>, tensor<8xf32> -> tensor<1x4xi1>
  %zero = arith.constant 0.0 : f32
  %q = compress.linear %x, %wq : tensor<1x4x8xf32>, tensor<8x8xf32> -> tensor<1x4x8xf32>
  %k = compress.linear %x, %wk : tensor<1x4x8xf32>, tensor<8x8xf32> -> tensor<1x4x8xf32>
  %v = compress.linear %x, %wv : tensor<1x4x8xf32>, tensor<8x8xf32> -> tensor<1x4x8xf32>
  %s_init = tensor.empty() : tensor<1x4x4xf32>
  %s_zero = linalg.fill ins(%zero : f32) outs(%s_init : tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_s], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<1x4x8xf32>, tensor<1x4x8xf32>) outs(%s_zero : tensor<1x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %sum = arith.addf %acc, %m : f32
    linalg.yield %sum : f32
  } -> tensor<1x4x4xf32>
  %p = linalg.generic {indexing_maps = [affine_map<(b, i, j) -> (b, i, j)>, affine_map<(b, i, j) -> (b, i, j)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s : tensor<1x4x4xf32>) outs(%s_init : tensor<1x4x4xf32>) {
  ^bb0(%a: f32, %out: f32):
    %e = math.exp %a : f32
    linalg.yield %e : f32
  } -> tensor<1x4x4xf32>
  %o_init = tensor.empty() : tensor<1x4x8xf32>
  %o_zero = linalg.fill ins(%zero : f32) outs(%o_init : tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<1x4x4xf32>, tensor<1x4x8xf32>) outs(%o_zero : tensor<1x4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %sum = arith.addf %acc, %m : f32
    linalg.yield %sum : f32
  } -> tensor<1x4x8xf32>
  %attn = compress.linear %o, %wo : tensor<1x4x8xf32>, tensor<8x8xf32> -> tensor<1x4x8xf32>
  %h = linalg.add ins(%x, %attn : tensor<1x4x8xf32>, tensor<1x4x8xf32>) outs(%o_init : tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  %up = compress.linear %h, %w1 : tensor<1x4x8xf32>, tensor<16x8xf32> -> tensor<1x4x16xf32>
  %a_init = tensor.empty() : tensor<1x4x16xf32>
  %act = linalg.generic {indexing_maps = [#row, #row], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%up : tensor<1x4x16xf32>) outs(%a_init : tensor<1x4x16xf32>) {
  ^bb0(%a: f32, %out: f32):
    %sq = arith.mulf %a, %a : f32
    linalg.yield %sq : f32
  } -> tensor<1x4x16xf32>
  %down = compress.linear %act, %w2 : tensor<1x4x16xf32>, tensor<8x16xf32> -> tensor<1x4x8xf32>
  %y = linalg.add ins(%h, %down : tensor<1x4x8xf32>, tensor<1x4x8xf32>) outs(%o_init : tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  %out = compress.select_tokens %keep, %y, %x : tensor<1x4xi1>, tensor<1x4x8xf32>, tensor<1x4x8xf32> -> tensor<1x4x8xf32>
  return %out : tensor<1x4x8xf32>
}



// Without a select nothing is dead: the layers stay whole.
// CHECK-LABEL: func.func @unrouted
// CHECK-NOT:     compress.gather_tokens
// CHECK:         compress.linear %{{.*}} : tensor<1x4x8xf32>, tensor<8x8xf32> -> tensor<1x4x8xf32>
func.func @unrouted(%x: tensor<1x4x8xf32>, %w: tensor<8x8xf32>) -> tensor<1x4x8xf32> {
  %y = compress.linear %x, %w : tensor<1x4x8xf32>, tensor<8x8xf32> -> tensor<1x4x8xf32>
  return %y : tensor<1x4x8xf32>
}

// A layer whose output is also returned keeps every row.
// CHECK-LABEL: func.func @also_returned
// CHECK-NOT:     compress.gather_tokens
// CHECK:         compress.select_tokens
func.func @also_returned(%x: tensor<1x4x8xf32>, %r: tensor<8xf32>, %w: tensor<8x8xf32>) -> (tensor<1x4x8xf32>, tensor<1x4x8xf32>) {
  %keep = compress.route_tokens %x, %r {threshold = 0.0 : f64} : tensor<1x4x8xf32>, tensor<8xf32> -> tensor<1x4xi1>
  %y = compress.linear %x, %w : tensor<1x4x8xf32>, tensor<8x8xf32> -> tensor<1x4x8xf32>
  %out = compress.select_tokens %keep, %y, %x : tensor<1x4xi1>, tensor<1x4x8xf32>, tensor<1x4x8xf32> -> tensor<1x4x8xf32>
  return %out, %y : tensor<1x4x8xf32>, tensor<1x4x8xf32>
}
