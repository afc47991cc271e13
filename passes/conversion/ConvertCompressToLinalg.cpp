// Lowers the `compress` ops (dense, quantized, sparse and low-rank layers;
// token routing, TokenOpsToLinalg.cpp) to linalg on tensors.
#include "dialects/compress/IR/CompressOps.h"
#include "passes/conversion/Passes.h"
#include "passes/conversion/QuantizedLinearLoop.h"
#include "passes/conversion/SparseLinearLoop.h"
#include "passes/conversion/TokenOpsToLinalg.h"

#include "lib/runtime/cpu/Contraction.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Tensor/Utils/Utils.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace compress {
#define GEN_PASS_DEF_CONVERTCOMPRESSTOLINALGPASS
#include "passes/conversion/Passes.h.inc"
} // namespace compress

using namespace mlir;
using namespace compress;

namespace {

/// An [.., N] accumulator of `resultType` holding zeros, or the bias broadcast
/// along every dimension but `featureDim`.
Value buildAccumulator(OpBuilder &b, Location loc, RankedTensorType resultType,
                       ArrayRef<OpFoldResult> sizes, Value bias,
                       int64_t featureDim) {
  Value empty =
      tensor::EmptyOp::create(b, loc, sizes, resultType.getElementType());
  if (!bias) {
    Value zero = arith::ConstantOp::create(
        b, loc, b.getZeroAttr(resultType.getElementType()));
    return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  }
  SmallVector<int64_t> broadcastDims;
  for (int64_t i = 0; i < resultType.getRank(); ++i)
    if (i != featureDim)
      broadcastDims.push_back(i);
  return linalg::BroadcastOp::create(b, loc, bias, empty, broadcastDims)
      .getResult()[0];
}

/// acc[b.., n] + sum_k input[b.., k] * weight[n, k]: loops (b.., n, k) with
/// k the reduction, a contraction that linalg recognises.
Value buildLinearContraction(OpBuilder &b, Location loc, Value input, Value weight, Value acc) {
  auto resultType = cast<RankedTensorType>(acc.getType());
  int64_t rank = resultType.getRank();
  MLIRContext *ctx = b.getContext();
  unsigned numLoops = rank + 1;
  SmallVector<AffineExpr> batch;
  for (int64_t i = 0; i + 1 < rank; ++i)
    batch.push_back(getAffineDimExpr(i, ctx));
  AffineExpr n = getAffineDimExpr(rank - 1, ctx);
  AffineExpr k = getAffineDimExpr(rank, ctx);
  auto withLast = [&](AffineExpr last) {
    SmallVector<AffineExpr> exprs(batch);
    exprs.push_back(last);
    return AffineMap::get(numLoops, 0, exprs, ctx);
  };
  SmallVector<AffineMap> maps = {withLast(k), AffineMap::get(numLoops, 0, {n, k}, ctx),
                                 withLast(n)};
  SmallVector<utils::IteratorType> iterators(numLoops, utils::IteratorType::parallel);
  iterators.back() = utils::IteratorType::reduction;
  return linalg::GenericOp::create(
             b, loc, TypeRange{resultType}, ValueRange{input, weight}, ValueRange{acc}, maps,
             iterators,
             [](OpBuilder &b, Location l, ValueRange args) {
               Value product = arith::MulFOp::create(b, l, args[0], args[1]);
               Value sum = arith::AddFOp::create(b, l, args[2], product);
               linalg::YieldOp::create(b, l, sum);
             })
      .getResult(0);
}

/// linear: out[b.., n] = bias[n] + sum_k in[b.., k] * w[n, k].
struct LowerLinear : OpRewritePattern<LinearOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LinearOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = op.getOutput().getType();
    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(rewriter, loc, op.getInput());
    sizes.back() = tensor::getMixedSize(rewriter, loc, op.getWeight(), 0);
    Value acc = buildAccumulator(rewriter, loc, resultType, sizes,
                                 op.getBias(), resultType.getRank() - 1);
    rewriter.replaceOp(op, buildLinearContraction(rewriter, loc, op.getInput(),
                                                  op.getWeight(), acc));
    return success();
  }
};

/// quantized_linear: the same contraction as linear, with each weight
/// element dequantised inside the loop body ((q - zero point) * scale), so
/// that no float copy of the weight is ever made.
struct LowerQuantizedLinear : OpRewritePattern<QuantizedLinearOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(QuantizedLinearOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = op.getOutput().getType();
    int64_t n = op.getWeight().getType().getDimSize(0);
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, op.getInput());
    sizes.back() = rewriter.getIndexAttr(n);
    Value acc = buildAccumulator(rewriter, loc, resultType, sizes, op.getBias(),
                                 resultType.getRank() - 1);
    QuantizedLinearLoop loop{op.getInput(),
                             op.getWeight(),
                             op.getScales(),
                             op.getZeroPoints(),
                             acc,
                             n,
                             int64_t(op.getInFeatures()),
                             int64_t(op.getBits()),
                             int64_t(op.getGroupSize()),
                             op.getInt8Activations(),
                             QuantizedWeightLayout::RowMajor};
    rewriter.replaceOp(op, buildQuantizedLinearLoop(rewriter, loc, loop).getResult(0));
    return success();
  }
};

