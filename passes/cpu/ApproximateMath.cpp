// Polynomial approximations of transcendental functions, so that the loops
// that hold them vectorize.
#include "passes/cpu/Passes.h"

#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace compress {
#define GEN_PASS_DEF_APPROXIMATEMATHPASS
#include "passes/cpu/Passes.h.inc"
} // namespace compress

using namespace mlir;

namespace {

struct ApproximateMathPass : compress::impl::ApproximateMathPassBase<ApproximateMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns, [](StringRef name) {
      return llvm::is_contained({math::ExpOp::getOperationName(), math::ExpM1Op::getOperationName(),
                                 math::ErfOp::getOperationName(), math::TanhOp::getOperationName(),
                                 math::LogOp::getOperationName(), math::Log1pOp::getOperationName()},
                                name);
    });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
