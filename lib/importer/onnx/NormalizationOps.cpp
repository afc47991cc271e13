// Per-instance normalizations over channels and their groups:
// InstanceNormalization and GroupNormalization (opset 18: scale and bias per
// group; opset 21: per channel, statistics in stash_type).
//
// Both are one computation: the input [N, C, D1..Dk] is viewed as
// [N, G, C/G, D1..Dk] (G = C for InstanceNormalization, which needs no
// reshape), every (n, g) slice is brought to zero mean and unit variance
// over its trailing dimensions, and the result is scaled and shifted per
// channel (or per group). The variance is the mean of squared differences
// from the mean (two passes, as numpy's var and the ONNX reference compute
// it), not E[x^2] - E[x]^2, which cancels badly.
//
// Also MeanVarianceNormalization (the same statistics over listed axes) and
// LRN (each element over the squares of its neighbouring channels).
#include "lib/importer/onnx/Builders.h"

using namespace compress;
using namespace mlir;
using llvm::SmallVector;

namespace {

Type elemOf(Value v) { return cast<ShapedType>(v.getType()).getElementType(); }

/// (x - mean) / sqrt(var + epsilon) with the statistics over the (sorted)
/// `axes` of `x`, computed in `stash` and returned in x's element type; with
/// `epsilonOnDeviation`, (x - mean) / (sqrt(var) + epsilon) instead.
FailureOr<Value> normalizeOver(NodeContext &ctx, Value x, ArrayRef<int64_t> axes, double epsilon,
                               Type stash, bool epsilonOnDeviation = false) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Type elem = elemOf(x);
  Value xs = x;
  if (stash != elem)
    xs = mapTensor(b, loc, x, stash, [&](OpBuilder &nb, Location l, ValueRange a) {
      return castScalar(nb, l, a[0], stash, false, false);
    });
  Value count = reducedCount(b, loc, xs, axes, stash);
  auto meanOf = [&](Value v, bool square) {
    Value sum = reduceAxes(b, loc, v, axes, /*keepDims=*/true, scalarAttr(b, stash, 0),
                           [square](OpBuilder &nb, Location l, ValueRange a) {
                             Value t = square ? arith::MulFOp::create(nb, l, a[0], a[0]).getResult()
                                              : a[0];
                             return arith::AddFOp::create(nb, l, t, a[1]).getResult();
                           });
    return mapTensor(b, loc, sum, stash, [&](OpBuilder &nb, Location l, ValueRange a) {
      return arith::DivFOp::create(nb, l, a[0], count).getResult();
    });
  };
  auto diff = broadcastMap(ctx, {xs, meanOf(xs, false)}, stash,
                           [](OpBuilder &nb, Location l, ValueRange a) {
                             return arith::SubFOp::create(nb, l, a[0], a[1]).getResult();
                           });
  if (failed(diff))
    return failure();
  Value var = meanOf(*diff, true);
  return broadcastMap(ctx, {*diff, var}, elem, [&](OpBuilder &nb, Location l, ValueRange a) {
    Value eps = scalarConstant(nb, l, stash, epsilon);
    Value sd = epsilonOnDeviation
                   ? arith::AddFOp::create(nb, l, math::SqrtOp::create(nb, l, a[1]), eps).getResult()
                   : math::SqrtOp::create(nb, l, arith::AddFOp::create(nb, l, a[1], eps)).getResult();
    return castScalar(nb, l, arith::DivFOp::create(nb, l, a[0], sd), elem, false, false);
  });
}

/// `v` (a 1-D tensor of `expected` entries: one per channel or group)
/// reshaped to [expected, 1, ..., 1] with `ones` trailing ones, so that it
/// broadcasts along dimension 1 of a tensor of rank ones + 2.
FailureOr<Value> perChannel(NodeContext &ctx, unsigned input, StringRef what, int64_t expected,
                            StringRef perWhat, int64_t ones) {
  RankedTensorType t = ctx.inputType(input);
  if (t.getRank() != 1 || (!t.isDynamicDim(0) && t.getDimSize(0) != expected))
    return ctx.error() << "'" << what << "' must hold one value per " << perWhat << " ("
                       << expected << "), but it is " << t,
           failure();
  Value v = ctx.input(input);
  if (!v)
    return failure();
  SmallVector<OpFoldResult> sizes(ones + 1, ctx.b.getIndexAttr(1));
  sizes[0] = ctx.b.getIndexAttr(expected);
  return reshapeTensor(ctx.b, ctx.loc, v, sizes);
}

