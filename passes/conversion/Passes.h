// Conversion passes from the `compress` dialect to upstream dialects.
#ifndef COMPRESS_PASSES_CONVERSION_PASSES_H
#define COMPRESS_PASSES_CONVERSION_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Pass/Pass.h"

namespace compress {

#define GEN_PASS_DECL
#include "passes/conversion/Passes.h.inc"

/// Patterns that rewrite compress.linear / conv2d / embedding and the token
/// routing ops into linalg (`parallelTokenLists`: see
/// populateTokenOpsToLinalgPatterns).
void populateCompressToLinalgPatterns(mlir::RewritePatternSet &patterns,
                                      bool parallelTokenLists = false);

#define GEN_PASS_REGISTRATION
#include "passes/conversion/Passes.h.inc"

} // namespace compress

#endif