/// sparse_linear: a loop over each output row's stored entries that reads
/// the input at their columns (SparseLinearLoop.h).
struct LowerSparseLinear : OpRewritePattern<SparseLinearOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SparseLinearOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = op.getOutput().getType();
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, op.getInput());
    sizes.back() = rewriter.getIndexAttr(op.getLayerOutFeatures());
    Value acc = buildAccumulator(rewriter, loc, resultType, sizes, op.getBias(),
                                 resultType.getRank() - 1);
    rewriter.replaceOp(op, buildSparseLinearLoop(rewriter, op, acc).getResult(0));
    return success();
  }
};

/// low_rank_linear: two products, input * down^T into an [.., r] tensor,
/// then that times up^T into the addend or the bias; integer factors
/// dequantise inside the loops as quantized_linear's weight does.
struct LowerLowRankLinear : OpRewritePattern<LowRankLinearOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LowRankLinearOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = op.getOutput().getType();
    int64_t rank = op.getRank(), k = op.getInFeatures(), n = op.getOutFeatures();
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, op.getInput());
    sizes.back() = rewriter.getIndexAttr(rank);
    SmallVector<int64_t> innerShape(resultType.getShape());
    innerShape.back() = rank;
    auto innerType = RankedTensorType::get(innerShape, resultType.getElementType());
    Value inner = buildAccumulator(rewriter, loc, innerType, sizes, Value(), innerType.getRank() - 1);
    Value acc = op.getAddend();
    if (!acc) {
      sizes.back() = rewriter.getIndexAttr(n);
      acc = buildAccumulator(rewriter, loc, resultType, sizes, op.getBias(),
                             resultType.getRank() - 1);
    }
    auto product = [&](Value input, Value factor, Value scales, Value init, int64_t rows,
                       int64_t features) -> Value {
      if (op.getBits() == 0)
        return buildLinearContraction(rewriter, loc, input, factor, init);
      int64_t group = op.getGroupSize() == 0 ? features : op.getGroupSize();
      QuantizedLinearLoop loop{input, factor, scales, Value(), init, rows, features,
                               int64_t(op.getBits()), group, /*int8Activations=*/false,
                               QuantizedWeightLayout::RowMajor};
      return buildQuantizedLinearLoop(rewriter, loc, loop).getResult(0);
    };
    Value t = product(op.getInput(), op.getDown(), op.getDownScales(), inner, rank, k);
    Value y = product(t, op.getUp(), op.getUpScales(), acc, n, rank);
    rewriter.replaceOp(op, tensor::CastOp::create(rewriter, loc, resultType, y));
    return success();
  }
};

/// Output extent of one convolution dimension, folded when static.
OpFoldResult convOutputSize(OpBuilder &b, Location loc, OpFoldResult in,
                            OpFoldResult kernel, int64_t padTotal,
                            int64_t stride, int64_t dilation) {
  AffineExpr i, k;
  bindSymbols(b.getContext(), i, k);
  AffineExpr expr =
      (i + padTotal - (k - 1) * dilation - 1).floorDiv(stride) + 1;
  return affine::makeComposedFoldedAffineApply(b, loc, expr, {in, kernel});
}

