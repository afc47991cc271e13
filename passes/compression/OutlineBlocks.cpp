// compress-outline-blocks: each repeated block becomes a function whose
// operands are its residual-stream input, its weights and its side values.
#include "passes/compression/Passes.h"

#include "passes/compression/Blocks.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"

namespace compress {
#define GEN_PASS_DEF_OUTLINEBLOCKSPASS
#include "passes/compression/Passes.h.inc"
} // namespace compress

using namespace mlir;
using namespace compress;

namespace {

using OpSet = llvm::DenseSet<Operation *>;

/// The values `op` reads from `body`: its operands and those its regions
/// capture.
SmallVector<Value> readsFrom(Operation *op, mlir::Block *body) {
  SmallVector<Value> values(op->getOperands());
  op->walk([&](Operation *nested) {
    if (nested != op)
      for (Value v : nested->getOperands())
        if (v.getParentBlock() == body)
          values.push_back(v);
  });
  return values;
}

/// The op of `body` that defines `value`, or null for an argument.
Operation *definingOpIn(Value value, mlir::Block *body) {
  Operation *def = value.getDefiningOp();
  return def && def->getBlock() == body ? def : nullptr;
}

/// Makes `value` available before `point`: moves the side ops computing it
/// (pure, outside `outlined`) up to just before `point` when they come
/// after it.
LogicalResult hoistBefore(Value value, Operation *point, const OpSet &outlined) {
  Operation *def = definingOpIn(value, point->getBlock());
  if (!def || def->isBeforeInBlock(point))
    return success();
  if (def == point || outlined.contains(def) || !isMemoryEffectFree(def))
    return failure();
  for (Value operand : readsFrom(def, point->getBlock()))
    if (failed(hoistBefore(operand, point, outlined)))
      return failure();
  def->moveBefore(point);
  return success();
}

/// Whether `op` is a constant other than a weight (a float tensor of
/// distinct values): scalars, splats, shapes.
bool isStructuralConstant(Operation *op) {
  if (!op->hasTrait<OpTrait::ConstantLike>() || op->getNumResults() != 1)
    return false;
  auto type = dyn_cast<ShapedType>(op->getResult(0).getType());
  if (!type || !isa<FloatType>(type.getElementType()))
    return true;
  Attribute value;
  return matchPattern(op->getResult(0), m_Constant(&value)) && isa<SplatElementsAttr>(value);
}

/// Whether `op` only builds structure from structural ops: a structural
/// constant, an empty tensor, a fill with a structural value, or a pure op
/// with no float tensor result (shapes, scalars). Functions get their own
/// copy instead of an operand (cheap to recompute; weights and float tables
/// stay operands).
bool isStructural(Operation *op, llvm::DenseMap<Operation *, bool> &memo) {
  if (auto it = memo.find(op); it != memo.end())
    return it->second;
  bool structural = false;
  if (isStructuralConstant(op) || isa<tensor::EmptyOp>(op)) {
    structural = true;
  } else if (isa<linalg::FillOp>(op) ||
             (isMemoryEffectFree(op) && op->getNumRegions() == 0 &&
              llvm::none_of(op->getResultTypes(), [](Type type) {
                auto shaped = dyn_cast<ShapedType>(type);
                return shaped && isa<FloatType>(shaped.getElementType());
              }))) {
    structural = llvm::all_of(op->getOperands(), [&](Value operand) {
      Operation *def = operand.getDefiningOp();
      return def && def->getBlock() == op->getBlock() && isStructural(def, memo);
    });
  }
  return memo[op] = structural;
}

/// One block as the ops its function holds.
struct BlockOps {
  /// The block's ops, the side ops computed from its values that it reads
  /// (shapes, empty tensors to fill) and the constants it reads other than
  /// weights, in program order.
  SmallVector<Operation *> ops;
  OpSet members;
  /// Of those side ops, the ones nothing else reads: they move into the
  /// function; the others are copied.
  OpSet moved;
};

/// Collects `block`'s ops and the side ops it needs: those outside every
/// block, pure, and computed (transitively) from the block's own values, so
/// they cannot be operands of its function; and the structural ops it
/// reads, so that the function's operands are the stream, weights and side
/// values.
BlockOps collectBlockOps(const RepeatedBlock &block, mlir::Block *body) {
  OpSet inBlock(block.ops.begin(), block.ops.end());
  // Ops computed from the block's values, in one program-order sweep.
  OpSet dependent(inBlock);
  for (Operation &op : *body)
    if (!dependent.contains(&op) && isMemoryEffectFree(&op) && !op.hasAttr("compress.block"))
      for (Value v : readsFrom(&op, body))
        if (Operation *def = definingOpIn(v, body); def && dependent.contains(def)) {
          dependent.insert(&op);
          break;
        }
  BlockOps result;
  result.members = inBlock;
  llvm::DenseMap<Operation *, bool> structural;
  SmallVector<Operation *> work(block.ops.begin(), block.ops.end());
  while (!work.empty()) {
    Operation *op = work.pop_back_val();
    for (Value v : readsFrom(op, body))
      if (Operation *def = definingOpIn(v, body);
          def && (dependent.contains(def) || isStructural(def, structural)) &&
          result.members.insert(def).second)
        work.push_back(def);
  }
  for (Operation &op : *body)
    if (result.members.contains(&op))
      result.ops.push_back(&op);
  // Side ops all of whose readers are in the function move with it.
  for (Operation *op : llvm::reverse(result.ops))
    if (!inBlock.contains(op) && llvm::all_of(op->getUsers(), [&](Operation *user) {
          Operation *top = body->findAncestorOpInBlock(*user);
          return inBlock.contains(top) || result.moved.contains(top);
        }))
      result.moved.insert(op);
  return result;
}

struct OutlineBlocksPass : compress::impl::OutlineBlocksPassBase<OutlineBlocksPass> {
  using OutlineBlocksPassBase::OutlineBlocksPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    FailureOr<BlockStructure> structure = requireBlocks(module, "compress-outline-blocks");
    if (failed(structure))
      return signalPassFailure();
    auto main = module.lookupSymbol<func::FuncOp>("main");
    SymbolTable symbols(module);
    Operation *insertionPoint = main;
    // Last block first: each block's input is then still the value the
    // block before it computes, not yet a call's result.
    for (const RepeatedBlock &block : llvm::reverse(structure->blocks))
      if (failed(outline(main, symbols, block, insertionPoint)))
        return signalPassFailure();
  }

