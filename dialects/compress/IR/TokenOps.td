// Token-skip routing ops of the `compress` dialect: a router's per-token
// decision, the merge of a routed block's output with its input, and the
// gather and scatter that run a layer on the kept tokens only.
#ifndef COMPRESS_TOKEN_OPS_TD
#define COMPRESS_TOKEN_OPS_TD

def Compress_RouteTokensOp : Compress_Op<"route_tokens", [Pure]> {
  let summary = "Per-token decision of a token-skip router: does the block run?";
  let description = [{
    For each token x (a row of `input` [.., T, D]) decides whether the block
    after the router runs on it:
    keep = w . x / rms(x) + scale_weight * ln(rms(x)) >= threshold, with
    rms(x) = sqrt(mean(x^2) + 1e-6) and w the `weight` [D]. The first term
    reads the token's direction, the second its scale on the residual
    stream (a block's update is relative to it). The decision of one token
    reads only that token, so routing stays causal and a decode step
    decides as a full prefill does. A threshold of -inf keeps every token.

    ```mlir
    %keep = compress.route_tokens %x, %w {threshold = 0.25 : f64, scale_weight = -1.5 : f64}
        : tensor<1x512x576xf32>, tensor<576xf32> -> tensor<1x512xi1>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$weight, F64Attr:$threshold,
                       DefaultValuedAttr<F64Attr, "0.0">:$scale_weight);
  let results = (outs AnyRankedTensor:$keep);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight) `->` type($keep)
  }];
  let hasVerifier = 1;
}

def Compress_SelectTokensOp : Compress_Op<"select_tokens", [Pure]> {
  let summary = "A routed block's output: its result on kept tokens, its input on the others";
  let description = [{
    result[.., t, :] = keep[.., t] ? routed[.., t, :] : skipped[.., t, :].
    `routed` is the block's output, `skipped` its input (a skipped token
    passes through on the residual stream unchanged). Rows of `routed` at
    skipped tokens are never read, which is what lets compress-compact-tokens
    leave them uncomputed.

    ```mlir
    %y = compress.select_tokens %keep, %block_out, %x
        : tensor<1x512xi1>, tensor<1x512x576xf32>, tensor<1x512x576xf32>
        -> tensor<1x512x576xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$keep, AnyRankedTensor:$routed,
                       AnyRankedTensor:$skipped);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $keep `,` $routed `,` $skipped attr-dict `:` type($keep) `,` type($routed) `,`
    type($skipped) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Compress_GatherTokensOp : Compress_Op<"gather_tokens", [Pure]> {
  let summary = "The rows of the kept tokens, in order";
  let description = [{
    Flattens `input` [.., D] to rows and returns those whose `keep` (of the
    input's shape without its last dimension) is true, as [count, D] in
    token order.

    ```mlir
    %rows = compress.gather_tokens %x, %keep
        : tensor<1x512x576xf32>, tensor<1x512xi1> -> tensor<?x576xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$keep);
  let results = (outs AnyRankedTensor:$rows);
  let assemblyFormat = [{
    $input `,` $keep attr-dict `:` type($input) `,` type($keep) `->` type($rows)
  }];
  let hasVerifier = 1;
}

def Compress_ScatterTokensOp : Compress_Op<"scatter_tokens", [Pure]> {
  let summary = "Rows of the kept tokens put back at their tokens, zeros elsewhere";
  let description = [{
    The inverse of compress.gather_tokens: row i of `rows` [count, N] goes
    to the i-th token whose `keep` is true; the rows of the other tokens are
    zero. The result has `keep`'s shape with N appended. `rows` must hold as
    many rows as `keep` has true entries.

    ```mlir
    %y = compress.scatter_tokens %rows, %keep
        : tensor<?x1536xf32>, tensor<1x512xi1> -> tensor<1x512x1536xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$rows, AnyRankedTensor:$keep);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $rows `,` $keep attr-dict `:` type($rows) `,` type($keep) `->` type($result)
  }];
  let hasVerifier = 1;
}

#endif // COMPRESS_TOKEN_OPS_TD