/// conv2d: zero-pad, then a named linalg convolution into a bias-initialised
/// accumulator. Groups become an explicit G dimension (ngchw / gfchw).
struct LowerConv2D : OpRewritePattern<Conv2DOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(Conv2DOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = op.getOutput().getType();
    Type elemType = resultType.getElementType();
    ArrayRef<int64_t> pad = op.getPadding();
    Value input = op.getInput(), weight = op.getWeight();

    SmallVector<OpFoldResult> inSizes =
        tensor::getMixedSizes(rewriter, loc, input);
    SmallVector<OpFoldResult> wSizes =
        tensor::getMixedSizes(rewriter, loc, weight);
    SmallVector<OpFoldResult> outSizes = {inSizes[0], wSizes[0]};
    for (int i = 0; i < 2; ++i)
      outSizes.push_back(convOutputSize(rewriter, loc, inSizes[2 + i],
                                        wSizes[2 + i], pad[i] + pad[i + 2],
                                        op.getStrides()[i],
                                        op.getDilations()[i]));

    if (llvm::any_of(pad, [](int64_t p) { return p != 0; })) {
      SmallVector<OpFoldResult> low = {rewriter.getIndexAttr(0),
                                       rewriter.getIndexAttr(0),
                                       rewriter.getIndexAttr(pad[0]),
                                       rewriter.getIndexAttr(pad[1])};
      SmallVector<OpFoldResult> high = {rewriter.getIndexAttr(0),
                                        rewriter.getIndexAttr(0),
                                        rewriter.getIndexAttr(pad[2]),
                                        rewriter.getIndexAttr(pad[3])};
      Value zero =
          arith::ConstantOp::create(rewriter, loc, rewriter.getZeroAttr(elemType));
      input = tensor::PadOp::create(rewriter, loc, Type(), input, low, high,
                                    zero);
    }
    Value acc = buildAccumulator(rewriter, loc, resultType, outSizes,
                                 op.getBias(), /*featureDim=*/1);
    auto strides = rewriter.getI64TensorAttr(op.getStrides());
    auto dilations = rewriter.getI64TensorAttr(op.getDilations());
    int64_t groups = op.getGroups();
    if (groups == 1) {
      Value conv = linalg::Conv2DNchwFchwOp::create(
                       rewriter, loc, TypeRange{acc.getType()},
                       ValueRange{input, weight}, ValueRange{acc}, strides,
                       dilations)
                       .getResult(0);
      rewriter.replaceOp(op, tensor::CastOp::create(rewriter, loc, resultType,
                                                    conv));
      return success();
    }

    // Split channels into [G, C/G] and filters into [G, F/G].
    auto splitDim = [&](Value v, int64_t dim) {
      auto type = cast<RankedTensorType>(v.getType());
      SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, v);
      AffineExpr s;
      bindSymbols(rewriter.getContext(), s);
      OpFoldResult perGroup = affine::makeComposedFoldedAffineApply(
          rewriter, loc, s.floorDiv(groups), {sizes[dim]});
      SmallVector<OpFoldResult> newSizes(sizes.begin(), sizes.begin() + dim);
      newSizes.push_back(rewriter.getIndexAttr(groups));
      newSizes.push_back(perGroup);
      newSizes.append(sizes.begin() + dim + 1, sizes.end());
      SmallVector<ReassociationIndices> reassoc;
      for (int64_t i = 0, r = 0; i < type.getRank(); ++i) {
        if (i == dim) {
          reassoc.push_back({r, r + 1});
          r += 2;
        } else {
          reassoc.push_back({r++});
        }
      }
      auto [staticSizes, dynSizes] = decomposeMixedValues(newSizes);
      auto newType = RankedTensorType::get(staticSizes, type.getElementType());
      return tensor::ExpandShapeOp::create(rewriter, loc, newType, v, reassoc,
                                           newSizes)
          .getResult();
    };
    Value groupedInput = splitDim(input, 1);
    Value groupedWeight = splitDim(weight, 0);
    Value groupedAcc = splitDim(acc, 1);
    Value conv = linalg::Conv2DNgchwGfchwOp::create(
                     rewriter, loc, TypeRange{groupedAcc.getType()},
                     ValueRange{groupedInput, groupedWeight},
                     ValueRange{groupedAcc}, strides, dilations)
                     .getResult(0);
    SmallVector<ReassociationIndices> merge = {{0}, {1, 2}, {3}, {4}};
    Value merged = tensor::CollapseShapeOp::create(rewriter, loc, conv, merge);
    rewriter.replaceOp(op,
                       tensor::CastOp::create(rewriter, loc, resultType, merged));
    return success();
  }
};

/// embedding: out[i.., d] = table[wrap(indices[i..]), d].
struct LowerEmbedding : OpRewritePattern<EmbeddingOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(EmbeddingOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = op.getOutput().getType();
    int64_t rank = resultType.getRank();
    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(rewriter, loc, op.getIndices());
    sizes.push_back(tensor::getMixedSize(rewriter, loc, op.getTable(), 1));
    Value empty = tensor::EmptyOp::create(rewriter, loc, sizes,
                                          resultType.getElementType());
    MLIRContext *ctx = rewriter.getContext();
    SmallVector<AffineMap> maps = {
        AffineMap::getMultiDimIdentityMap(rank, ctx).getMajorSubMap(rank - 1),
        AffineMap::getMultiDimIdentityMap(rank, ctx)};
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    Value table = op.getTable();
    std::string site =
        "embedding '" + cast<CompressibleLayer>(op.getOperation()).getLayerName("unnamed") + "'";
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{empty.getType()}, ValueRange{op.getIndices()},
        ValueRange{empty}, maps, iterators,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value row = arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
          Value rows = tensor::DimOp::create(b, l, table, 0);
          row = CheckIndexOp::create(b, l, b.getIndexType(), row, rows, site);
          Value col = linalg::IndexOp::create(b, l, rank - 1);
          Value v = tensor::ExtractOp::create(b, l, table, ValueRange{row, col});
          linalg::YieldOp::create(b, l, v);
        });
    rewriter.replaceOp(op, tensor::CastOp::create(rewriter, loc, resultType,
                                                  generic.getResult(0)));
    return success();
  }
};

struct ConvertCompressToLinalgPass
    : compress::impl::ConvertCompressToLinalgPassBase<ConvertCompressToLinalgPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateCompressToLinalgPatterns(patterns, parallelTokenLists);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace

void compress::populateCompressToLinalgPatterns(RewritePatternSet &patterns,
                                                bool parallelTokenLists) {
  patterns.add<LowerLinear, LowerQuantizedLinear, LowerSparseLinear, LowerLowRankLinear,
               LowerConv2D, LowerEmbedding>(
      patterns.getContext());
  populateTokenOpsToLinalgPatterns(patterns, parallelTokenLists);
}
