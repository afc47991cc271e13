// A copy of a buffer that only a fill has written is a fill of the
// destination: bufferization copies one filled buffer into each op sharing
// a filled tensor (a kernel per copy on the GPU), where a fill folds into
// the product or reduction that follows it.
#include "passes/gpu/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace compress {
#define GEN_PASS_DEF_GPUFORWARDFILLSPASS
#include "passes/gpu/Passes.h.inc"
} // namespace compress

using namespace mlir;

namespace {

/// Forwards the fill of `buffer` (an allocation) to the copies out of it
/// that come before any other use, and moves it down to that use, or drops
/// it when there is none.
void forwardFill(memref::AllocOp buffer) {
  linalg::FillOp fill;
  SmallVector<Operation *> others;
  for (Operation *user : buffer->getUsers()) {
    auto f = dyn_cast<linalg::FillOp>(user);
    if (f && f.getOutputs().front() == buffer.getResult() && f.hasPureBufferSemantics() && !fill)
      fill = f;
    else if (!isa<memref::DeallocOp, bufferization::DeallocOp>(user))
      others.push_back(user);
  }
  if (!fill)
    return;
  Block *block = fill->getBlock();
  for (Operation *user : others)
    if (user->getBlock() != block || user->isBeforeInBlock(fill))
      return;
  llvm::sort(others, [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
  // The copies out of the buffer before any other use see the fill alone.
  Value value = fill.getInputs().front();
  auto firstOther = others.begin();
  for (; firstOther != others.end(); ++firstOther) {
    auto copy = dyn_cast<memref::CopyOp>(*firstOther);
    if (!copy || copy.getSource() != buffer.getResult())
      break;
    OpBuilder b(copy);
    linalg::FillOp::create(b, copy.getLoc(), value, copy.getTarget());
    copy.erase();
  }
  if (firstOther == others.begin())
    return;
  // Nothing touched the buffer since the fill: it moves to its next use.
  if (firstOther != others.end()) {
    OpBuilder b(*firstOther);
    linalg::FillOp::create(b, fill.getLoc(), value, buffer.getResult());
  }
  fill.erase();
}

struct GpuForwardFillsPass : compress::impl::GpuForwardFillsPassBase<GpuForwardFillsPass> {
  void runOnOperation() override {
    SmallVector<memref::AllocOp> allocs;
    getOperation().walk([&](memref::AllocOp op) { allocs.push_back(op); });
    for (memref::AllocOp buffer : allocs)
      forwardFill(buffer);
  }
};

} // namespace
