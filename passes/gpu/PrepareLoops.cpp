// Bufferized linalg shaped for one GPU thread per output element: copies as
// linalg ops (kernels), named ops generalized with their reductions
// innermost, no stack buffers.
#include "passes/conversion/QuantizedLinearLoop.h"
#include "passes/conversion/SparseLinearLoop.h"
#include "passes/gpu/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"

namespace compress {
#define GEN_PASS_DEF_GPUPREPARELOOPSPASS
#include "passes/gpu/Passes.h.inc"
} // namespace compress

using namespace mlir;

namespace {

/// The permutation that keeps the parallel dimensions in order and puts the
/// reduction dimensions after them; empty when they already are.
SmallVector<unsigned> reductionsInnermost(linalg::GenericOp op) {
  SmallVector<unsigned> parallel, reduction;
  for (auto [dim, type] : llvm::enumerate(op.getIteratorTypesArray()))
    (linalg::isParallelIterator(type) ? parallel : reduction).push_back(dim);
  SmallVector<unsigned> order(parallel);
  order.append(reduction);
  for (unsigned i = 0; i < order.size(); ++i)
    if (order[i] != i)
      return order;
  return {};
}

struct GpuPrepareLoopsPass : compress::impl::GpuPrepareLoopsPassBase<GpuPrepareLoopsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    IRRewriter rewriter(func.getContext());
    SmallVector<Operation *> ops;
    func.walk([&](Operation *op) {
      if (isa<memref::CopyOp, memref::AllocaOp, linalg::LinalgOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      rewriter.setInsertionPoint(op);
      if (auto copy = dyn_cast<memref::CopyOp>(op)) {
        rewriter.replaceOpWithNewOp<linalg::CopyOp>(copy, copy.getSource(), copy.getTarget());
        continue;
      }
      if (auto alloca = dyn_cast<memref::AllocaOp>(op)) {
        rewriter.replaceOpWithNewOp<memref::AllocOp>(alloca, alloca.getType(),
                                                     alloca.getDynamicSizes(),
                                                     alloca.getSymbolOperands(),
                                                     alloca.getAlignmentAttr());
        continue;
      }
      // The loop of such a layer computes with float activations: on the
      // GPU, nothing yet quantizes them to int8 per row as the model asks.
      compress::QuantizedProductAttr quantized = compress::getQuantizedProduct(op);
      compress::SparseProductAttr sparse = compress::getSparseProduct(op);
      if ((quantized && quantized.getInt8Activations()) ||
          (sparse && sparse.getInt8Activations())) {
        op->emitError() << "a " << (quantized ? "quantized" : "sparse")
                        << " linear layer with int8 activations (mode=w8a8 or w4a8) is not "
                           "supported by the CUDA target yet; quantize weight-only";
        return signalPassFailure();
      }
      auto linalgOp = cast<linalg::LinalgOp>(op);
      if (!linalgOp.hasPureBufferSemantics()) {
        op->emitError("compress-gpu-prepare-loops expects buffers: run it after bufferization");
        return signalPassFailure();
      }
      // A fill has no reduction to move, and stays a fill for the passes
      // that fold it into the op after it (compress-gpu-block-reductions).
      if (isa<linalg::FillOp>(op))
        continue;
      auto generic = dyn_cast<linalg::GenericOp>(op);
      if (!generic) {
        FailureOr<linalg::GenericOp> generalized = linalg::generalizeNamedOp(rewriter, linalgOp);
        if (failed(generalized))
          continue; // left to convert-linalg-to-parallel-loops as it is
        generic = *generalized;
      }
      SmallVector<unsigned> order = reductionsInnermost(generic);
      if (!order.empty() && failed(linalg::interchangeGenericOp(rewriter, generic, order))) {
        generic.emitError("cannot move the reduction dimensions of this op innermost");
        return signalPassFailure();
      }
    }
  }
};

} // namespace
