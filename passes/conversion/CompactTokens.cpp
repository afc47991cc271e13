// compress-compact-tokens: layers of a routed block run on the kept tokens.
//
// compress.select_tokens never reads the routed value's rows at skipped
// tokens. That deadness flows backward through ops that keep a token's row
// to itself (elementwise and row-wise linalg ops, reductions over other
// dimensions, reshapes and transposes that keep the token dimension,
// row-wise layers); it stops at anything else (the key and value side of
// attention, which every query reads, stays whole). A layer whose output
// rows at skipped tokens are dead runs on the gathered kept rows, and a
// scatter puts its rows back (zeros at the skipped tokens, which nothing
// reads); elementwise ops between such layers (an MLP's activation) run on
// the rows too, and a gather of a scatter is its rows.
#include "passes/conversion/Passes.h"

#include "dialects/compress/IR/CompressOps.h"

#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/IR/IRMapping.h"

namespace compress {
#define GEN_PASS_DEF_COMPACTTOKENSPASS
#include "passes/conversion/Passes.h.inc"
} // namespace compress

using namespace mlir;
using namespace compress;

namespace {

/// A value's rows along `axis` at the tokens `mask` skips are never read.
struct DeadRows {
  Value mask;
  int64_t axis = -1;
  bool operator==(const DeadRows &other) const {
    return mask == other.mask && axis == other.axis;
  }
};

/// What one use needs of the value it reads: nothing (the use reads no
/// element), the rows but those `rows` marks dead, or everything.
struct UseNeed {
  enum Kind { None, Rows, All } kind = All;
  DeadRows rows;
  static UseNeed none() { return {None, {}}; }
  static UseNeed all() { return {All, {}}; }
  static UseNeed only(DeadRows rows) { return {Rows, rows}; }
};

/// The mask's token dimension: its only dimension of size other than 1.
std::optional<int64_t> tokenDim(Value mask) {
  auto type = cast<RankedTensorType>(mask.getType());
  std::optional<int64_t> dim;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.getDimSize(i) != 1) {
      if (dim)
        return std::nullopt;
      dim = i;
    }
  return dim;
}

/// The axis of `to` (static shape) holding what axis `axis` of `from`
/// holds across a reshape: the same extent after the same number of
/// elements.
std::optional<int64_t> reshapedAxis(RankedTensorType from, RankedTensorType to, int64_t axis) {
  if (!from.hasStaticShape() || !to.hasStaticShape())
    return std::nullopt;
  int64_t before = 1;
  for (int64_t i = 0; i < axis; ++i)
    before *= from.getDimSize(i);
  int64_t running = 1;
  for (int64_t j = 0; j < to.getRank(); ++j) {
    if (running == before && to.getDimSize(j) == from.getDimSize(axis))
      return j;
    running *= to.getDimSize(j);
  }
  return std::nullopt;
}

/// Whether the layer's output row depends only on its input's row (and its
/// weights): dense, quantized and sparse linear layers, and low-rank ones
/// without an addend.
bool isRowWiseLayer(Operation *op) {
  if (isa<LinearOp, QuantizedLinearOp, SparseLinearOp>(op))
    return true;
  auto lowRank = dyn_cast<LowRankLinearOp>(op);
  return lowRank && !lowRank.getAddend();
}