  /// Outlines `block` into a function placed before `insertionPoint` (then
  /// the new function, so that the functions appear in block order).
  LogicalResult outline(func::FuncOp main, SymbolTable &symbols, const RepeatedBlock &block,
                        Operation *&insertionPoint) {
    mlir::Block &mainBody = main.getBody().front();
    BlockOps blockOps = collectBlockOps(block, &mainBody);
    OpSet erased(block.ops.begin(), block.ops.end());
    erased.insert(blockOps.moved.begin(), blockOps.moved.end());

    // Operands: the stream input, then what the ops read from @main.
    llvm::SetVector<Value> inputs;
    inputs.insert(block.input);
    for (Operation *op : blockOps.ops)
      for (Value v : readsFrom(op, &mainBody))
        if (Operation *def = definingOpIn(v, &mainBody); !def || !blockOps.members.contains(def))
          inputs.insert(v);
    // Results: the stream output, then every value @main reads after the
    // function's ops are gone. The call goes before the first such read,
    // or after the block's last op when that comes first.
    llvm::SetVector<Value> outputs;
    outputs.insert(block.output);
    Operation *callPoint = block.ops.back();
    for (Operation *op : block.ops)
      for (Value result : op->getResults())
        for (Operation *user : result.getUsers()) {
          Operation *top = mainBody.findAncestorOpInBlock(*user);
          if (erased.contains(top))
            continue;
          outputs.insert(result);
          if (top->isBeforeInBlock(callPoint))
            callPoint = top;
        }
    bool callBeforePoint = !erased.contains(callPoint);
    if (callBeforePoint)
      for (Value input : inputs)
        if (failed(hoistBefore(input, callPoint, erased)))
          return input.getDefiningOp()->emitError("compress-outline-blocks: block ")
                 << block.index << " reads this '" << input.getDefiningOp()->getName()
                 << "' after the rest of the model reads the block's results, and it cannot "
                 << "move earlier, so no single call can replace the block";

    OpBuilder b(insertionPoint);
    auto type = b.getFunctionType(ValueRange(inputs.getArrayRef()).getTypes(),
                                  ValueRange(outputs.getArrayRef()).getTypes());
    auto callee = func::FuncOp::create(b, block.input.getLoc(),
                                       "block_" + std::to_string(block.index), type);
    callee.setPrivate();
    callee->setAttr("compress.block", b.getI64IntegerAttr(block.index));
    symbols.insert(callee, Block::iterator(insertionPoint));
    insertionPoint = callee;
    mlir::Block *body = callee.addEntryBlock();
    IRMapping mapping;
    mapping.map(inputs.getArrayRef(), body->getArguments());
    b.setInsertionPointToStart(body);
    for (Operation *op : blockOps.ops)
      b.clone(*op, mapping)->removeAttr("compress.block");
    SmallVector<Value> returned;
    for (Value v : outputs)
      returned.push_back(mapping.lookup(v));
    func::ReturnOp::create(b, block.ops.back()->getLoc(), returned);

    if (callBeforePoint)
      b.setInsertionPoint(callPoint);
    else
      b.setInsertionPointAfter(callPoint);
    auto call = func::CallOp::create(b, block.ops.back()->getLoc(), callee, inputs.getArrayRef());
    call->setAttr("compress.block", b.getI64IntegerAttr(block.index));
    for (auto [output, result] : llvm::zip(outputs, call.getResults()))
      Value(output).replaceUsesWithIf(result, [&](OpOperand &use) {
        return !erased.contains(mainBody.findAncestorOpInBlock(*use.getOwner()));
      });
    for (Operation *op : llvm::reverse(blockOps.ops))
      if (erased.contains(op))
        op->erase();
    return success();
  }
};

} // namespace
