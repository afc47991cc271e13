// A transposed copy read only by linalg.generic ops is read in place: each
// reader's indexing map for it is composed with the permutation, so that
// it reads the source (a matrix product then reads it strided, which the
// runtime's GEMM takes as a transposed operand). Attention's K^T is such a
// copy: the whole key cache, every decode step.
#include "passes/gpu/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace compress {
#define GEN_PASS_DEF_GPUFOLDTRANSPOSESPASS
#include "passes/gpu/Passes.h.inc"
} // namespace compress

using namespace mlir;

namespace {

/// The buffer `view` is a view of (itself when it is none).
Value rootOf(Value view) {
  while (auto viewLike = view.getDefiningOp<ViewLikeOpInterface>())
    view = viewLike.getViewSource();
  return view;
}

/// Whether `op` may write memory of `root` (unknown effects: yes).
bool mayWrite(Operation *op, Value root) {
  auto effects = dyn_cast<MemoryEffectOpInterface>(op);
  if (!effects)
    return !isMemoryEffectFree(op);
  SmallVector<MemoryEffects::EffectInstance> instances;
  effects.getEffects(instances);
  return llvm::any_of(instances, [&](const MemoryEffects::EffectInstance &effect) {
    if (!isa<MemoryEffects::Write, MemoryEffects::Free>(effect.getEffect()))
      return false;
    Value written = effect.getValue();
    return !written || rootOf(written) == root;
  });
}

void foldTranspose(linalg::TransposeOp transpose) {
  if (!transpose.hasPureBufferSemantics())
    return;
  Value copy = transpose.getInit();
  Value source = transpose.getInput();
  if (!copy.getDefiningOp<memref::AllocOp>())
    return;
  SmallVector<linalg::GenericOp> readers;
  for (Operation *user : copy.getUsers()) {
    if (user == transpose || isa<memref::DeallocOp, bufferization::DeallocOp>(user))
      continue;
    auto generic = dyn_cast<linalg::GenericOp>(user);
    if (!generic || generic->getBlock() != transpose->getBlock() ||
        generic->isBeforeInBlock(transpose) ||
        llvm::any_of(generic.getDpsInits(), [&](Value init) { return init == copy; }))
      return;
    readers.push_back(generic);
  }
  if (readers.empty())
    return;
  // The source must hold the copied values until the last reader.
  Operation *last = readers.front();
  for (linalg::GenericOp reader : readers)
    if (last->isBeforeInBlock(reader))
      last = reader;
  Value root = rootOf(source);
  for (Operation *op = transpose->getNextNode(); op != last; op = op->getNextNode())
    if (mayWrite(op, root))
      return;

  // copy[i] = source[permutation applied]: copy dimension d is source
  // dimension permutation[d], so source dimension permutation[d] reads the
  // reader's expression for copy dimension d.
  ArrayRef<int64_t> permutation = transpose.getPermutation();
  for (linalg::GenericOp reader : readers) {
    SmallVector<AffineMap> maps = reader.getIndexingMapsArray();
    for (OpOperand &operand : reader->getOpOperands()) {
      if (operand.get() != copy)
        continue;
      AffineMap map = maps[operand.getOperandNumber()];
      SmallVector<AffineExpr> results(map.getNumResults());
      for (auto [d, sourceDim] : llvm::enumerate(permutation))
        results[sourceDim] = map.getResult(d);
      maps[operand.getOperandNumber()] =
          AffineMap::get(map.getNumDims(), map.getNumSymbols(), results, map.getContext());
      operand.set(source);
    }
    reader.setIndexingMapsAttr(OpBuilder(reader).getAffineMapArrayAttr(maps));
  }
  transpose.erase();
}

struct GpuFoldTransposesPass : compress::impl::GpuFoldTransposesPassBase<GpuFoldTransposesPass> {
  void runOnOperation() override {
    SmallVector<linalg::TransposeOp> transposes;
    getOperation().walk([&](linalg::TransposeOp op) { transposes.push_back(op); });
    for (linalg::TransposeOp transpose : transposes)
      foldTranspose(transpose);
  }
};

} // namespace
