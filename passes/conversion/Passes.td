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
    Targets then tile, vectorize or call microkernels on the linalg form.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::affine::AffineDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect"];
}

#endif
