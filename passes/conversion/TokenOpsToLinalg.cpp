// Lowers the token-skip routing ops to linalg, tensor and scf on tensors.
//
// The router is two reductions over a token's features and a compare; the
// merge a select. Gather and scatter list the kept rows, then copy rows: a
// generic that loads through the list, and a loop of row inserts into zeros.
// The list comes from a branch-free scan (the scan writes each token's index
// at the current count and bumps the count if the token is kept, so the first
// `count` entries are the kept tokens in order), one pass on one thread: what
// a CPU wants. With parallel lists (a GPU) every step is a linalg op that
// becomes a kernel: running counts as a reduction per token, the list as a
// reduction per slot (both quadratic in the tokens: 512 tokens are 262,144
// compare-adds, microseconds on a GPU), and the scatter a select per element.
#include "passes/conversion/TokenOpsToLinalg.h"

#include "dialects/compress/IR/CompressOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace compress;

namespace {

/// The sizes of `value`'s first `rank` dimensions (tensor.dim where dynamic).
SmallVector<OpFoldResult> leadingSizes(OpBuilder &b, Location loc, Value value, int64_t rank) {
  SmallVector<OpFoldResult> sizes;
  for (int64_t i = 0; i < rank; ++i)
    sizes.push_back(tensor::getMixedSize(b, loc, value, i));
  return sizes;
}

/// (d0, .., d_{n-1}) -> (d0, .., d_{n-2}): a token's row without features.
AffineMap dropLast(MLIRContext *ctx, unsigned n) {
  return AffineMap::getMultiDimIdentityMap(n, ctx).getMajorSubMap(n - 1);
}

/// How [.., X] of `rank` dimensions folds into rows [R, X].
SmallVector<ReassociationIndices> rowsAndFeatures(int64_t rank) {
  ReassociationIndices rows, features{rank - 1};
  for (int64_t i = 0; i + 1 < rank; ++i)
    rows.push_back(i);
  return {rows, features};
}

/// `value` [.., X] as rows [R, X], or as is when already rank 2.
Value collapseToRows(OpBuilder &b, Location loc, Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getRank() == 2)
    return value;
  return tensor::CollapseShapeOp::create(b, loc, value, rowsAndFeatures(type.getRank()));
}

/// `keep` [..] as one dimension [R].
Value collapseMask(OpBuilder &b, Location loc, Value keep) {
  auto type = cast<RankedTensorType>(keep.getType());
  if (type.getRank() == 1)
    return keep;
  ReassociationIndices all;
  for (int64_t i = 0; i < type.getRank(); ++i)
    all.push_back(i);
  return tensor::CollapseShapeOp::create(b, loc, keep, ArrayRef<ReassociationIndices>{all});
}

/// The kept tokens of `mask` [R]: (count, indices [R] whose first count
/// entries are the kept positions in order).
std::pair<Value, Value> listKept(OpBuilder &b, Location loc, Value mask) {
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value rows = tensor::DimOp::create(b, loc, mask, 0);
  Value empty = tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{rows}, b.getIndexType());
  auto loop = scf::ForOp::create(
      b, loc, zero, rows, one, ValueRange{zero, empty},
      [&](OpBuilder &b, Location loc, Value t, ValueRange carried) {
        Value count = carried[0];
        Value list = tensor::InsertOp::create(b, loc, t, carried[1], ValueRange{count});
        Value kept = tensor::ExtractOp::create(b, loc, mask, ValueRange{t});
        Value step = arith::SelectOp::create(b, loc, kept, one, zero);
        Value next = arith::AddIOp::create(b, loc, count, step);
        scf::YieldOp::create(b, loc, ValueRange{next, list});
      });
  return {loop.getResult(0), loop.getResult(1)};
}

/// The kept tokens of `mask` [R] in linalg ops only. `running` [R] counts
/// the kept tokens up to and including each (a kept token t is row
/// running[t] - 1 of the compacted rows); `kept` [R] holds in its first
/// `count` = running[R - 1] entries the kept tokens in order (each entry the
/// one t with mask[t] and running[t] = j + 1; zero past count).
struct ParallelKept {
  Value count, kept, running;
};