class Compactor {
public:
  /// What `use` needs of the value it reads, its user's results' deadness
  /// known.
  UseNeed need(OpOperand &use) {
    Operation *user = use.getOwner();
    if (auto select = dyn_cast<SelectTokensOp>(user)) {
      std::optional<int64_t> dim = tokenDim(select.getKeep());
      if (use.getOperandNumber() == 1 && dim)
        return UseNeed::only({select.getKeep(), *dim});
      return UseNeed::all();
    }
    if (isRowWiseLayer(user)) {
      auto dead = deadRows(user->getResult(0));
      int64_t rank = cast<RankedTensorType>(user->getResult(0).getType()).getRank();
      if (use.getOperandNumber() == 0 && dead && dead->axis + 1 < rank)
        return UseNeed::only(*dead);
      return UseNeed::all();
    }
    if (auto linalgOp = dyn_cast<linalg::LinalgOp>(user))
      return needOfLinalg(linalgOp, use);
    if (isa<tensor::ReshapeOp, tensor::ExpandShapeOp, tensor::CollapseShapeOp>(user)) {
      auto dead = deadRows(user->getResult(0));
      if (use.getOperandNumber() != 0 || !dead)
        return UseNeed::all();
      auto axis = reshapedAxis(cast<RankedTensorType>(user->getResult(0).getType()),
                               cast<RankedTensorType>(use.get().getType()), dead->axis);
      return axis ? UseNeed::only({dead->mask, *axis}) : UseNeed::all();
    }
    if (auto slice = dyn_cast<tensor::ExtractSliceOp>(user)) {
      auto dead = deadRows(slice.getResult());
      if (dead && keepsAxisWhole(slice.getSourceType(), slice.getResultType(), slice.getStaticOffsets(),
                                 slice.getStaticSizes(), slice.getStaticStrides(), dead->axis))
        return UseNeed::only(*dead);
      return UseNeed::all();
    }
    if (auto insert = dyn_cast<tensor::InsertSliceOp>(user)) {
      auto dead = deadRows(insert.getResult());
      if (!dead)
        return UseNeed::all();
      if (use.get() == insert.getDest())
        return UseNeed::only(*dead);
      if (keepsAxisWhole(insert.getDestType(), insert.getSourceType(), insert.getStaticOffsets(),
                         insert.getStaticSizes(), insert.getStaticStrides(), dead->axis))
        return UseNeed::only(*dead);
      return UseNeed::all();
    }
    return UseNeed::all();
  }

  /// The deadness of `value` from all its uses, computed once.
  std::optional<DeadRows> deadRows(Value value) {
    if (auto it = known.find(value); it != known.end())
      return it->second;
    std::optional<DeadRows> result;
    bool read = false, ok = true;
    for (OpOperand &use : value.getUses()) {
      if (use.getOwner()->getBlock() != value.getParentBlock()) {
        ok = false;
        break;
      }
      UseNeed n = need(use);
      if (n.kind == UseNeed::None)
        continue;
      if (n.kind == UseNeed::All || (read && !(n.rows == *result))) {
        ok = false;
        break;
      }
      result = n.rows;
      read = true;
    }
    if (!ok || !read)
      result = std::nullopt;
    known[value] = result;
    return result;
  }

private:
  /// A slice (rank-preserving) of `whole` as `part` covers axis `axis`
  /// from 0 to its end with stride 1.
  static bool keepsAxisWhole(RankedTensorType whole, RankedTensorType part, ArrayRef<int64_t> offsets,
                             ArrayRef<int64_t> sizes, ArrayRef<int64_t> strides, int64_t axis) {
    return whole.getRank() == part.getRank() && axis < whole.getRank() && offsets[axis] == 0 &&
           strides[axis] == 1 && !ShapedType::isDynamic(whole.getDimSize(axis)) &&
           sizes[axis] == whole.getDimSize(axis);
  }

  /// A linalg op keeps a token's row to itself when every result's token
  /// dimension is one parallel loop, the same for all, that each operand
  /// indexes at most once and only as a plain dimension.
  UseNeed needOfLinalg(linalg::LinalgOp op, OpOperand &use) {
    std::optional<Value> mask;
    std::optional<unsigned> loop;
    for (OpResult result : op->getResults()) {
      auto dead = deadRows(result);
      if (!dead)
        return UseNeed::all();
      AffineMap map = op.getIndexingMapMatchingResult(result);
      auto dim = dyn_cast<AffineDimExpr>(map.getResult(dead->axis));
      if (!dim || (mask && (*mask != dead->mask || *loop != dim.getPosition())))
        return UseNeed::all();
      mask = dead->mask;
      loop = dim.getPosition();
    }
    if (!loop || op.getIteratorTypesArray()[*loop] != utils::IteratorType::parallel)
      return UseNeed::all();
    if (op.isDpsInit(&use) && !op.payloadUsesValueFromOperand(&use))
      return UseNeed::none();
    AffineMap map = op.getMatchingIndexingMap(&use);
    std::optional<int64_t> axis;
    for (auto [i, expr] : llvm::enumerate(map.getResults())) {
      if (!expr.isFunctionOfDim(*loop))
        continue;
      if (axis || !isa<AffineDimExpr>(expr))
        return UseNeed::all();
      axis = i;
    }
    // An operand without the token dimension is read by every row.
    if (!axis)
      return UseNeed::all();
    return UseNeed::only({*mask, *axis});
  }

