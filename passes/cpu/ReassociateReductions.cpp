// Lets floating-point reductions be reassociated, so that they vectorize.
#include "passes/cpu/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

namespace compress {
#define GEN_PASS_DEF_REASSOCIATEREDUCTIONSPASS
#include "passes/cpu/Passes.h.inc"
} // namespace compress

using namespace mlir;

namespace {

struct ReassociateReductionsPass
    : compress::impl::ReassociateReductionsPassBase<ReassociateReductionsPass> {
  void runOnOperation() override {
    auto relaxed = arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
    getOperation()->walk([&](linalg::LinalgOp op) {
      if (op.getNumReductionLoops() == 0)
        return;
      op->walk([&](arith::ArithFastMathInterface math) {
        auto flags = math.getFastMathFlagsAttr();
        if (!flags)
          return;
        math->setAttr(math.getFastMathAttrName(),
                      arith::FastMathFlagsAttr::get(op->getContext(), flags.getValue() | relaxed));
      });
    });
  }
};

} // namespace