/// Checks X: floating point, rank >= 2, a static channel count; and that
/// scale and bias have its element type.
FailureOr<int64_t> channelCount(NodeContext &ctx) {
  if (!ctx.hasInput(0))
    return ctx.error() << "missing input 0 (X)", failure();
  RankedTensorType t = ctx.inputType(0);
  if (!isa<FloatType>(t.getElementType()))
    return ctx.error() << "unsupported non-floating-point input of type " << t.getElementType(),
           failure();
  if (t.getRank() < 2)
    return ctx.error() << "expects an input of rank >= 2 ([N, C, ...]), but it is " << t,
           failure();
  if (t.isDynamicDim(1))
    return ctx.error() << "unsupported dynamic channel dimension (dimension 1)", failure();
  for (unsigned i : {1u, 2u})
    if (!ctx.hasInput(i))
      return ctx.error() << "missing input " << i << " (" << (i == 1 ? "scale" : "bias") << ")",
             failure();
  for (unsigned i : {1u, 2u})
    if (ctx.inputType(i).getElementType() != t.getElementType())
      return ctx.error() << "scale and bias must have the element type of the input", failure();
  return t.getDimSize(1);
}

/// y = normalized * scale + bias, both [C, 1, ..] (or [G, 1, ..]).
FailureOr<Value> scaleAndShift(NodeContext &ctx, Value normalized, Value scale, Value bias) {
  return broadcastMap(ctx, {normalized, scale, bias}, elemOf(normalized),
                      [](OpBuilder &nb, Location l, ValueRange a) {
                        Value m = arith::MulFOp::create(nb, l, a[0], a[1]);
                        return arith::AddFOp::create(nb, l, m, a[2]).getResult();
                      });
}

LogicalResult importInstanceNormalization(NodeContext &ctx) {
  FailureOr<int64_t> c = channelCount(ctx);
  if (failed(c))
    return failure();
  Value x = ctx.input(0);
  if (!x)
    return failure();
  int64_t rank = ctx.inputType(0).getRank();
  double epsilon = ctx.floatAttr("epsilon", 1e-5f);
  auto scale = perChannel(ctx, 1, "scale", *c, "channel", rank - 2);
  auto bias = perChannel(ctx, 2, "B", *c, "channel", rank - 2);
  if (failed(scale) || failed(bias))
    return failure();
  auto normalized = normalizeOver(ctx, x, llvm::to_vector(llvm::seq<int64_t>(2, rank)), epsilon,
                                  elemOf(x));
  if (failed(normalized))
    return failure();
  auto y = scaleAndShift(ctx, *normalized, *scale, *bias);
  if (failed(y))
    return failure();
  ctx.setOutput(0, *y);
  return success();
}

