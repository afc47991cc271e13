// Conversion passes: from the `compress` dialect to upstream dialects.
#ifndef COMPRESS_PASSES_CONVERSION_PASSES_TD
#define COMPRESS_PASSES_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertCompressToLinalgPass : Pass<"convert-compress-to-linalg"> {
  let summary = "Lower dense compress ops (linear, conv2d, embedding) to linalg";
  let description = [{
    Rewrites `compress.linear` into a `linalg.generic` contraction whose
    accumulator starts at the bias, `compress.quantized_linear` into the same
    contraction with each weight dequantised inside the loop body, `compress.conv2d` into a padded
    `linalg.conv_2d_nchw_fchw` (or `linalg.conv_2d_ngchw_gfchw` when grouped),
    and `compress.embedding` into a `linalg.generic` that gathers table rows.
    The token-skip ops become a router's two reductions and compare, a
    select, and the gather and scatter of kept rows (a scan of the keep mask
    in `scf.for`, or with `parallel-token-lists` linalg reductions and a
    parallel select, which a GPU target runs as kernels).
    Targets then tile, vectorize or call microkernels on the linalg form.
  }];
  let options = [
    Option<"parallelTokenLists", "parallel-token-lists", "bool", /*default=*/"false",
           "List kept tokens with linalg reductions (quadratic in the tokens, "
           "all parallel) instead of a sequential scan">
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::affine::AffineDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect"];
}

def InlineBlocksPass : Pass<"compress-inline-blocks", "::mlir::ModuleOp"> {
  let summary = "Inline the block functions compress-outline-blocks made";
  let description = [{
    Replaces each call of a block function (a `func.func` with the
    `compress.block` attribute) by a copy of its body, whose ops carry the
    call's `compress.block` index, and erases the block functions no longer
    called. Every target's lowering starts with it, so an outlined model
    compiles as the flat one does; a model without block functions is left
    as it is.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def CompactTokensPass : Pass<"compress-compact-tokens", "::mlir::ModuleOp"> {
  let summary = "Run the layers of routed blocks on the kept tokens only";
  let description = [{
    `compress.select_tokens` (a routed block's output, from
    compress-token-skip) reads the block's result only at the tokens its
    router keeps. That deadness flows backward through the ops that keep a
    token's row to itself: linalg ops whose token dimension is a parallel
    loop every operand indexes plainly (elementwise ops, norms, softmax,
    transposes, the query side of attention products), reshapes and whole
    slices along it, and row-wise layers (dense, quantized, sparse and
    low-rank linear). It stops at anything else: the keys and values every
    query reads stay whole, so skipped tokens still serve as keys and
    values. Each layer whose output rows at skipped tokens are dead runs on
    `compress.gather_tokens` of its input, and `compress.scatter_tokens`
    puts its rows back (zeros at skipped tokens, which nothing reads). The
    CPU target runs it before lowering, so a block's cost scales with the
    tokens it keeps; routed outputs are the same as without it, bit for bit
    (a layer's row does not depend on the other rows it runs with).
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

#endif
