// Lowers the token-skip routing ops to linalg, tensor and scf on tensors.
//
// The router is two reductions over a token's features and a compare; the
// merge a select. Gather and scatter list the kept rows with a branch-free
// scan (the scan writes each token's index at the current count and bumps
// the count if the token is kept, so the first `count` entries are the kept
// tokens in order), then copy rows: a generic that loads through the list,
// and a loop of row inserts into zeros.
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
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GatherTokensOp op, PatternRewriter &b) const override {
    Location loc = op.getLoc();
    auto rowsType = cast<RankedTensorType>(op.getRows().getType());
    Value input = collapseToRows(b, loc, op.getInput());
    auto [count, kept] = listKept(b, loc, collapseMask(b, loc, op.getKeep()));
    OpFoldResult width = tensor::getMixedSize(b, loc, input, 1);
    Value init = tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{count, width},
                                         rowsType.getElementType());
    auto dynamicRows = RankedTensorType::get({ShapedType::kDynamic, rowsType.getDimSize(1)},
                                             rowsType.getElementType());
    auto gather = linalg::GenericOp::create(
        b, loc, TypeRange{dynamicRows}, ValueRange{}, ValueRange{init},
        ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(2, b.getContext())},
        SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
        [&, kept = kept](OpBuilder &b, Location l, ValueRange) {
          Value j = linalg::IndexOp::create(b, l, 0);
          Value d = linalg::IndexOp::create(b, l, 1);
          Value row = tensor::ExtractOp::create(b, l, kept, ValueRange{j});
          linalg::YieldOp::create(b, l,
                                  tensor::ExtractOp::create(b, l, input, ValueRange{row, d}).getResult());
        });
    Value rows = gather.getResult(0);
    if (rows.getType() != rowsType)
      rows = tensor::CastOp::create(b, loc, rowsType, rows);
    b.replaceOp(op, rows);
    return success();
  }
};

/// result[kept_j, n] = rows[j, n]; zeros at the other tokens.
struct LowerScatterTokens : OpRewritePattern<ScatterTokensOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ScatterTokensOp op, PatternRewriter &b) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getResult().getType());
    Value mask = collapseMask(b, loc, op.getKeep());
    auto [count, kept] = listKept(b, loc, mask);
    OpFoldResult tokens = tensor::getMixedSize(b, loc, mask, 0);
    OpFoldResult width = tensor::getMixedSize(b, loc, op.getRows(), 1);
    Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(type.getElementType()));
    Value zeros = linalg::FillOp::create(
                      b, loc, zero,
                      tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{tokens, width},
                                              type.getElementType())
                          .getResult())
                      .getResult(0);
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
    Value result = loop.getResult(0);
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
};

} // namespace

void compress::populateTokenOpsToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerRouteTokens, LowerSelectTokens, LowerGatherTokens, LowerScatterTokens>(
      patterns.getContext());
}
