// Rewrites 2-D convolutions into im2col gathers and matrix products, so that
// they run on the matrix microkernel.
#include "passes/cpu/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace compress {
#define GEN_PASS_DEF_CONVTOIM2COLPASS
#include "passes/cpu/Passes.h.inc"
} // namespace compress

using namespace mlir;

namespace {

struct ConvToIm2ColPass : compress::impl::ConvToIm2ColPassBase<ConvToIm2ColPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    linalg::populateConvertConv2DToImg2ColPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
