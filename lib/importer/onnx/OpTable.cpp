// The op table: every ONNX op the importer accepts, by name and opset range.
#include "lib/importer/onnx/NodeContext.h"

using namespace compress;

llvm::ArrayRef<OpTableEntry> compress::opTable() {
  static const llvm::SmallVector<OpTableEntry> table = [] {
    llvm::SmallVector<OpTableEntry> t;
    appendElementwiseOps(t);
    appendShapeOps(t);
    appendReductionOps(t);
    appendLinearOps(t);
    appendNNOps(t);
    appendResizeOps(t);
    appendSortOps(t);
    appendNormalizationOps(t);
    appendEinsumOps(t);
    appendRecurrentOps(t);
    appendLossOps(t);
    appendOneHotOps(t);
    appendShrinkBitShiftOps(t);
    appendQuantizeOps(t);
    appendControlFlowOps(t);
    return t;
  }();
  return table;
}