ParallelKept listKeptInParallel(OpBuilder &b, Location loc, Value mask) {
  MLIRContext *ctx = b.getContext();
  Type i32 = b.getI32Type();
  Value rows = tensor::DimOp::create(b, loc, mask, 0);
  Value zero = arith::ConstantIntOp::create(b, loc, i32, 0);
  Value zeros = linalg::FillOp::create(
                    b, loc, zero, tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{rows}, i32).getResult())
                    .getResult(0);
  AffineMap first = AffineMap::get(2, 0, getAffineDimExpr(0, ctx));
  AffineMap second = AffineMap::get(2, 0, getAffineDimExpr(1, ctx));
  SmallVector<utils::IteratorType> iterators{utils::IteratorType::parallel,
                                             utils::IteratorType::reduction};
  // running[t] = sum over s <= t of mask[s].
  auto running = linalg::GenericOp::create(
      b, loc, TypeRange{zeros.getType()}, ValueRange{mask}, ValueRange{zeros},
      ArrayRef<AffineMap>{second, first}, iterators,
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value t = linalg::IndexOp::create(b, l, 0);
        Value s = linalg::IndexOp::create(b, l, 1);
        Value upTo = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ule, s, t);
        Value counted = arith::AndIOp::create(b, l, upTo, args[0]);
        Value step = arith::ExtUIOp::create(b, l, i32, counted);
        linalg::YieldOp::create(b, l, arith::AddIOp::create(b, l, args[1], step).getResult());
      });
  // kept[j] = sum over t of (mask[t] and running[t] == j + 1 ? t : 0).
  auto kept = linalg::GenericOp::create(
      b, loc, TypeRange{zeros.getType()}, ValueRange{mask, running.getResult(0)}, ValueRange{zeros},
      ArrayRef<AffineMap>{second, second, first}, iterators,
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value j = arith::IndexCastOp::create(b, l, i32, linalg::IndexOp::create(b, l, 0));
        Value t = arith::IndexCastOp::create(b, l, i32, linalg::IndexOp::create(b, l, 1));
        Value slot = arith::AddIOp::create(b, l, j, arith::ConstantIntOp::create(b, l, i32, 1));
        Value here = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, args[1], slot);
        Value hit = arith::AndIOp::create(b, l, here, args[0]);
        Value term = arith::SelectOp::create(b, l, hit, t, arith::ConstantIntOp::create(b, l, i32, 0));
        linalg::YieldOp::create(b, l, arith::AddIOp::create(b, l, args[2], term).getResult());
      });
  // count = sum of mask: a reduction of its own, defined for no tokens too.
  Value scalarZero =
      linalg::FillOp::create(b, loc, zero, tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{}, i32).getResult())
          .getResult(0);
  auto total = linalg::GenericOp::create(
      b, loc, TypeRange{scalarZero.getType()}, ValueRange{mask}, ValueRange{scalarZero},
      ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(1, ctx), AffineMap::get(1, 0, ctx)},
      SmallVector<utils::IteratorType>{utils::IteratorType::reduction},
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value step = arith::ExtUIOp::create(b, l, i32, args[0]);
        linalg::YieldOp::create(b, l, arith::AddIOp::create(b, l, args[1], step).getResult());
      });
  Value count = arith::IndexCastOp::create(
      b, loc, b.getIndexType(), tensor::ExtractOp::create(b, loc, total.getResult(0), ValueRange{}));
  return {count, kept.getResult(0), running.getResult(0)};
}

/// keep = w . x / rms + scale_weight * ln(rms) >= threshold per token, with
/// rms = sqrt(mean(x^2) + 1e-6).
struct LowerRouteTokens : OpRewritePattern<RouteTokensOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouteTokensOp op, PatternRewriter &b) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = b.getContext();
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    auto keepType = cast<RankedTensorType>(op.getKeep().getType());
    Type element = inputType.getElementType();
    unsigned rank = inputType.getRank();
    SmallVector<OpFoldResult> sizes = leadingSizes(b, loc, op.getInput(), rank - 1);
    Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(element));
    Value sums = linalg::FillOp::create(b, loc, zero,
                                        tensor::EmptyOp::create(b, loc, sizes, element).getResult())
                     .getResult(0);
    AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap feature = AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, ctx));
    AffineMap token = dropLast(ctx, rank);
    SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
    iterators.back() = utils::IteratorType::reduction;
    // Both sums in one sweep over the features: w . x and x . x.
    auto reduce = linalg::GenericOp::create(
        b, loc, TypeRange{sums.getType(), sums.getType()}, ValueRange{op.getInput(), op.getWeight()},
        ValueRange{sums, sums}, ArrayRef<AffineMap>{identity, feature, token, token}, iterators,
        [](OpBuilder &b, Location l, ValueRange args) {
          Value weighted = arith::MulFOp::create(b, l, args[0], args[1]);
          Value squared = arith::MulFOp::create(b, l, args[0], args[0]);
          linalg::YieldOp::create(b, l,
                                  ValueRange{arith::AddFOp::create(b, l, args[2], weighted),
                                             arith::AddFOp::create(b, l, args[3], squared)});
        });
    Value features = arith::IndexCastOp::create(
        b, loc, b.getI64Type(), tensor::DimOp::create(b, loc, op.getInput(), rank - 1));
    Value width = arith::SIToFPOp::create(b, loc, element, features);
    Value epsilon = arith::ConstantOp::create(b, loc, b.getFloatAttr(element, 1e-6));
    Value threshold =
        arith::ConstantOp::create(b, loc, b.getFloatAttr(element, op.getThreshold().convertToDouble()));
    double scaleWeight = op.getScaleWeight().convertToDouble();
    Value scaleWeightValue =
        scaleWeight != 0.0
            ? arith::ConstantOp::create(b, loc, b.getFloatAttr(element, scaleWeight)).getResult()
            : Value();
    AffineMap tokens = AffineMap::getMultiDimIdentityMap(rank - 1, ctx);
    Value keepInit = tensor::EmptyOp::create(b, loc, sizes, keepType.getElementType());
    auto decide = linalg::GenericOp::create(
        b, loc, TypeRange{keepType}, reduce.getResults(), ValueRange{keepInit},
        ArrayRef<AffineMap>{tokens, tokens, tokens},
        SmallVector<utils::IteratorType>(rank - 1, utils::IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value meanSquare = arith::DivFOp::create(b, l, args[1], width);
          Value rms = math::SqrtOp::create(b, l, arith::AddFOp::create(b, l, meanSquare, epsilon));
          Value score = arith::DivFOp::create(b, l, args[0], rms);
          if (scaleWeightValue) {
            Value logRms = math::LogOp::create(b, l, rms);
            score = arith::AddFOp::create(
                b, l, score, arith::MulFOp::create(b, l, scaleWeightValue, logRms));
          }
          Value keep = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGE, score, threshold);
          linalg::YieldOp::create(b, l, keep);
        });
    b.replaceOp(op, decide.getResult(0));
    return success();
  }
};

