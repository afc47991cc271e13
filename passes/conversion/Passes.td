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
    in `scf.for`).
    Targets then tile, vectorize or call microkernels on the linalg form.
  }];
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

#endif
