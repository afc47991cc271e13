// Elementwise fusion that keeps reductions (matrix products above all) clean.
#include "passes/cpu/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace compress {
#define GEN_PASS_DEF_FUSEELEMENTWISEPASS
#include "passes/cpu/Passes.h.inc"
} // namespace compress

using namespace mlir;

namespace {

/// Fuse a producer only into its one consumer, and only when the consumer's
/// loops are all parallel: a producer with several users would be recomputed
/// in each (across a transformer's residual stream, in every later layer).
bool fuseIntoParallelConsumers(OpOperand *fusedOperand) {
  Operation *producer = fusedOperand->get().getDefiningOp();
  auto consumer = dyn_cast<linalg::LinalgOp>(fusedOperand->getOwner());
  return producer && producer->hasOneUse() && consumer &&
         consumer.getNumLoops() == consumer.getNumParallelLoops();
}

struct FuseElementwisePass
    : compress::impl::FuseElementwisePassBase<FuseElementwisePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    linalg::populateElementwiseOpsFusionPatterns(patterns, fuseIntoParallelConsumers);
    linalg::populateEraseUnusedOperandsAndResultsPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