  llvm::DenseMap<Value, std::optional<DeadRows>> known;
};

/// Whether `op` is an elementwise generic that can run on rows [count, N]
/// instead of [mask.., N]: all loops parallel, the output indexed by all of
/// them in order and its init not read, no linalg.index, and every input
/// either indexed like the output or only along the features (the last
/// loop).
bool isRowElementwise(linalg::GenericOp op) {
  if (op->getNumResults() != 1 || op.getNumParallelLoops() != op.getNumLoops() ||
      !op.getIndexingMapMatchingResult(op->getResult(0)).isIdentity() ||
      op.payloadUsesValueFromOperand(op.getDpsInitOperand(0)) ||
      !op.getBody()->getOps<linalg::IndexOp>().empty())
    return false;
  unsigned last = op.getNumLoops() - 1;
  return llvm::all_of(op.getDpsInputOperands(), [&](OpOperand *input) {
    AffineMap map = op.getMatchingIndexingMap(input);
    return map.isIdentity() || llvm::all_of(map.getResults(), [&](AffineExpr e) {
             auto dim = dyn_cast<AffineDimExpr>(e);
             return dim ? dim.getPosition() == last : isa<AffineConstantExpr>(e);
           });
  });
}

/// Runs `op` (isRowElementwise, its skipped rows dead) on the rows of the
/// kept tokens when each input indexed like the output is a scatter of
/// `mask`: the scatters move after it, and a gather of the scatter's
/// result by the same mask is its rows. Returns whether it did.
bool sinkScatters(linalg::GenericOp op, Value mask) {
  SmallVector<Value> inputs;
  Value count;
  for (OpOperand *input : op.getDpsInputOperands()) {
    if (!op.getMatchingIndexingMap(input).isIdentity()) {
      inputs.push_back(input->get());
      continue;
    }
    auto scatter = input->get().getDefiningOp<ScatterTokensOp>();
    if (!scatter || scatter.getKeep() != mask)
      return false;
    inputs.push_back(scatter.getRows());
  }
  auto type = cast<RankedTensorType>(op->getResult(0).getType());
  MLIRContext *ctx = op->getContext();
  OpBuilder b(op);
  Location loc = op.getLoc();
  Value rowsSource;
  for (auto [input, operand] : llvm::zip(inputs, op.getDpsInputOperands()))
    if (op.getMatchingIndexingMap(operand).isIdentity())
      rowsSource = input;
  if (!rowsSource)
    return false;
  count = tensor::DimOp::create(b, loc, rowsSource, 0);
  unsigned last = op.getNumLoops() - 1;
  SmallVector<AffineMap> maps;
  for (OpOperand *operand : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(operand);
    if (map.isIdentity()) {
      maps.push_back(AffineMap::getMultiDimIdentityMap(2, ctx));
      continue;
    }
    SmallVector<AffineExpr> exprs;
    for (AffineExpr e : map.getResults())
      exprs.push_back(isa<AffineDimExpr>(e) && cast<AffineDimExpr>(e).getPosition() == last
                          ? getAffineDimExpr(1, ctx)
                          : e);
    maps.push_back(AffineMap::get(2, 0, exprs, ctx));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(2, ctx));
  auto rowsType = RankedTensorType::get({ShapedType::kDynamic, type.getShape().back()}, type.getElementType());
  Value init = tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{count, b.getIndexAttr(type.getShape().back())},
                                       type.getElementType());
  auto rows = linalg::GenericOp::create(
      b, loc, TypeRange{rowsType}, inputs, ValueRange{init}, maps,
      SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel));
  IRMapping mapping;
  op.getRegion().cloneInto(&rows.getRegion(), mapping);
  Value scattered = ScatterTokensOp::create(b, loc, type, rows.getResult(0), mask);
  op->getResult(0).replaceAllUsesWith(scattered);
  op->erase();
  return true;
}