/// GroupNormalization; `PerChannel` selects opset 21 (scale and bias per
/// channel, stash_type) over opset 18 (per group, the input's type).
template <bool PerChannel>
LogicalResult importGroupNormalization(NodeContext &ctx) {
  FailureOr<int64_t> c = channelCount(ctx);
  if (failed(c))
    return failure();
  if (!ctx.hasAttr("num_groups"))
    return ctx.error() << "missing attribute 'num_groups'";
  int64_t groups = ctx.intAttr("num_groups", 0);
  if (groups <= 0 || *c % groups != 0)
    return ctx.error() << "num_groups " << groups << " does not divide the " << *c
                       << " channels";
  double epsilon = ctx.floatAttr("epsilon", 1e-5f);
  Value x = ctx.input(0);
  if (!x)
    return failure();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Type stash = elemOf(x);
  if (PerChannel) {
    int64_t stashType = ctx.intAttr("stash_type", 1);
    stash = onnxElementType(b.getContext(), int32_t(stashType));
    if (!stash || !isa<FloatType>(stash))
      return ctx.error() << "unsupported stash_type " << stashType;
  }
  int64_t rank = ctx.inputType(0).getRank();

  // [N, C, D..] -> [N, G, C/G, D..], normalized over dimensions 2...
  SmallVector<OpFoldResult> sizes = mixedSizes(b, loc, x);
  SmallVector<OpFoldResult> grouped = {sizes[0], b.getIndexAttr(groups),
                                       b.getIndexAttr(*c / groups)};
  grouped.append(sizes.begin() + 2, sizes.end());
  auto normalized = normalizeOver(ctx, reshapeTensor(b, loc, x, grouped),
                                  llvm::to_vector(llvm::seq<int64_t>(2, rank + 1)), epsilon, stash);
  if (failed(normalized))
    return failure();
  FailureOr<Value> y;
  if (PerChannel) {
    Value flat = reshapeTensor(b, loc, *normalized, sizes);
    auto scale = perChannel(ctx, 1, "scale", *c, "channel", rank - 2);
    auto bias = perChannel(ctx, 2, "bias", *c, "channel", rank - 2);
    if (failed(scale) || failed(bias))
      return failure();
    y = scaleAndShift(ctx, flat, *scale, *bias);
  } else {
    // [G, 1, 1, ..] against [N, G, C/G, D..]: one value per group.
    auto scale = perChannel(ctx, 1, "scale", groups, "group", rank - 1);
    auto bias = perChannel(ctx, 2, "bias", groups, "group", rank - 1);
    if (failed(scale) || failed(bias))
      return failure();
    y = scaleAndShift(ctx, *normalized, *scale, *bias);
    if (succeeded(y))
      y = reshapeTensor(b, loc, *y, sizes);
  }
  if (failed(y))
    return failure();
  ctx.setOutput(0, *y);
  return success();
}

/// MeanVarianceNormalization (opsets 9-21): (x - mean) / (sqrt(var) + 1e-9)
/// over `axes`; the epsilon and where it is added are the op's ONNX
/// function's, the variance is two-pass like the ops above (the function's
/// E[x^2] - E[x]^2 can even go negative).
LogicalResult importMeanVarianceNormalization(NodeContext &ctx) {
  RankedTensorType t = ctx.inputType(0);
  if (!isa<FloatType>(t.getElementType()))
    return ctx.error() << "unsupported non-floating-point input of type " << t.getElementType();
  SmallVector<int64_t> axes;
  for (int64_t a : ctx.intsAttr("axes").value_or(SmallVector<int64_t>{0, 2, 3})) {
    FailureOr<int64_t> axis = normalizeAxis(ctx, a, t.getRank());
    if (failed(axis))
      return failure();
    if (llvm::is_contained(axes, *axis))
      return ctx.error() << "axis " << a << " is listed twice in 'axes'";
    axes.push_back(*axis);
  }
  llvm::sort(axes);
  Value x = ctx.input(0);
  if (!x)
    return failure();
  auto y = normalizeOver(ctx, x, axes, 1e-9, t.getElementType(), /*epsilonOnDeviation=*/true);
  if (failed(y))
    return failure();
  ctx.setOutput(0, *y);
  return success();
}

