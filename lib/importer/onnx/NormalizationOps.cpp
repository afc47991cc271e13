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
#include "lib/importer/onnx/Builders.h"

using namespace compress;
using namespace mlir;
using llvm::SmallVector;

namespace {

Type elemOf(Value v) { return cast<ShapedType>(v.getType()).getElementType(); }

/// (x - mean) / sqrt(var + epsilon) with the statistics over dimensions
/// `first`.. of `x`, computed in `stash` and returned in x's element type.
FailureOr<Value> normalizeTrailing(NodeContext &ctx, Value x, int64_t first, double epsilon,
                                   Type stash) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Type elem = elemOf(x);
  int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
  SmallVector<int64_t> axes = llvm::to_vector(llvm::seq<int64_t>(first, rank));
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
    Value sd = math::SqrtOp::create(nb, l, arith::AddFOp::create(nb, l, a[1], eps));
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
  auto normalized = normalizeTrailing(ctx, x, 2, epsilon, elemOf(x));
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
  auto normalized = normalizeTrailing(ctx, reshapeTensor(b, loc, x, grouped), 2, epsilon, stash);
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

} // namespace

void compress::appendNormalizationOps(llvm::SmallVectorImpl<OpTableEntry> &t) {
  constexpr int64_t kMax = 21;
  t.append({
      // Opset 1 differs only by the legacy consumed_inputs attribute.
      {"InstanceNormalization", 6, kMax, importInstanceNormalization},
      {"GroupNormalization", 18, 20, importGroupNormalization<false>},
      {"GroupNormalization", 21, kMax, importGroupNormalization<true>},
  });
}