/// result = keep ? routed : skipped, row by row.
struct LowerSelectTokens : OpRewritePattern<SelectTokensOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SelectTokensOp op, PatternRewriter &b) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getResult().getType());
    unsigned rank = type.getRank();
    AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
    Value init = tensor::EmptyOp::create(b, loc, leadingSizes(b, loc, op.getRouted(), rank),
                                         type.getElementType());
    auto select = linalg::GenericOp::create(
        b, loc, TypeRange{type}, ValueRange{op.getKeep(), op.getRouted(), op.getSkipped()},
        ValueRange{init},
        ArrayRef<AffineMap>{dropLast(b.getContext(), rank), identity, identity, identity},
        SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
        [](OpBuilder &b, Location l, ValueRange args) {
          linalg::YieldOp::create(b, l, arith::SelectOp::create(b, l, args[0], args[1], args[2]).getResult());
        });
    b.replaceOp(op, select.getResult(0));
    return success();
  }
};

/// rows[j, d] = input[kept_j, d].
struct LowerGatherTokens : OpRewritePattern<GatherTokensOp> {
  LowerGatherTokens(MLIRContext *ctx, bool parallelLists)
      : OpRewritePattern(ctx), parallelLists(parallelLists) {}
  LogicalResult matchAndRewrite(GatherTokensOp op, PatternRewriter &b) const override {
    Location loc = op.getLoc();
    auto rowsType = cast<RankedTensorType>(op.getRows().getType());
    Value input = collapseToRows(b, loc, op.getInput());
    Value mask = collapseMask(b, loc, op.getKeep());
    Value count, kept;
    if (parallelLists) {
      ParallelKept listed = listKeptInParallel(b, loc, mask);
      count = listed.count;
      kept = listed.kept;
    } else {
      std::tie(count, kept) = listKept(b, loc, mask);
    }
    OpFoldResult width = tensor::getMixedSize(b, loc, input, 1);
    Value init = tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{count, width},
                                         rowsType.getElementType());
    auto dynamicRows = RankedTensorType::get({ShapedType::kDynamic, rowsType.getDimSize(1)},
                                             rowsType.getElementType());
    auto gather = linalg::GenericOp::create(
        b, loc, TypeRange{dynamicRows}, ValueRange{}, ValueRange{init},
        ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(2, b.getContext())},
        SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange) {
          Value j = linalg::IndexOp::create(b, l, 0);
          Value d = linalg::IndexOp::create(b, l, 1);
          Value row = tensor::ExtractOp::create(b, l, kept, ValueRange{j});
          if (!row.getType().isIndex())
            row = arith::IndexCastOp::create(b, l, b.getIndexType(), row);
          linalg::YieldOp::create(b, l,
                                  tensor::ExtractOp::create(b, l, input, ValueRange{row, d}).getResult());
        });
    Value rows = gather.getResult(0);
    if (rows.getType() != rowsType)
      rows = tensor::CastOp::create(b, loc, rowsType, rows);
    b.replaceOp(op, rows);
    return success();
  }