/// LRN (opsets 1-21): x / (bias + alpha / size * s)^beta, with s the sum of
/// the squares of channels c - floor((size - 1) / 2) .. c + ceil((size - 1) /
/// 2) that exist. The sum is a linalg.generic whose extra reduction
/// dimension walks the window (an empty tensor of `size` gives its extent).
LogicalResult importLRN(NodeContext &ctx) {
  RankedTensorType t = ctx.inputType(0);
  Type elem = t.getElementType();
  if (!isa<FloatType>(elem))
    return ctx.error() << "unsupported non-floating-point input of type " << elem;
  if (t.getRank() < 2)
    return ctx.error() << "expects an input of rank >= 2 ([N, C, ...]), but it is " << t;
  if (!ctx.hasAttr("size"))
    return ctx.error() << "missing attribute 'size'";
  int64_t size = ctx.intAttr("size", 0);
  if (size < 1)
    return ctx.error() << "attribute 'size' must be at least 1, but it is " << size;
  double alpha = ctx.floatAttr("alpha", 1e-4f), beta = ctx.floatAttr("beta", 0.75f),
         bias = ctx.floatAttr("bias", 1.0f);
  Value x = ctx.input(0);
  if (!x)
    return failure();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  MLIRContext *mctx = b.getContext();
  int64_t rank = t.getRank();
  int64_t before = (size - 1) / 2;
  Value window = emptyTensor(b, loc, {b.getIndexAttr(size)}, elem);
  Value zeros = linalg::FillOp::create(b, loc, scalarConstant(b, loc, elem, 0.0),
                                       emptyTensor(b, loc, mixedSizes(b, loc, x), elem))
                    .getResult(0);
  AffineMap out = AffineMap::getMultiDimIdentityMap(rank + 1, mctx).getMajorSubMap(rank);
  AffineMap along = AffineMap::get(rank + 1, 0, {getAffineDimExpr(rank, mctx)}, mctx);
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  Value squares =
      linalg::GenericOp::create(
          b, loc, TypeRange{zeros.getType()}, ValueRange{window}, ValueRange{zeros},
          SmallVector<AffineMap>{along, out}, iterators,
          [&](OpBuilder &nb, Location l, ValueRange a) {
            SmallVector<Value> at;
            for (int64_t d = 0; d < rank; ++d)
              at.push_back(linalg::IndexOp::create(nb, l, d));
            Value c = arith::AddIOp::create(nb, l, at[1], linalg::IndexOp::create(nb, l, rank));
            c = arith::SubIOp::create(nb, l, c, arith::ConstantIndexOp::create(nb, l, before));
            // c is unsigned-compared: a channel below 0 wraps above C.
            Value inside = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ult, c,
                                                 tensor::DimOp::create(nb, l, x, 1));
            at[1] = arith::SelectOp::create(nb, l, inside, c, arith::ConstantIndexOp::create(nb, l, 0));
            Value v = tensor::ExtractOp::create(nb, l, x, at);
            Value sq = arith::SelectOp::create(nb, l, inside, arith::MulFOp::create(nb, l, v, v),
                                               scalarConstant(nb, l, elem, 0.0));
            linalg::YieldOp::create(nb, l, arith::AddFOp::create(nb, l, a[1], sq).getResult());
          })
          .getResult(0);
  auto y = broadcastMap(ctx, {x, squares}, elem, [&](OpBuilder &nb, Location l, ValueRange a) {
    Value scaled = arith::MulFOp::create(nb, l, a[1], scalarConstant(nb, l, elem, alpha / size));
    Value base = arith::AddFOp::create(nb, l, scaled, scalarConstant(nb, l, elem, bias));
    Value denom = math::PowFOp::create(nb, l, base, scalarConstant(nb, l, elem, beta));
    return arith::DivFOp::create(nb, l, a[0], denom).getResult();
  });
  if (failed(y))
    return failure();
  ctx.setOutput(0, *y);
  return success();
}

} // namespace

void compress::appendNormalizationOps(llvm::SmallVectorImpl<OpTableEntry> &t) {
  constexpr int64_t kMax = 21;
  t.append({
      // Opset 1 differs only by the legacy consumed_inputs attribute.
      {"InstanceNormalization", 6, kMax, importInstanceNormalization},
      {"GroupNormalization", 18, 20, importGroupNormalization<false>},
      {"GroupNormalization", 21, kMax, importGroupNormalization<true>},
      {"MeanVarianceNormalization", 9, kMax, importMeanVarianceNormalization},
      {"LRN", 1, kMax, importLRN},
  });
}
