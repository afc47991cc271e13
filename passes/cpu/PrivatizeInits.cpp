// Gives each linalg op its own fill or broadcast init, so that bufferization
// writes in place instead of copying a shared buffer.
#include "passes/cpu/Passes.h"

namespace compress {
#define GEN_PASS_DEF_PRIVATIZEINITSPASS
#include "passes/cpu/Passes.h.inc"
} // namespace compress

using namespace mlir;

namespace {

/// A producer cheap enough to repeat for each user: a fill or broadcast of
/// a fresh tensor.empty.
bool isCheapInit(Operation *op) {
  if (!isa_and_nonnull<linalg::FillOp, linalg::BroadcastOp>(op))
    return false;
  auto dps = cast<DestinationStyleOpInterface>(op);
  return dps.getNumDpsInits() == 1 &&
         dps.getDpsInitOperand(0)->get().getDefiningOp<tensor::EmptyOp>();
}

struct PrivatizeInitsPass : compress::impl::PrivatizeInitsPassBase<PrivatizeInitsPass> {
  void runOnOperation() override {
    OpBuilder b(&getContext());
    getOperation()->walk([&](linalg::LinalgOp op) {
      if (isCheapInit(op))
        return;
      for (OpOperand &init : op.getDpsInitsMutable()) {
        Operation *producer = init.get().getDefiningOp();
        if (!isCheapInit(producer) || producer->hasOneUse())
          continue;
        // A fresh empty tensor and producer just before this op.
        b.setInsertionPoint(op);
        auto dps = cast<DestinationStyleOpInterface>(producer);
        Operation *empty = b.clone(*dps.getDpsInitOperand(0)->get().getDefiningOp());
        IRMapping mapping;
        mapping.map(dps.getDpsInitOperand(0)->get(), empty->getResult(0));
        Operation *copy = b.clone(*producer, mapping);
        init.set(copy->getResult(0));
      }
    });
  }
};

} // namespace