private:
  bool parallelLists;
};

/// result[kept_j, n] = rows[j, n]; zeros at the other tokens.
struct LowerScatterTokens : OpRewritePattern<ScatterTokensOp> {
  LowerScatterTokens(MLIRContext *ctx, bool parallelLists)
      : OpRewritePattern(ctx), parallelLists(parallelLists) {}
  LogicalResult matchAndRewrite(ScatterTokensOp op, PatternRewriter &b) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getResult().getType());
    Value mask = collapseMask(b, loc, op.getKeep());
    OpFoldResult tokens = tensor::getMixedSize(b, loc, mask, 0);
    OpFoldResult width = tensor::getMixedSize(b, loc, op.getRows(), 1);
    Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(type.getElementType()));
    Value empty = tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{tokens, width},
                                          type.getElementType());
    Value result = parallelLists ? selectRows(b, loc, op, mask, empty, zero)
                                 : insertRows(b, loc, op, mask, empty, zero, width);
    if (type.getRank() != 2) {
      SmallVector<OpFoldResult> shape =
          leadingSizes(b, loc, op.getKeep(), type.getRank() - 1);
      shape.push_back(width);
      result = tensor::ExpandShapeOp::create(b, loc, type, result, rowsAndFeatures(type.getRank()),
                                             shape);
    } else if (result.getType() != type) {
      result = tensor::CastOp::create(b, loc, type, result);
    }
    b.replaceOp(op, result);
    return success();
  }

private:
  /// result[t, n] = mask[t] ? rows[running[t] - 1, n] : 0, element by
  /// element (a skipped token reads no row: there may be none).
  static Value selectRows(OpBuilder &b, Location loc, ScatterTokensOp op, Value mask, Value empty,
                          Value zero) {
    MLIRContext *ctx = b.getContext();
    ParallelKept listed = listKeptInParallel(b, loc, mask);
    AffineMap token = AffineMap::get(2, 0, getAffineDimExpr(0, ctx));
    auto select = linalg::GenericOp::create(
        b, loc, TypeRange{empty.getType()}, ValueRange{mask, listed.running}, ValueRange{empty},
        ArrayRef<AffineMap>{token, token, AffineMap::getMultiDimIdentityMap(2, ctx)},
        SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Type element = zero.getType();
          Value n = linalg::IndexOp::create(b, l, 1);
          auto read = scf::IfOp::create(
              b, l, args[0],
              [&](OpBuilder &b, Location l) {
                Value running = arith::IndexCastOp::create(b, l, b.getIndexType(), args[1]);
                Value row = arith::SubIOp::create(b, l, running, arith::ConstantIndexOp::create(b, l, 1));
                scf::YieldOp::create(
                    b, l, tensor::ExtractOp::create(b, l, op.getRows(), ValueRange{row, n}).getResult());
              },
              [&](OpBuilder &b, Location l) {
                scf::YieldOp::create(b, l, arith::ConstantOp::create(b, l, b.getZeroAttr(element)).getResult());
              });
          linalg::YieldOp::create(b, l, read.getResult(0));
        });
    return select.getResult(0);
  }

  /// Zeros, then the kept rows inserted one by one.
  static Value insertRows(OpBuilder &b, Location loc, ScatterTokensOp op, Value mask, Value empty,
                          Value zero, OpFoldResult width) {
    auto [count, kept] = listKept(b, loc, mask);
    Value zeros = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
    Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
    OpFoldResult one = b.getIndexAttr(1);
    auto loop = scf::ForOp::create(
        b, loc, c0, count, c1, ValueRange{zeros},
        [&, kept = kept](OpBuilder &b, Location l, Value j, ValueRange carried) {
          Value row = tensor::ExtractSliceOp::create(
              b, l, op.getRows(), ArrayRef<OpFoldResult>{j, b.getIndexAttr(0)},
              ArrayRef<OpFoldResult>{one, width}, ArrayRef<OpFoldResult>{one, one});
          Value token = tensor::ExtractOp::create(b, l, kept, ValueRange{j});
          Value placed = tensor::InsertSliceOp::create(
              b, l, row, carried[0], ArrayRef<OpFoldResult>{token, b.getIndexAttr(0)},
              ArrayRef<OpFoldResult>{one, width}, ArrayRef<OpFoldResult>{one, one});
          scf::YieldOp::create(b, l, placed);
        });
    return loop.getResult(0);
  }

  bool parallelLists;
};

} // namespace

void compress::populateTokenOpsToLinalgPatterns(RewritePatternSet &patterns, bool parallelLists) {
  patterns.add<LowerRouteTokens, LowerSelectTokens>(patterns.getContext());
  patterns.add<LowerGatherTokens, LowerScatterTokens>(patterns.getContext(), parallelLists);
}