/// gather(scatter(rows, mask), mask) is rows; gathers of one value by one
/// mask are one gather (a query, key and value, or gate and up, layer read
/// the same rows); scatters nothing reads go.
void cleanUp(Operation *root) {
  llvm::DenseMap<std::pair<Value, Value>, GatherTokensOp> gathers;
  root->walk([&](GatherTokensOp gather) {
    auto scatter = gather.getInput().getDefiningOp<ScatterTokensOp>();
    if (scatter && scatter.getKeep() == gather.getKeep() &&
        scatter.getRows().getType() == gather.getRows().getType()) {
      gather.getRows().replaceAllUsesWith(scatter.getRows());
      gather->erase();
      return;
    }
    auto [it, inserted] = gathers.try_emplace({gather.getInput(), gather.getKeep()}, gather);
    if (!inserted && it->second->getBlock() == gather->getBlock() &&
        it->second.getRows().getType() == gather.getRows().getType()) {
      gather.getRows().replaceAllUsesWith(it->second.getRows());
      gather->erase();
    }
  });
  root->walk([](ScatterTokensOp scatter) {
    if (scatter->use_empty())
      scatter->erase();
  });
}

struct CompactTokensPass : compress::impl::CompactTokensPassBase<CompactTokensPass> {
  void runOnOperation() override {
    SmallVector<std::pair<Operation *, Value>> layers;
    SmallVector<std::pair<linalg::GenericOp, Value>> elementwise;
    getOperation()->walk([&](func::FuncOp func) {
      Compactor compactor;
      for (mlir::Block &block : func.getBody())
        for (Operation &op : llvm::reverse(block)) {
          if (auto generic = dyn_cast<linalg::GenericOp>(op); generic && isRowElementwise(generic)) {
            auto dead = compactor.deadRows(generic->getResult(0));
            int64_t rank = cast<RankedTensorType>(generic->getResult(0).getType()).getRank();
            if (dead && dead->axis + 1 < rank)
              elementwise.emplace_back(generic, dead->mask);
            continue;
          }
          if (!isRowWiseLayer(&op))
            continue;
          auto dead = compactor.deadRows(op.getResult(0));
          if (!dead)
            continue;
          // The layer's input rows are the mask's tokens, the mask defined
          // before the layer. Otherwise the layer stays on all rows: correct,
          // only slower, but said.
          auto inputType = cast<RankedTensorType>(op.getOperand(0).getType());
          auto maskType = cast<RankedTensorType>(dead->mask.getType());
          if (inputType.getShape().drop_back() != maskType.getShape()) {
            op.emitWarning("compress-compact-tokens: left on all rows: the rows of its input ")
                << inputType << " are not the tokens of the routing mask " << maskType;
            continue;
          }
          Operation *maskDef = dead->mask.getDefiningOp();
          if (maskDef && (maskDef->getBlock() != &block || !maskDef->isBeforeInBlock(&op))) {
            op.emitWarning("compress-compact-tokens: left on all rows: the routing mask is "
                           "computed after it");
            continue;
          }
          layers.emplace_back(&op, dead->mask);
        }
    });
    for (auto [op, mask] : layers) {
      OpBuilder b(op);
      Location loc = op->getLoc();
      auto inputType = cast<RankedTensorType>(op->getOperand(0).getType());
      auto outputType = cast<RankedTensorType>(op->getResult(0).getType());
      auto rowsType = RankedTensorType::get({ShapedType::kDynamic, inputType.getShape().back()},
                                            inputType.getElementType());
      Value rows = GatherTokensOp::create(b, loc, rowsType, op->getOperand(0), mask);
      Operation *compact = b.clone(*op);
      compact->setOperand(0, rows);
      compact->getResult(0).setType(RankedTensorType::get(
          {ShapedType::kDynamic, outputType.getShape().back()}, outputType.getElementType()));
      Value scattered = ScatterTokensOp::create(b, loc, outputType, compact->getResult(0), mask);
      op->getResult(0).replaceAllUsesWith(scattered);
      op->erase();
    }
    // Elementwise ops between compacted layers (an MLP's activation) run on
    // the kept rows too, in program order so that scatters sink down chains.
    for (auto [op, mask] : llvm::reverse(elementwise))
      sinkScatters(op, mask);
    cleanUp(getOperation());
  }
};

} // namespace
