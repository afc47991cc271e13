// Shape and data-movement ONNX ops: Reshape, Transpose, Concat, Slice, Split,
// Squeeze, Unsqueeze, Expand, Shape, Size, ConstantOfShape, Range, Constant,
// Gather, GatherElements, GatherND, Scatter, ScatterElements, ScatterND, Pad, Flatten, Tile, Trilu, DepthToSpace,
// SpaceToDepth. Small integer tensors
// fold at import, so shape subgraphs leave no run-time code when shapes are
// static.
#include "lib/importer/onnx/Builders.h"

#include "dialects/compress/IR/CompressOps.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <numeric>

using namespace compress;
using namespace mlir;
using llvm::SmallVector;

namespace {

/// Row-major strides of a static shape.
SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t i = int64_t(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

/// Folds a data-movement op on a known integer tensor: output element i is
/// input element index(i).
template <typename IndexFn>
void foldInts(NodeContext &ctx, ArrayRef<int64_t> outShape, IndexFn index) {
  auto in = *ctx.constInts(0);
  SmallVector<int64_t> out;
  for (int64_t i = 0, n = product(outShape); i < n; ++i)
    out.push_back(in[index(i)]);
  ctx.setOutputInts(0, out, outShape, ctx.inputType(0).getElementType(),
                    ctx.isUnsigned(0));
}

/// Reshape-like ops keep folded contents unchanged.
LogicalResult setReshaped(NodeContext &ctx, ArrayRef<OpFoldResult> sizes) {
  if (ctx.constInts(0)) {
    SmallVector<int64_t> shape;
    for (OpFoldResult s : sizes)
      shape.push_back(*getConstantIntValue(s));
    foldInts(ctx, shape, [](int64_t i) { return i; });
    return success();
  }
  Value x = ctx.input(0);
  if (!x)
    return failure();
  ctx.setOutput(0, reshapeTensor(ctx.b, ctx.loc, x, sizes), ctx.isUnsigned(0));
  return success();
}

Value indexValue(OpBuilder &b, Location loc, OpFoldResult ofr) {
  return getValueOrCreateConstantIndexOp(b, loc, ofr);
}

/// Reshape with a shape known at import; 0 copies a dimension (unless
/// allowzero), -1 takes what is left.
LogicalResult reshapeStatic(NodeContext &ctx, ArrayRef<int64_t> shape,
                            bool allowZero) {
  OpBuilder &b = ctx.b;
  auto inType = ctx.inputType(0);
  SmallVector<OpFoldResult> inSizes;
  for (int64_t d = 0; d < inType.getRank(); ++d) {
    if (!inType.isDynamicDim(d))
      inSizes.push_back(b.getIndexAttr(inType.getDimSize(d)));
    else {
      Value x = ctx.input(0);
      if (!x)
        return failure();
      inSizes.push_back(tensor::DimOp::create(b, ctx.loc, x, d).getResult());
    }
  }
  SmallVector<OpFoldResult> sizes;
  int64_t inferAt = -1;
  for (auto [i, s] : llvm::enumerate(shape)) {
    if (s == -1) {
      if (inferAt >= 0)
        return ctx.error() << "shape has more than one -1";
      inferAt = i;
      sizes.push_back(b.getIndexAttr(1));
    } else if (s == 0 && !allowZero) {
      if (int64_t(i) >= inType.getRank())
        return ctx.error() << "shape copies dimension " << i
                           << " (0) of a rank-" << inType.getRank() << " input";
      sizes.push_back(inSizes[i]);
    } else if (s < 0) {
      return ctx.error() << "invalid shape value " << s;
    } else {
      sizes.push_back(b.getIndexAttr(s));
    }
  }
  auto mul = [&](OpFoldResult x, OpFoldResult y) -> OpFoldResult {
    auto cx = getConstantIntValue(x), cy = getConstantIntValue(y);
    if (cx && cy)
      return b.getIndexAttr(*cx * *cy);
    return arith::MulIOp::create(b, ctx.loc, indexValue(b, ctx.loc, x),
                                 indexValue(b, ctx.loc, y))
        .getResult();
  };
  OpFoldResult total = b.getIndexAttr(1), known = b.getIndexAttr(1);
  for (OpFoldResult s : inSizes)
    total = mul(total, s);
  for (OpFoldResult s : sizes)
    known = mul(known, s);
  auto cTotal = getConstantIntValue(total), cKnown = getConstantIntValue(known);
  if (inferAt >= 0) {
    if (cTotal && cKnown) {
      if (*cKnown == 0 || *cTotal % *cKnown)
        return ctx.error() << "cannot reshape " << *cTotal << " elements into "
                           << "a shape with " << *cKnown << " x -1 elements";
      sizes[inferAt] = b.getIndexAttr(*cTotal / *cKnown);
    } else {
      sizes[inferAt] = arith::DivUIOp::create(b, ctx.loc, indexValue(b, ctx.loc, total),
                                              indexValue(b, ctx.loc, known))
                           .getResult();
    }
  } else if (cTotal && cKnown && *cTotal != *cKnown) {
    return ctx.error() << "cannot reshape " << *cTotal << " elements into "
                       << *cKnown;
  }
  return setReshaped(ctx, sizes);
}

/// Reshape with a shape computed at run time.
LogicalResult reshapeDynamic(NodeContext &ctx, bool allowZero) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value x = ctx.input(0), shape = ctx.input(1);
  if (!x || !shape)
    return failure();
  auto shapeType = cast<RankedTensorType>(shape.getType());
  if (shapeType.getRank() != 1 || shapeType.isDynamicDim(0))
    return ctx.error() << "unsupported shape input of unknown length";
  int64_t rank = shapeType.getDimSize(0);
  int64_t inRank = ctx.inputType(0).getRank();
  Value total = arith::ConstantIndexOp::create(b, loc, 1);
  for (int64_t d = 0; d < inRank; ++d)
    total = arith::MulIOp::create(b, loc, total, tensor::DimOp::create(b, loc, x, d));
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value minusOne = arith::ConstantIndexOp::create(b, loc, -1);
  SmallVector<Value> dims;
  Value known = one;
  for (int64_t i = 0; i < rank; ++i) {
    Value at = arith::ConstantIndexOp::create(b, loc, i);
    Value s = tensor::ExtractOp::create(b, loc, shape, ValueRange{at});
    s = arith::IndexCastOp::create(b, loc, b.getIndexType(), s);
    if (!allowZero && i < inRank) {
      Value isZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, s, zero);
      s = arith::SelectOp::create(b, loc, isZero, tensor::DimOp::create(b, loc, x, i), s);
    }
    Value isInfer = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, s, minusOne);
    known = arith::MulIOp::create(b, loc, known,
                                  arith::SelectOp::create(b, loc, isInfer, one, s));
    dims.push_back(s);
  }
  // A -1 takes what the other sizes leave (none when they hold nothing).
  Value noneKnown = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, known, zero);
  Value inferred = arith::DivSIOp::create(
      b, loc, total, arith::SelectOp::create(b, loc, noneKnown, one, known));
  Value count = one;
  Value belowMinusOne = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0);
  for (Value &s : dims) {
    Value isInfer = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, s, minusOne);
    Value bad = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, s, minusOne);
    belowMinusOne = arith::OrIOp::create(b, loc, belowMinusOne, bad);
    s = arith::SelectOp::create(b, loc, isInfer, inferred, s);
    count = arith::MulIOp::create(b, loc, count, s);
  }
  // The shape must hold the input's elements (a negative count reports an
  // entry below -1); when it does not, the run fails naming the node and
  // the reshape takes [total, 1, ...], which stays in bounds meanwhile.
  count = arith::SelectOp::create(b, loc, belowMinusOne, minusOne, count);
  Value fits = CheckCountOp::create(b, loc, b.getI1Type(), count, total,
                                    b.getStringAttr(ctx.siteName()));
  SmallVector<OpFoldResult> sizes;
  for (auto [i, s] : llvm::enumerate(dims))
    sizes.push_back(arith::SelectOp::create(b, loc, fits, s, i == 0 ? total : one).getResult());
  ctx.setOutput(0, reshapeTensor(b, loc, x, sizes), ctx.isUnsigned(0));
  return success();
}

LogicalResult importReshape(NodeContext &ctx) {
  bool allowZero = ctx.opset >= 14 && ctx.intAttr("allowzero", 0) != 0;
  if (auto shape = ctx.constInts(1))
    return reshapeStatic(ctx, *shape, allowZero);
  return reshapeDynamic(ctx, allowZero);
}

LogicalResult importFlatten(NodeContext &ctx) {
  auto type = ctx.inputType(0);
  // Flatten's axis may equal the rank (everything goes to the first factor).
  int64_t axis = ctx.intAttr("axis", 1);
  if (axis < -type.getRank() || axis > type.getRank())
    return ctx.error() << "axis " << axis << " is out of range for rank " << type.getRank();
  if (axis < 0)
    axis += type.getRank();
  // Each factor is a product of static sizes, or -1 (inferred) when it holds
  // a dynamic dimension; one factor at most may be dynamic.
  SmallVector<int64_t> shape = {1, 1};
  for (int64_t d = 0; d < type.getRank(); ++d) {
    int64_t &factor = shape[d < axis ? 0 : 1];
    if (type.isDynamicDim(d) || factor == -1)
      factor = -1;
    else
      factor *= type.getDimSize(d);
  }
  if (shape[0] == -1 && shape[1] == -1)
    return ctx.error() << "unsupported Flatten with dynamic dimensions on both sides of axis "
                       << axis;
  return reshapeStatic(ctx, shape, /*allowZero=*/true);
}

/// Squeeze/Unsqueeze axes: an input from opset 13, an attribute before.
FailureOr<SmallVector<int64_t>> axesOperand(NodeContext &ctx, bool required) {
  if (ctx.opset >= 13) {
    if (!ctx.hasInput(1)) {
      if (required)
        return ctx.error() << "missing axes", failure();
      return SmallVector<int64_t>();
    }
    return ctx.requireConstInts(1, "axes");
  }
  if (auto axes = ctx.intsAttr("axes"))
    return *axes;
  if (required)
    return ctx.error() << "missing axes", failure();
  return SmallVector<int64_t>();
}

LogicalResult importSqueeze(NodeContext &ctx) {
  auto type = ctx.inputType(0);
  auto axes = axesOperand(ctx, false);
  if (failed(axes))
    return failure();
  SmallVector<bool> drop(type.getRank(), false);
  if (axes->empty()) {
    for (int64_t d = 0; d < type.getRank(); ++d) {
      if (type.isDynamicDim(d))
        return ctx.error() << "unsupported Squeeze without axes of a dynamic dimension";
      drop[d] = type.getDimSize(d) == 1;
    }
  }
  for (int64_t a : *axes) {
    auto axis = normalizeAxis(ctx, a, type.getRank());
    if (failed(axis))
      return failure();
    if (!type.isDynamicDim(*axis) && type.getDimSize(*axis) != 1)
      return ctx.error() << "cannot squeeze dimension " << *axis << " of size "
                         << type.getDimSize(*axis);
    drop[*axis] = true;
  }
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (!drop[d])
      sizes.push_back(type.isDynamicDim(d)
                          ? OpFoldResult(tensor::DimOp::create(ctx.b, ctx.loc, ctx.input(0), d).getResult())
                          : ctx.b.getIndexAttr(type.getDimSize(d)));
  return setReshaped(ctx, sizes);
}

LogicalResult importUnsqueeze(NodeContext &ctx) {
  auto type = ctx.inputType(0);
  auto axes = axesOperand(ctx, true);
  if (failed(axes))
    return failure();
  int64_t outRank = type.getRank() + axes->size();
  SmallVector<bool> inserted(outRank, false);
  for (int64_t a : *axes) {
    auto axis = normalizeAxis(ctx, a, outRank);
    if (failed(axis))
      return failure();
    if (inserted[*axis])
      return ctx.error() << "axis " << *axis << " given twice";
    inserted[*axis] = true;
  }
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0, k = 0; d < outRank; ++d) {
    if (inserted[d]) {
      sizes.push_back(ctx.b.getIndexAttr(1));
      continue;
    }
    sizes.push_back(type.isDynamicDim(k)
                        ? OpFoldResult(tensor::DimOp::create(ctx.b, ctx.loc, ctx.input(0), k).getResult())
                        : ctx.b.getIndexAttr(type.getDimSize(k)));
    ++k;
  }
  return setReshaped(ctx, sizes);
}

LogicalResult importTranspose(NodeContext &ctx) {
  auto type = ctx.inputType(0);
  int64_t rank = type.getRank();
  SmallVector<int64_t> perm;
  if (auto p = ctx.intsAttr("perm"))
    perm = *p;
  else
    for (int64_t d = rank - 1; d >= 0; --d)
      perm.push_back(d);
  SmallVector<int64_t> sorted(perm);
  llvm::sort(sorted);
  if (int64_t(perm.size()) != rank ||
      llvm::any_of(llvm::enumerate(sorted), [](auto e) { return e.value() != int64_t(e.index()); }))
    return ctx.error() << "perm is not a permutation of the input's " << rank
                       << " dimensions";
  if (ctx.constInts(0) && type.hasStaticShape()) {
    SmallVector<int64_t> outShape;
    for (int64_t p : perm)
      outShape.push_back(type.getDimSize(p));
    SmallVector<int64_t> inStrides = stridesOf(type.getShape());
    SmallVector<int64_t> outStrides = stridesOf(outShape);
    foldInts(ctx, outShape, [&](int64_t i) {
      int64_t at = 0;
      for (int64_t d = 0; d < rank; ++d)
        at += (i / outStrides[d] % outShape[d]) * inStrides[perm[d]];
      return at;
    });
    return success();
  }
  Value x = ctx.input(0);
  if (!x)
    return failure();
  ctx.setOutput(0, transposeTensor(ctx.b, ctx.loc, x, perm), ctx.isUnsigned(0));
  return success();
}

LogicalResult importShape(NodeContext &ctx) {
  auto type = ctx.inputType(0);
  int64_t rank = type.getRank();
  int64_t start = 0, end = rank;
  if (ctx.opset >= 15) {
    start = ctx.intAttr("start", 0);
    end = ctx.intAttr("end", rank);
  }
  auto clampAxis = [&](int64_t a) {
    if (a < 0)
      a += rank;
    return std::clamp<int64_t>(a, 0, rank);
  };
  start = clampAxis(start);
  end = std::max(clampAxis(end), start);
  SmallVector<int64_t> dims(type.getShape().begin() + start,
                            type.getShape().begin() + end);
  Type i64 = ctx.b.getI64Type();
  if (llvm::none_of(dims, ShapedType::isDynamic)) {
    ctx.setOutputInts(0, dims, {int64_t(dims.size())}, i64);
    return success();
  }
  Value x = ctx.input(0);
  if (!x)
    return failure();
  SmallVector<Value> elems;
  for (int64_t d = start; d < end; ++d) {
    Value dim = tensor::DimOp::create(ctx.b, ctx.loc, x, d);
    elems.push_back(arith::IndexCastOp::create(ctx.b, ctx.loc, i64, dim));
  }
  ctx.setOutput(0, tensor::FromElementsOp::create(
                       ctx.b, ctx.loc, RankedTensorType::get({int64_t(elems.size())}, i64), elems));
  return success();
}

LogicalResult importSize(NodeContext &ctx) {
  auto type = ctx.inputType(0);
  Type i64 = ctx.b.getI64Type();
  if (type.hasStaticShape()) {
    ctx.setOutputInts(0, {type.getNumElements()}, {}, i64);
    return success();
  }
  Value x = ctx.input(0);
  if (!x)
    return failure();
  Value n = arith::ConstantIndexOp::create(ctx.b, ctx.loc, 1);
  for (int64_t d = 0; d < type.getRank(); ++d)
    n = arith::MulIOp::create(ctx.b, ctx.loc, n, tensor::DimOp::create(ctx.b, ctx.loc, x, d));
  n = arith::IndexCastOp::create(ctx.b, ctx.loc, i64, n);
  ctx.setOutput(0, tensor::FromElementsOp::create(ctx.b, ctx.loc,
                                                  RankedTensorType::get({}, i64), n));
  return success();
}

LogicalResult importConcat(NodeContext &ctx) {
  if (!ctx.hasAttr("axis"))
    return ctx.error() << "missing attribute 'axis'";
  SmallVector<unsigned> used;
  for (unsigned i = 0; i < ctx.numInputs(); ++i)
    if (ctx.hasInput(i))
      used.push_back(i);
  auto type0 = ctx.inputType(used.front());
  int64_t rank = type0.getRank();
  auto axis = normalizeAxis(ctx, ctx.intAttr("axis", 0), rank);
  if (failed(axis))
    return failure();
  for (unsigned i : used) {
    auto t = ctx.inputType(i);
    if (t.getRank() != rank || t.getElementType() != type0.getElementType())
      return ctx.error() << "inputs differ in rank or element type";
    for (int64_t d = 0; d < rank; ++d)
      if (d != *axis && !t.isDynamicDim(d) && !type0.isDynamicDim(d) &&
          t.getDimSize(d) != type0.getDimSize(d))
        return ctx.error() << "inputs differ in dimension " << d << " ("
                           << type0.getDimSize(d) << " and " << t.getDimSize(d) << ")";
  }
  // Fold when every input is a known integer tensor (shape vectors).
  if (rank == 1 && llvm::all_of(used, [&](unsigned i) { return ctx.constInts(i).has_value(); })) {
    SmallVector<int64_t> out;
    for (unsigned i : used)
      out.append(*ctx.constInts(i));
    ctx.setOutputInts(0, out, {int64_t(out.size())}, type0.getElementType(),
                      ctx.isUnsigned(used.front()));
    return success();
  }
  OpBuilder &b = ctx.b;
  SmallVector<Value> inputs;
  for (unsigned i : used) {
    Value v = ctx.input(i);
    if (!v)
      return failure();
    inputs.push_back(v);
  }
  SmallVector<OpFoldResult> sizes = mixedSizes(b, ctx.loc, inputs.front());
  AffineExpr s0, s1;
  bindSymbols(b.getContext(), s0, s1);
  OpFoldResult total = b.getIndexAttr(0);
  SmallVector<OpFoldResult> offsets;
  for (Value v : inputs) {
    offsets.push_back(total);
    total = affine::makeComposedFoldedAffineApply(
        b, ctx.loc, s0 + s1, {total, tensor::getMixedSize(b, ctx.loc, v, *axis)});
  }
  sizes[*axis] = total;
  Value result = emptyTensor(b, ctx.loc, sizes, type0.getElementType());
  for (auto [v, offset] : llvm::zip(inputs, offsets)) {
    SmallVector<OpFoldResult> offs(rank, b.getIndexAttr(0));
    offs[*axis] = offset;
    SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
    result = tensor::InsertSliceOp::create(b, ctx.loc, v, result, offs,
                                           mixedSizes(b, ctx.loc, v), strides);
  }
  ctx.setOutput(0, result, ctx.isUnsigned(used.front()));
  return success();
}

/// Slice parameters for one axis, clamped as the ONNX spec says.
struct AxisSlice {
  int64_t start, size, step;
};
AxisSlice clampSlice(int64_t dim, int64_t start, int64_t end, int64_t step) {
  auto clampIndex = [&](int64_t v, int64_t lo, int64_t hi) {
    if (v < 0)
      v += dim;
    return std::clamp(v, lo, hi);
  };
  if (step > 0) {
    start = clampIndex(start, 0, dim);
    end = clampIndex(end, 0, dim);
    return {start, std::max<int64_t>(0, (end - start + step - 1) / step), step};
  }
  start = clampIndex(start, 0, dim - 1);
  end = clampIndex(end, -1, dim - 1);
  return {start, std::max<int64_t>(0, (start - end + (-step) - 1) / (-step)), step};
}

/// Slice's axes and steps (constants), defaulted for `count` starts.
LogicalResult readSliceAxesAndSteps(NodeContext &ctx, size_t count, SmallVector<int64_t> &axes,
                                    SmallVector<int64_t> &steps) {
  if (ctx.opset >= 10) {
    if (ctx.hasInput(3)) {
      auto a = ctx.requireConstInts(3, "axes");
      if (failed(a))
        return failure();
      axes = *a;
    }
    if (ctx.hasInput(4)) {
      auto st = ctx.requireConstInts(4, "steps");
      if (failed(st))
        return failure();
      steps = *st;
    }
  } else {
    axes = ctx.intsAttr("axes").value_or(SmallVector<int64_t>());
  }
  if (axes.empty())
    for (size_t i = 0; i < count; ++i)
      axes.push_back(i);
  if (steps.empty())
    steps.assign(count, 1);
  if (axes.size() != count || steps.size() != count)
    return ctx.error() << "starts, ends, axes and steps differ in length";
  return success();
}

/// Slice whose bounds are computed at run time or whose sliced dimensions
/// are dynamic: clamping happens in index arithmetic. Steps must be positive
/// constants.
LogicalResult sliceAtRunTime(NodeContext &ctx) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value x = ctx.input(0);
  if (!x)
    return failure();
  int64_t rank = ctx.inputType(0).getRank();
  SmallVector<int64_t> attrStarts, attrEnds, axes, steps;
  int64_t count;
  if (ctx.opset >= 10) {
    auto startsType = ctx.inputType(1);
    if (startsType.getRank() != 1 || startsType.isDynamicDim(0))
      return ctx.error() << "unsupported starts of unknown length";
    count = startsType.getDimSize(0);
  } else {
    attrStarts = ctx.intsAttr("starts").value_or(SmallVector<int64_t>());
    attrEnds = ctx.intsAttr("ends").value_or(SmallVector<int64_t>());
    count = attrStarts.size();
  }
  if (failed(readSliceAxesAndSteps(ctx, count, axes, steps)))
    return failure();

  // Entry i of starts (input 1) or ends (input 2) as an index value.
  auto bound = [&](unsigned input, ArrayRef<int64_t> attr, int64_t i) -> Value {
    if (ctx.opset < 10)
      return arith::ConstantIndexOp::create(b, loc, attr[i]);
    if (auto known = ctx.constInts(input))
      return arith::ConstantIndexOp::create(b, loc, (*known)[i]);
    Value at = arith::ConstantIndexOp::create(b, loc, i);
    Value v = tensor::ExtractOp::create(b, loc, ctx.input(input), ValueRange{at});
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
  };
  SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes = mixedSizes(b, loc, x);
  SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  for (int64_t i = 0; i < count; ++i) {
    auto axis = normalizeAxis(ctx, axes[i], rank);
    if (failed(axis))
      return failure();
    if (steps[i] <= 0)
      return ctx.error() << "unsupported step " << steps[i]
                         << " with bounds computed at run time or a dynamic dimension";
    Value dim = getValueOrCreateConstantIndexOp(b, loc, sizes[*axis]);
    auto clamp = [&](Value v) {
      Value negative = b.createOrFold<arith::CmpIOp>(loc, arith::CmpIPredicate::slt, v, zero);
      Value wrapped = b.createOrFold<arith::AddIOp>(loc, v, dim);
      v = b.createOrFold<arith::SelectOp>(loc, negative, wrapped, v);
      v = b.createOrFold<arith::MaxSIOp>(loc, v, zero);
      return b.createOrFold<arith::MinSIOp>(loc, v, dim);
    };
    Value start = clamp(bound(1, attrStarts, i));
    Value end = clamp(bound(2, attrEnds, i));
    Value step = arith::ConstantIndexOp::create(b, loc, steps[i]);
    Value span = b.createOrFold<arith::SubIOp>(loc, end, start);
    span = b.createOrFold<arith::AddIOp>(
        loc, span, arith::ConstantIndexOp::create(b, loc, steps[i] - 1));
    Value length = b.createOrFold<arith::FloorDivSIOp>(loc, span, step);
    length = b.createOrFold<arith::MaxSIOp>(loc, length, zero);
    offsets[*axis] = getAsOpFoldResult(start);
    sizes[*axis] = getAsOpFoldResult(length);
    strides[*axis] = b.getIndexAttr(steps[i]);
  }
  ctx.setOutput(0, tensor::ExtractSliceOp::create(b, loc, x, offsets, sizes, strides),
                ctx.isUnsigned(0));
  return success();
}

LogicalResult importSlice(NodeContext &ctx) {
  auto type = ctx.inputType(0);
  int64_t rank = type.getRank();
  bool runtimeBounds = ctx.opset >= 10 && (!ctx.constInts(1) || !ctx.constInts(2));
  if (runtimeBounds || !type.hasStaticShape())
    return sliceAtRunTime(ctx);
  SmallVector<int64_t> starts, ends, axes, steps;
  if (ctx.opset >= 10) {
    auto s = ctx.requireConstInts(1, "starts");
    auto e = ctx.requireConstInts(2, "ends");
    if (failed(s) || failed(e))
      return failure();
    starts = *s;
    ends = *e;
  } else {
    starts = ctx.intsAttr("starts").value_or(SmallVector<int64_t>());
    ends = ctx.intsAttr("ends").value_or(SmallVector<int64_t>());
  }
  if (starts.size() != ends.size())
    return ctx.error() << "starts, ends, axes and steps differ in length";
  if (failed(readSliceAxesAndSteps(ctx, starts.size(), axes, steps)))
    return failure();

  SmallVector<AxisSlice> slices;
  for (int64_t d = 0; d < rank; ++d)
    slices.push_back({0, type.getDimSize(d), 1});
  for (size_t i = 0; i < axes.size(); ++i) {
    auto axis = normalizeAxis(ctx, axes[i], rank);
    if (failed(axis))
      return failure();
    if (steps[i] == 0)
      return ctx.error() << "step 0 on axis " << *axis;
    slices[*axis] = clampSlice(type.getDimSize(*axis), starts[i], ends[i], steps[i]);
  }
  SmallVector<int64_t> outShape;
  for (const AxisSlice &s : slices)
    outShape.push_back(s.size);

  if (ctx.constInts(0) && type.hasStaticShape()) {
    SmallVector<int64_t> inStrides = stridesOf(type.getShape());
    SmallVector<int64_t> outStrides = stridesOf(outShape);
    foldInts(ctx, outShape, [&](int64_t i) {
      int64_t at = 0;
      for (int64_t d = 0; d < rank; ++d)
        at += (slices[d].start + (i / outStrides[d] % outShape[d]) * slices[d].step) *
              inStrides[d];
      return at;
    });
    return success();
  }
  Value x = ctx.input(0);
  if (!x)
    return failure();
  OpBuilder &b = ctx.b;
  SmallVector<OpFoldResult> sizes = mixedSizes(b, ctx.loc, x);
  bool anyNegative = llvm::any_of(slices, [](const AxisSlice &s) { return s.step < 0; });
  if (!anyNegative) {
    SmallVector<OpFoldResult> offsets, strides;
    for (int64_t d = 0; d < rank; ++d) {
      // An empty slice may start at the end; extract_slice wants it inside.
      offsets.push_back(b.getIndexAttr(slices[d].size == 0 ? 0 : slices[d].start));
      strides.push_back(b.getIndexAttr(slices[d].step));
      if (!ShapedType::isDynamic(slices[d].size))
        sizes[d] = b.getIndexAttr(slices[d].size);
    }
    ctx.setOutput(0, tensor::ExtractSliceOp::create(b, ctx.loc, x, offsets, sizes, strides),
                  ctx.isUnsigned(0));
    return success();
  }
  // Negative steps: gather element by element, in[start + i * step].
  for (int64_t d = 0; d < rank; ++d)
    if (!ShapedType::isDynamic(slices[d].size))
      sizes[d] = b.getIndexAttr(slices[d].size);
  Value out = generateTensor(
      b, ctx.loc, sizes, type.getElementType(), [&](OpBuilder &nb, Location l, ValueRange ivs) {
        SmallVector<Value> idx;
        for (int64_t d = 0; d < rank; ++d) {
          Value step = arith::ConstantIndexOp::create(nb, l, slices[d].step);
          Value start = arith::ConstantIndexOp::create(nb, l, slices[d].start);
          idx.push_back(arith::AddIOp::create(nb, l, start,
                                              arith::MulIOp::create(nb, l, ivs[d], step)));
        }
        return tensor::ExtractOp::create(nb, l, x, idx).getResult();
      });
  ctx.setOutput(0, out, ctx.isUnsigned(0));
  return success();
}

LogicalResult importSplit(NodeContext &ctx) {
  auto type = ctx.inputType(0);
  auto axis = normalizeAxis(ctx, ctx.intAttr("axis", 0), type.getRank());
  if (failed(axis))
    return failure();
  if (type.isDynamicDim(*axis))
    return ctx.error() << "unsupported Split of a dynamic dimension";
  int64_t dim = type.getDimSize(*axis);
  SmallVector<int64_t> split;
  if (ctx.opset >= 13 && ctx.hasInput(1)) {
    auto s = ctx.requireConstInts(1, "split");
    if (failed(s))
      return failure();
    split = *s;
  } else if (ctx.opset < 13) {
    split = ctx.intsAttr("split").value_or(SmallVector<int64_t>());
  }
  int64_t outputs = ctx.numOutputs();
  if (ctx.opset >= 18 && ctx.hasAttr("num_outputs"))
    outputs = ctx.intAttr("num_outputs", outputs);
  if (split.empty()) {
    int64_t chunk = (dim + outputs - 1) / outputs; // the last one may be smaller
    for (int64_t i = 0, left = dim; i < outputs; ++i, left -= chunk)
      split.push_back(std::max<int64_t>(0, std::min(chunk, left)));
  }
  if (int64_t(split.size()) != ctx.numOutputs() ||
      std::accumulate(split.begin(), split.end(), int64_t(0)) != dim)
    return ctx.error() << "split sizes do not add up to dimension " << *axis
                       << " (" << dim << ") over " << ctx.numOutputs() << " outputs";
  Value x = ctx.input(0);
  if (!x)
    return failure();
  OpBuilder &b = ctx.b;
  int64_t offset = 0;
  for (int64_t i = 0; i < int64_t(split.size()); ++i) {
    SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes = mixedSizes(b, ctx.loc, x);
    SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
    offsets[*axis] = b.getIndexAttr(offset);
    sizes[*axis] = b.getIndexAttr(split[i]);
    // extract_slice rejects an offset at the end even for an empty slice.
    Value part = split[i] == 0
                     ? emptyTensor(b, ctx.loc, sizes, type.getElementType())
                     : tensor::ExtractSliceOp::create(b, ctx.loc, x, offsets, sizes, strides)
                           .getResult();
    ctx.setOutput(i, part, ctx.isUnsigned(0));
    offset += split[i];
  }
  return success();
}

/// The numpy broadcast of two shapes (Expand's rule), as sizes.
FailureOr<SmallVector<OpFoldResult>> broadcastShapes(NodeContext &ctx, Value x,
                                                     ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = std::max<int64_t>(type.getRank(), shape.size());
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t k = d - (rank - type.getRank());
    int64_t s = d - (rank - int64_t(shape.size()));
    int64_t want = s >= 0 ? shape[s] : 1;
    if (k < 0) {
      sizes.push_back(ctx.b.getIndexAttr(want));
      continue;
    }
    if (type.isDynamicDim(k)) {
      if (want != 1)
        sizes.push_back(ctx.b.getIndexAttr(want));
      else
        sizes.push_back(tensor::DimOp::create(ctx.b, ctx.loc, x, k).getResult());
      continue;
    }
    int64_t have = type.getDimSize(k);
    if (have != 1 && want != 1 && have != want) {
      ctx.error() << "cannot expand dimension of size " << have << " to " << want;
      return failure();
    }
    sizes.push_back(ctx.b.getIndexAttr(have == 1 ? want : have));
  }
  return sizes;
}

LogicalResult importExpand(NodeContext &ctx) {
  auto shape = ctx.requireConstInts(1, "shape");
  if (failed(shape))
    return failure();
  Value x = ctx.input(0);
  if (!x)
    return failure();
  auto sizes = broadcastShapes(ctx, x, *shape);
  if (failed(sizes))
    return failure();
  auto out = broadcastTo(ctx, x, *sizes);
  if (failed(out))
    return failure();
  ctx.setOutput(0, *out, ctx.isUnsigned(0));
  return success();
}

LogicalResult importTile(NodeContext &ctx) {
  auto repeats = ctx.requireConstInts(1, "repeats");
  if (failed(repeats))
    return failure();
  Value x = ctx.input(0);
  if (!x)
    return failure();
  auto type = ctx.inputType(0);
  int64_t rank = type.getRank();
  if (int64_t(repeats->size()) != rank)
    return ctx.error() << "repeats has " << repeats->size() << " entries for rank " << rank;
  OpBuilder &b = ctx.b;
  SmallVector<OpFoldResult> inSizes = mixedSizes(b, ctx.loc, x), outSizes;
  AffineExpr s0;
  bindSymbols(b.getContext(), s0);
  for (int64_t d = 0; d < rank; ++d)
    outSizes.push_back(affine::makeComposedFoldedAffineApply(b, ctx.loc, s0 * (*repeats)[d],
                                                             {inSizes[d]}));
  Value out = generateTensor(
      b, ctx.loc, outSizes, type.getElementType(), [&](OpBuilder &nb, Location l, ValueRange ivs) {
        SmallVector<Value> idx;
        for (int64_t d = 0; d < rank; ++d) {
          Value n = tensor::DimOp::create(nb, l, x, d);
          idx.push_back(arith::RemUIOp::create(nb, l, ivs[d], n));
        }
        return tensor::ExtractOp::create(nb, l, x, idx).getResult();
      });
  ctx.setOutput(0, out, ctx.isUnsigned(0));
  return success();
}

/// Constant and ConstantOfShape values from a TensorProto attribute.
LogicalResult importConstant(NodeContext &ctx) {
  if (const onnx::TensorProto *t = ctx.tensorAttr("value")) {
    if (!onnxElementType(ctx.b.getContext(), t->data_type()))
      return ctx.error() << "unsupported constant type " << onnxTypeName(t->data_type());
    return ctx.setOutputTensor(0, *t);
  }
  MLIRContext *mctx = ctx.b.getContext();
  Type f32 = Float32Type::get(mctx), i64 = IntegerType::get(mctx, 64);
  if (ctx.hasAttr("value_int")) {
    ctx.setOutputInts(0, {ctx.intAttr("value_int", 0)}, {}, i64);
    return success();
  }
  if (auto ints = ctx.intsAttr("value_ints")) {
    ctx.setOutputInts(0, *ints, {int64_t(ints->size())}, i64);
    return success();
  }
  SmallVector<float> floats;
  SmallVector<int64_t> shape;
  if (ctx.hasAttr("value_float")) {
    floats.push_back(ctx.floatAttr("value_float", 0));
  } else {
    for (const auto &a : ctx.node.attribute())
      if (a.name() == "value_floats")
        floats.assign(a.floats().begin(), a.floats().end());
    if (!ctx.hasAttr("value_floats"))
      return ctx.error() << "unsupported Constant form (sparse or string values)";
    shape.push_back(floats.size());
  }
  auto type = RankedTensorType::get(shape, f32);
  ctx.setOutput(0, arith::ConstantOp::create(ctx.b, ctx.loc,
                                             DenseElementsAttr::get(type, ArrayRef<float>(floats))));
  return success();
}

LogicalResult importConstantOfShape(NodeContext &ctx) {
  const onnx::TensorProto *t = ctx.tensorAttr("value");
  MLIRContext *mctx = ctx.b.getContext();
  Type elem = t ? onnxElementType(mctx, t->data_type()) : Float32Type::get(mctx);
  if (!elem)
    return ctx.error() << "unsupported value type " << onnxTypeName(t->data_type());
  std::vector<char> bytes(std::max<size_t>(1, elem.getIntOrFloatBitWidth() / 8), 0);
  if (t) {
    auto read = readTensorBytes(ctx.importer.model, *t);
    if (!read)
      return ctx.error() << llvm::toString(read.takeError());
    if (read->size() != bytes.size())
      return ctx.error() << "value must hold exactly one element";
    bytes = *read;
  }
  bool isUnsigned = t && isUnsignedOnnxType(t->data_type());
  auto shape = ctx.constInts(0);
  if (shape && isa<IntegerType>(elem) && product(*shape) <= 4096) {
    int64_t v = 0;
    memcpy(&v, bytes.data(), bytes.size());
    if (!isUnsigned && bytes.size() < 8 && elem.getIntOrFloatBitWidth() > 1)
      v = int64_t(uint64_t(v) << (64 - 8 * bytes.size())) >> (64 - 8 * bytes.size());
    ctx.setOutputInts(0, SmallVector<int64_t>(product(*shape), v), *shape, elem, isUnsigned);
    return success();
  }
  OpBuilder &b = ctx.b;
  SmallVector<OpFoldResult> sizes;
  if (shape) {
    for (int64_t s : *shape)
      sizes.push_back(b.getIndexAttr(s));
  } else {
    Value s = ctx.input(0);
    if (!s)
      return failure();
    auto sType = cast<RankedTensorType>(s.getType());
    if (sType.isDynamicDim(0))
      return ctx.error() << "unsupported shape input of unknown length";
    for (int64_t i = 0; i < sType.getDimSize(0); ++i) {
      Value at = arith::ConstantIndexOp::create(b, ctx.loc, i);
      Value d = tensor::ExtractOp::create(b, ctx.loc, s, ValueRange{at});
      sizes.push_back(arith::IndexCastOp::create(b, ctx.loc, b.getIndexType(), d).getResult());
    }
  }
  TypedAttr fill;
  if (elem.isInteger(1))
    fill = b.getBoolAttr(bytes[0] != 0);
  else
    fill = cast<TypedAttr>(DenseElementsAttr::getFromRawBuffer(RankedTensorType::get({}, elem), bytes)
                               .getSplatValue<Attribute>());
  Value init = emptyTensor(b, ctx.loc, sizes, elem);
  Value c = arith::ConstantOp::create(b, ctx.loc, fill);
  ctx.setOutput(0, linalg::FillOp::create(b, ctx.loc, c, init).getResult(0), isUnsigned);
  return success();
}

LogicalResult importRange(NodeContext &ctx) {
  auto start = ctx.constFloats(0), limit = ctx.constFloats(1), delta = ctx.constFloats(2);
  Type elem = ctx.inputType(0).getElementType();
  if (!start || !limit || !delta)
    return ctx.error() << "unsupported Range with bounds computed at run time";
  if ((*delta)[0] == 0)
    return ctx.error() << "delta is 0";
  double count = std::ceil(((*limit)[0] - (*start)[0]) / (*delta)[0]);
  // The element count as a double first: bounds of 1e300 must not wrap.
  if (!(count < double(int64_t(1) << 62)))
    return ctx.error() << "bounds give " << count << " elements";
  int64_t n = std::max<int64_t>(0, int64_t(count));
  OpBuilder &b = ctx.b;
  if (isa<IntegerType>(elem)) {
    int64_t s = int64_t((*start)[0]), d = int64_t((*delta)[0]);
    if (n <= kMaxFoldedInts) {
      SmallVector<int64_t> out;
      for (int64_t i = 0; i < n; ++i)
        out.push_back(s + i * d);
      ctx.setOutputInts(0, out, {n}, elem);
      return success();
    }
    Value out = generateTensor(
        b, ctx.loc, {b.getIndexAttr(n)}, elem, [&](OpBuilder &nb, Location l, ValueRange ivs) {
          Value i = arith::IndexCastOp::create(nb, l, nb.getI64Type(), ivs[0]);
          Value v = arith::AddIOp::create(
              nb, l, arith::ConstantIntOp::create(nb, l, nb.getI64Type(), s),
              arith::MulIOp::create(nb, l, i, arith::ConstantIntOp::create(nb, l, nb.getI64Type(), d)));
          return elem.getIntOrFloatBitWidth() < 64 ? arith::TruncIOp::create(nb, l, elem, v).getResult() : v;
        });
    ctx.setOutput(0, out);
    return success();
  }
  double s = (*start)[0], d = (*delta)[0];
  Value out = generateTensor(
      b, ctx.loc, {b.getIndexAttr(n)}, elem, [&](OpBuilder &nb, Location l, ValueRange ivs) {
        Value iInt = arith::IndexCastOp::create(nb, l, nb.getI64Type(), ivs[0]);
        Value iF = arith::SIToFPOp::create(nb, l, elem, iInt);
        return arith::AddFOp::create(
                   nb, l, scalarConstant(nb, l, elem, s),
                   arith::MulFOp::create(nb, l, iF, scalarConstant(nb, l, elem, d)))
            .getResult();
      });
  ctx.setOutput(0, out);
  return success();
}

LogicalResult importGather(NodeContext &ctx) {
  auto dataType = ctx.inputType(0), indicesType = ctx.inputType(1);
  auto axis = normalizeAxis(ctx, ctx.intAttr("axis", 0), dataType.getRank());
  if (failed(axis))
    return failure();
  int64_t rank = dataType.getRank() + indicesType.getRank() - 1;
  // Fold index picks from known shape vectors.
  if (ctx.constInts(0) && ctx.constInts(1) && dataType.getRank() == 1) {
    auto data = *ctx.constInts(0);
    // A named copy: a range-for over *temporary would outlive the optional.
    auto picks = *ctx.constInts(1);
    SmallVector<int64_t> out;
    for (int64_t i : picks) {
      int64_t at = i < 0 ? i + int64_t(data.size()) : i;
      if (at < 0 || at >= int64_t(data.size()))
        return ctx.error() << "index " << i << " is out of range for " << data.size();
      out.push_back(data[at]);
    }
    ctx.setOutputInts(0, out, indicesType.getShape(), dataType.getElementType(),
                      ctx.isUnsigned(0));
    return success();
  }
  Value data = ctx.input(0), indices = ctx.input(1);
  if (!data || !indices)
    return failure();
  OpBuilder &b = ctx.b;
  // A float table looked up along rows is an embedding: a compressible op.
  if (*axis == 0 && dataType.getRank() == 2 && ctx.constTensor(0) &&
      isa<FloatType>(dataType.getElementType())) {
    SmallVector<int64_t> shape(indicesType.getShape());
    shape.push_back(dataType.getDimSize(1));
    auto type = RankedTensorType::get(shape, dataType.getElementType());
    ctx.setOutput(0, EmbeddingOp::create(b, ctx.loc, type, data, indices));
    return success();
  }
  SmallVector<OpFoldResult> dataSizes = mixedSizes(b, ctx.loc, data);
  SmallVector<OpFoldResult> indSizes = mixedSizes(b, ctx.loc, indices);
  SmallVector<OpFoldResult> sizes(dataSizes.begin(), dataSizes.begin() + *axis);
  sizes.append(indSizes);
  sizes.append(dataSizes.begin() + *axis + 1, dataSizes.end());
  Value init = emptyTensor(b, ctx.loc, sizes, dataType.getElementType());
  MLIRContext *mctx = b.getContext();
  SmallVector<AffineExpr> indExprs;
  for (int64_t k = 0; k < indicesType.getRank(); ++k)
    indExprs.push_back(getAffineDimExpr(*axis + k, mctx));
  SmallVector<AffineMap> maps = {AffineMap::get(rank, 0, indExprs, mctx),
                                 AffineMap::getMultiDimIdentityMap(rank, mctx)};
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  int64_t indRank = indicesType.getRank();
  std::string site = ctx.siteName();
  Value out = linalg::GenericOp::create(
                  b, ctx.loc, TypeRange{init.getType()}, ValueRange{indices}, ValueRange{init},
                  maps, iterators,
                  [&](OpBuilder &nb, Location l, ValueRange args) {
                    Value i = arith::IndexCastOp::create(nb, l, nb.getIndexType(), args[0]);
                    Value n = tensor::DimOp::create(nb, l, data, *axis);
                    i = CheckIndexOp::create(nb, l, nb.getIndexType(), i, n, site);
                    SmallVector<Value> idx;
                    for (int64_t d = 0; d < *axis; ++d)
                      idx.push_back(linalg::IndexOp::create(nb, l, d));
                    idx.push_back(i);
                    for (int64_t d = *axis + 1; d < dataType.getRank(); ++d)
                      idx.push_back(linalg::IndexOp::create(nb, l, d + indRank - 1));
                    linalg::YieldOp::create(nb, l, tensor::ExtractOp::create(nb, l, data, idx).getResult());
                  })
                  .getResult(0);
  ctx.setOutput(0, out, ctx.isUnsigned(0));
  return success();
}

/// The constant of Pad's constant mode: the `value` attribute before opset
/// 11, then the optional constant_value input (known at import or read at run
/// time), 0 by default.
FailureOr<Value> padValue(NodeContext &ctx, Type elem) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  if (ctx.opset < 11)
    return scalarConstant(b, loc, elem, ctx.floatAttr("value", 0.0f));
  if (!ctx.hasInput(2))
    return scalarConstant(b, loc, elem, 0);
  auto type = ctx.inputType(2);
  if (type.getElementType() != elem)
    return ctx.error() << "constant_value must have the data's element type", failure();
  if (type.getNumElements() != 1 || type.getRank() > 1)
    return ctx.error() << "constant_value must be a scalar", failure();
  if (auto ints = ctx.constInts(2)) {
    unsigned width = elem.getIntOrFloatBitWidth();
    return arith::ConstantOp::create(
               b, loc, b.getIntegerAttr(elem, APInt(width, uint64_t(ints->front()),
                                                    /*isSigned=*/true, /*implicitTrunc=*/true)))
        .getResult();
  }
  if (auto floats = ctx.constFloats(2); floats && isa<FloatType>(elem))
    return scalarConstant(b, loc, elem, floats->front());
  Value v = ctx.input(2);
  if (!v)
    return failure();
  SmallVector<Value> at;
  if (type.getRank() == 1)
    at.push_back(arith::ConstantIndexOp::create(b, loc, 0));
  return tensor::ExtractOp::create(b, loc, v, at).getResult();
}

/// Pad. Positive pads add elements, negative ones remove them (extract_slice).
/// Constant mode is a tensor.pad; edge, reflect and wrap read every output
/// element from the input at an index clamped, mirrored or wrapped into range.
LogicalResult importPad(NodeContext &ctx) {
  auto type = ctx.inputType(0);
  int64_t rank = type.getRank();
  std::string mode = ctx.stringAttr("mode", "constant");
  bool hasWrap = ctx.opset >= 19;
  if (mode != "constant" && mode != "reflect" && mode != "edge" &&
      !(hasWrap && mode == "wrap"))
    return ctx.error() << "unsupported mode '" << mode << "'";
  SmallVector<int64_t> pads, axes;
  bool axesGiven = false;
  if (ctx.opset < 11) {
    ctx.floatAttr("value", 0.0f); // read by padValue where it is needed
    std::optional<SmallVector<int64_t>> p = ctx.intsAttr("pads");
    if (!p)
      return ctx.error() << "missing attribute 'pads'";
    pads = *p;
  } else {
    if (!ctx.hasInput(1))
      return ctx.error() << "missing input 'pads'";
    std::optional<SmallVector<int64_t>> p = ctx.constInts(1);
    if (!p)
      return ctx.error() << "unsupported pads computed at run time";
    pads = *p;
    if (ctx.opset >= 18 && ctx.hasInput(3)) {
      std::optional<SmallVector<int64_t>> a = ctx.constInts(3);
      if (!a)
        return ctx.error() << "unsupported axes computed at run time";
      axes = *a;
      axesGiven = true;
    }
  }
  if (!axesGiven)
    axes = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  if (pads.size() != 2 * axes.size())
    return ctx.error() << "pads has " << pads.size() << " values, expected "
                       << 2 * axes.size();
  SmallVector<int64_t> lo(rank, 0), hi(rank, 0);
  SmallVector<bool> seen(rank, false);
  for (size_t i = 0; i < axes.size(); ++i) {
    auto axis = normalizeAxis(ctx, axes[i], rank);
    if (failed(axis))
      return failure();
    if (seen[*axis])
      return ctx.error() << "axis " << *axis << " given twice";
    seen[*axis] = true;
    lo[*axis] = pads[i];
    hi[*axis] = pads[axes.size() + i];
  }
  Value x = ctx.input(0);
  if (!x)
    return failure();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Type elem = type.getElementType();
  if (llvm::all_of(lo, [](int64_t p) { return p == 0; }) &&
      llvm::all_of(hi, [](int64_t p) { return p == 0; })) {
    ctx.setOutput(0, x, ctx.isUnsigned(0));
    return success();
  }

  // Output sizes; an empty output needs no data.
  AffineExpr s0;
  bindSymbols(b.getContext(), s0);
  SmallVector<OpFoldResult> sizes = mixedSizes(b, loc, x), outSizes;
  bool emptyOutput = false;
  for (int64_t d = 0; d < rank; ++d) {
    if (!type.isDynamicDim(d) && type.getDimSize(d) + lo[d] + hi[d] < 0)
      return ctx.error() << "pads remove more than the " << type.getDimSize(d)
                         << " elements of dimension " << d;
    outSizes.push_back(
        affine::makeComposedFoldedAffineApply(b, loc, s0 + lo[d] + hi[d], {sizes[d]}));
    emptyOutput |= getConstantIntValue(outSizes.back()) == std::optional<int64_t>(0);
  }
  if (emptyOutput) {
    ctx.setOutput(0, emptyTensor(b, loc, outSizes, elem), ctx.isUnsigned(0));
    return success();
  }

  // Crops with extract_slice: one with sizes `sizes` at `offsets`.
  auto crop = [&](Value v, ArrayRef<OpFoldResult> offsets, ArrayRef<OpFoldResult> cropSizes) {
    SmallVector<OpFoldResult> steps(rank, b.getIndexAttr(1));
    return tensor::ExtractSliceOp::create(b, loc, v, offsets, cropSizes, steps).getResult();
  };
  bool crops = llvm::any_of(lo, [](int64_t p) { return p < 0; }) ||
               llvm::any_of(hi, [](int64_t p) { return p < 0; });
  if (mode == "constant") {
    // Pad by the positive pads, then crop by the negative ones: out[o] is
    // x[o - lo] where that is inside x, the constant elsewhere, whichever
    // side a crop is on.
    SmallVector<OpFoldResult> low, high, offsets;
    for (int64_t d = 0; d < rank; ++d) {
      low.push_back(b.getIndexAttr(std::max<int64_t>(lo[d], 0)));
      high.push_back(b.getIndexAttr(std::max<int64_t>(hi[d], 0)));
      offsets.push_back(b.getIndexAttr(std::max<int64_t>(-lo[d], 0)));
    }
    Value y = x;
    if (llvm::any_of(lo, [](int64_t p) { return p > 0; }) ||
        llvm::any_of(hi, [](int64_t p) { return p > 0; })) {
      FailureOr<Value> constant = padValue(ctx, elem);
      if (failed(constant))
        return failure();
      y = tensor::PadOp::create(b, loc, Type(), x, low, high, *constant);
    }
    if (crops)
      y = crop(y, offsets, outSizes);
    ctx.setOutput(0, y, ctx.isUnsigned(0));
    return success();
  }

  // Edge, reflect, wrap crop first, then pad from what is left: each padded
  // dimension must keep elements to copy (reflect mirrors once, so it needs
  // more elements than its pads). Wrapping a dimension cropped on the other
  // side is left out: it depends on the order of the two.
  if (crops) {
    SmallVector<OpFoldResult> offsets;
    for (int64_t d = 0; d < rank; ++d) {
      int64_t cutLo = std::max<int64_t>(-lo[d], 0), cutHi = std::max<int64_t>(-hi[d], 0);
      bool padded = lo[d] > 0 || hi[d] > 0;
      if (padded && cutLo + cutHi > 0) {
        if (type.isDynamicDim(d))
          return ctx.error() << "unsupported " << mode
                             << " padding of dynamic dimension " << d << " that is also cropped";
        if (type.getDimSize(d) - cutLo - cutHi < 1)
          return ctx.error() << "unsupported " << mode << " padding of dimension " << d
                             << " after pads crop all of it";
        if (mode == "wrap")
          return ctx.error() << "unsupported wrap padding of dimension " << d
                             << " that is also cropped";
      }
      // (A dimension cropped to nothing would have emptied the output.)
      offsets.push_back(b.getIndexAttr(cutLo));
      sizes[d] = affine::makeComposedFoldedAffineApply(b, loc, s0 - (cutLo + cutHi), {sizes[d]});
      lo[d] = std::max<int64_t>(lo[d], 0);
      hi[d] = std::max<int64_t>(hi[d], 0);
    }
    x = crop(x, offsets, sizes);
    if (llvm::all_of(lo, [](int64_t p) { return p == 0; }) &&
        llvm::all_of(hi, [](int64_t p) { return p == 0; })) {
      ctx.setOutput(0, x, ctx.isUnsigned(0));
      return success();
    }
  }
  auto cropped = cast<RankedTensorType>(x.getType());
  for (int64_t d = 0; d < rank; ++d) {
    if (lo[d] == 0 && hi[d] == 0)
      continue;
    if (cropped.isDynamicDim(d)) {
      if (mode == "reflect")
        return ctx.error() << "unsupported reflect padding of dynamic dimension " << d;
      continue;
    }
    int64_t n = cropped.getDimSize(d);
    if (n == 0)
      return ctx.error() << "cannot pad empty dimension " << d << " in " << mode << " mode";
    if (mode == "reflect" && (lo[d] >= n || hi[d] >= n))
      return ctx.error() << "unsupported reflect pads (" << lo[d] << ", " << hi[d]
                         << ") not smaller than dimension " << d << " (" << n << ")";
  }
  Value out = generateTensor(b, loc, outSizes, elem, [&](OpBuilder &nb, Location l, ValueRange ivs) {
    SmallVector<Value> idx;
    for (int64_t d = 0; d < rank; ++d) {
      Value i = ivs[d];
      if (lo[d] == 0 && hi[d] == 0) {
        idx.push_back(i);
        continue;
      }
      // j = i - lo, brought into [0, n).
      Value j = arith::SubIOp::create(
          nb, l, i, arith::ConstantIndexOp::create(nb, l, lo[d]));
      Value n = tensor::DimOp::create(nb, l, x, d);
      Value zero = arith::ConstantIndexOp::create(nb, l, 0);
      Value last;
      if (mode != "wrap")
        last = arith::SubIOp::create(nb, l, n,
                                     arith::ConstantIndexOp::create(nb, l, 1));
      if (mode == "edge") {
        j = arith::MaxSIOp::create(nb, l, j, zero);
        j = arith::MinSIOp::create(nb, l, j, last);
      } else if (mode == "reflect") {
        // j < 0 -> -j; j > n - 1 -> 2 (n - 1) - j.
        Value neg = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, j, zero);
        j = arith::SelectOp::create(nb, l, neg, arith::SubIOp::create(nb, l, zero, j), j);
        Value past = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sgt, j, last);
        Value mirrored = arith::SubIOp::create(
            nb, l, arith::AddIOp::create(nb, l, last, last), j);
        j = arith::SelectOp::create(nb, l, past, mirrored, j);
      } else {
        // wrap: j mod n, made non-negative.
        j = arith::RemSIOp::create(nb, l, j, n);
        Value neg = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, j, zero);
        j = arith::SelectOp::create(nb, l, neg, arith::AddIOp::create(nb, l, j, n), j);
      }
      idx.push_back(j);
    }
    return tensor::ExtractOp::create(nb, l, x, idx).getResult();
  });
  ctx.setOutput(0, out, ctx.isUnsigned(0));
  return success();
}

/// GatherElements: out[i..] = data[i.. with index[i..] on `axis`]; the
/// output has the shape of the indices, negative indices count from the end.
LogicalResult importGatherElements(NodeContext &ctx) {
  auto dataType = ctx.inputType(0), indicesType = ctx.inputType(1);
  int64_t rank = dataType.getRank();
  if (rank < 1)
    return ctx.error() << "expects data of rank >= 1";
  if (indicesType.getRank() != rank)
    return ctx.error() << "indices have rank " << indicesType.getRank()
                       << ", expected the data's rank " << rank;
  if (!isa<IntegerType>(indicesType.getElementType()))
    return ctx.error() << "expects integer indices";
  auto axis = normalizeAxis(ctx, ctx.intAttr("axis", 0), rank);
  if (failed(axis))
    return failure();
  for (int64_t d = 0; d < rank; ++d)
    if (d != *axis && !dataType.isDynamicDim(d) && !indicesType.isDynamicDim(d) &&
        indicesType.getDimSize(d) > dataType.getDimSize(d))
      return ctx.error() << "indices dimension " << d << " (" << indicesType.getDimSize(d)
                         << ") is larger than the data's (" << dataType.getDimSize(d) << ")";
  Value data = ctx.input(0), indices = ctx.input(1);
  if (!data || !indices)
    return failure();
  OpBuilder &b = ctx.b;
  bool unsignedIndices = ctx.isUnsigned(1);
  Value init = emptyTensor(b, ctx.loc, mixedSizes(b, ctx.loc, indices), dataType.getElementType());
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  std::string site = ctx.siteName();
  Value out = linalg::GenericOp::create(
                  b, ctx.loc, TypeRange{init.getType()}, ValueRange{indices}, ValueRange{init},
                  SmallVector<AffineMap>{id, id}, iterators,
                  [&](OpBuilder &nb, Location l, ValueRange args) {
                    Value i = unsignedIndices
                                  ? arith::IndexCastUIOp::create(nb, l, nb.getIndexType(), args[0]).getResult()
                                  : arith::IndexCastOp::create(nb, l, nb.getIndexType(), args[0]).getResult();
                    // Negative indices count from the end; others out of range fail the run.
                    Value n = tensor::DimOp::create(nb, l, data, *axis);
                    i = CheckIndexOp::create(nb, l, nb.getIndexType(), i, n, site);
                    SmallVector<Value> idx;
                    for (int64_t d = 0; d < rank; ++d)
                      idx.push_back(d == *axis ? i : linalg::IndexOp::create(nb, l, d).getResult());
                    linalg::YieldOp::create(nb, l, tensor::ExtractOp::create(nb, l, data, idx).getResult());
                  })
                  .getResult(0);
  ctx.setOutput(0, out, ctx.isUnsigned(0));
  return success();
}

/// GatherND: output [indices' leading dims..., data's dims past the batch
/// and the k indexed ones] as a linalg.generic that reads each of the k
/// indices of its row, checks it against its data dimension and reads data.
LogicalResult importGatherND(NodeContext &ctx) {
  auto dataType = ctx.inputType(0), indicesType = ctx.inputType(1);
  int64_t r = dataType.getRank(), q = indicesType.getRank();
  int64_t batch = ctx.intAttr("batch_dims", 0);
  if (q < 1 || r < 1)
    return ctx.error() << "data and indices must have rank >= 1";
  int64_t k = indicesType.getDimSize(q - 1);
  if (ShapedType::isDynamic(k))
    return ctx.error() << "unsupported dynamic last dimension of indices";
  if (batch < 0 || batch >= std::min(r, q) || batch + k > r)
    return ctx.error() << "batch_dims " << batch << " with " << k
                       << " indices per row does not fit data of rank " << r
                       << " and indices of rank " << q;
  Value data = ctx.input(0), indices = ctx.input(1);
  if (!data || !indices)
    return failure();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  SmallVector<OpFoldResult> dataSizes = mixedSizes(b, loc, data);
  SmallVector<OpFoldResult> sizes = mixedSizes(b, loc, indices);
  sizes.pop_back();
  sizes.append(dataSizes.begin() + batch + k, dataSizes.end());
  int64_t rank = sizes.size();
  Value init = emptyTensor(b, loc, sizes, dataType.getElementType());
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  std::string site = ctx.siteName();
  Value out = linalg::GenericOp::create(
                  b, loc, TypeRange{init.getType()}, ValueRange{}, ValueRange{init},
                  SmallVector<AffineMap>{id}, iterators,
                  [&](OpBuilder &nb, Location l, ValueRange) {
                    SmallVector<Value> row, at;
                    for (int64_t d = 0; d < q - 1; ++d)
                      row.push_back(linalg::IndexOp::create(nb, l, d));
                    at.append(row.begin(), row.begin() + batch);
                    row.push_back(Value());
                    for (int64_t m = 0; m < k; ++m) {
                      row.back() = arith::ConstantIndexOp::create(nb, l, m);
                      Value i = tensor::ExtractOp::create(nb, l, indices, row);
                      i = arith::IndexCastOp::create(nb, l, nb.getIndexType(), i);
                      Value n = tensor::DimOp::create(nb, l, data, batch + m);
                      at.push_back(CheckIndexOp::create(nb, l, nb.getIndexType(), i, n, site));
                    }
                    for (int64_t d = q - 1; d < rank; ++d)
                      at.push_back(linalg::IndexOp::create(nb, l, d));
                    linalg::YieldOp::create(nb, l, tensor::ExtractOp::create(nb, l, data, at).getResult());
                  })
                  .getResult(0);
  ctx.setOutput(0, out, ctx.isUnsigned(0));
  return success();
}

/// The reduction attribute of ScatterElements and ScatterND.
FailureOr<std::string> scatterReduction(NodeContext &ctx) {
  std::string reduction = ctx.stringAttr("reduction", "none");
  if (reduction != "none" && reduction != "add" && reduction != "mul" && reduction != "max" &&
      reduction != "min")
    return ctx.error() << "unsupported reduction '" << reduction
                       << "' (expected none, add, mul, max or min)",
           failure();
  return reduction;
}

/// `hit` and whether the output position `at` equals the index `i`: one
/// more coordinate of a scatter's update matching the output element.
Value andIndexMatches(OpBuilder &b, Location l, Value hit, Value at, Value i) {
  return arith::AndIOp::create(b, l, hit,
                               arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, at, i));
}

/// An update `u` folded into the element `acc` by a scatter's reduction.
Value scatterCombine(OpBuilder &b, Location l, StringRef reduction, bool isUnsigned, Value acc,
                     Value u) {
  bool isFloat = isa<FloatType>(acc.getType());
  if (reduction == "add")
    return isFloat ? arith::AddFOp::create(b, l, acc, u).getResult()
                   : arith::AddIOp::create(b, l, acc, u).getResult();
  if (reduction == "mul")
    return isFloat ? arith::MulFOp::create(b, l, acc, u).getResult()
                   : arith::MulIOp::create(b, l, acc, u).getResult();
  if (reduction == "max")
    return isFloat      ? arith::MaximumFOp::create(b, l, acc, u).getResult()
           : isUnsigned ? arith::MaxUIOp::create(b, l, acc, u).getResult()
                        : arith::MaxSIOp::create(b, l, acc, u).getResult();
  if (reduction == "min")
    return isFloat      ? arith::MinimumFOp::create(b, l, acc, u).getResult()
           : isUnsigned ? arith::MinUIOp::create(b, l, acc, u).getResult()
                        : arith::MinSIOp::create(b, l, acc, u).getResult();
  return u;
}

/// Yields from a scatter's body: `acc` with `u` folded in where `hit`.
void yieldScatterFold(OpBuilder &b, Location l, StringRef reduction, bool isUnsigned, Value hit,
                      Value acc, Value u) {
  Value folded = scatterCombine(b, l, reduction, isUnsigned, acc, u);
  linalg::YieldOp::create(b, l, arith::SelectOp::create(b, l, hit, folded, acc).getResult());
}

/// ScatterElements (and Scatter, its name before opset 11) as one
/// linalg.generic over the output and the updates: each output element folds
/// in, in order, every update whose checked index lands on it (reduction
/// none keeps the last). It costs output size times update count, which
/// keeps it in linalg (no loop-carried tensor) for the small tables it meets.
LogicalResult importScatterElements(NodeContext &ctx) {
  auto dataType = ctx.inputType(0), indicesType = ctx.inputType(1);
  int64_t rank = dataType.getRank();
  auto axis = normalizeAxis(ctx, ctx.intAttr("axis", 0), rank);
  if (failed(axis))
    return failure();
  if (indicesType.getRank() != rank || ctx.inputType(2).getRank() != rank)
    return ctx.error() << "indices and updates must have the data's rank " << rank;
  FailureOr<std::string> reduction = scatterReduction(ctx);
  if (failed(reduction))
    return failure();
  Value data = ctx.input(0), indices = ctx.input(1), updates = ctx.input(2);
  if (!data || !indices || !updates)
    return failure();
  OpBuilder &b = ctx.b;
  MLIRContext *mctx = b.getContext();
  bool unsignedElems = ctx.isUnsigned(0);
  AffineMap outMap = AffineMap::getMultiDimIdentityMap(2 * rank, mctx).getMajorSubMap(rank);
  SmallVector<AffineExpr> updExprs;
  for (int64_t d = 0; d < rank; ++d)
    updExprs.push_back(getAffineDimExpr(rank + d, mctx));
  AffineMap updMap = AffineMap::get(2 * rank, 0, updExprs, mctx);
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  iterators.append(rank, utils::IteratorType::reduction);
  std::string site = ctx.siteName();
  Value out = linalg::GenericOp::create(
                  b, ctx.loc, TypeRange{data.getType()}, ValueRange{indices, updates},
                  ValueRange{data}, SmallVector<AffineMap>{updMap, updMap, outMap}, iterators,
                  [&](OpBuilder &nb, Location l, ValueRange args) {
                    Value i = arith::IndexCastOp::create(nb, l, nb.getIndexType(), args[0]);
                    Value n = tensor::DimOp::create(nb, l, data, *axis);
                    i = CheckIndexOp::create(nb, l, nb.getIndexType(), i, n, site);
                    Value hit = arith::ConstantIntOp::create(nb, l, nb.getI1Type(), 1);
                    for (int64_t d = 0; d < rank; ++d) {
                      Value o = linalg::IndexOp::create(nb, l, d);
                      Value at = d == *axis ? i : linalg::IndexOp::create(nb, l, rank + d).getResult();
                      hit = andIndexMatches(nb, l, hit, o, at);
                    }
                    yieldScatterFold(nb, l, *reduction, unsignedElems, hit, args[2], args[1]);
                  })
                  .getResult(0);
  ctx.setOutput(0, out, unsignedElems);
  return success();
}

/// ScatterND as ScatterElements is built: each output element folds in, in
/// order, every update row whose k checked indices name it (output size
/// times update rows).
LogicalResult importScatterND(NodeContext &ctx) {
  auto dataType = ctx.inputType(0), indicesType = ctx.inputType(1);
  int64_t r = dataType.getRank(), q = indicesType.getRank();
  if (q < 1 || r < 1)
    return ctx.error() << "data and indices must have rank >= 1";
  int64_t k = indicesType.getDimSize(q - 1);
  if (ShapedType::isDynamic(k))
    return ctx.error() << "unsupported dynamic last dimension of indices";
  if (k > r)
    return ctx.error() << k << " indices per row do not fit data of rank " << r;
  if (ctx.inputType(2).getRank() != q - 1 + r - k)
    return ctx.error() << "updates must have rank " << q - 1 + r - k << ", got "
                       << ctx.inputType(2).getRank();
  FailureOr<std::string> reduction = scatterReduction(ctx);
  if (failed(reduction))
    return failure();
  Value data = ctx.input(0), indices = ctx.input(1), updates = ctx.input(2);
  if (!data || !indices || !updates)
    return failure();
  OpBuilder &b = ctx.b;
  MLIRContext *mctx = b.getContext();
  bool unsignedElems = ctx.isUnsigned(0);
  int64_t loops = r + q - 1;
  AffineMap outMap = AffineMap::getMultiDimIdentityMap(loops, mctx).getMajorSubMap(r);
  SmallVector<AffineExpr> updExprs;
  for (int64_t d = 0; d < q - 1; ++d)
    updExprs.push_back(getAffineDimExpr(r + d, mctx));
  for (int64_t d = k; d < r; ++d)
    updExprs.push_back(getAffineDimExpr(d, mctx));
  AffineMap updMap = AffineMap::get(loops, 0, updExprs, mctx);
  SmallVector<utils::IteratorType> iterators(r, utils::IteratorType::parallel);
  iterators.append(q - 1, utils::IteratorType::reduction);
  std::string site = ctx.siteName();
  Value out = linalg::GenericOp::create(
                  b, ctx.loc, TypeRange{data.getType()}, ValueRange{updates}, ValueRange{data},
                  SmallVector<AffineMap>{updMap, outMap}, iterators,
                  [&](OpBuilder &nb, Location l, ValueRange args) {
                    SmallVector<Value> row;
                    for (int64_t d = 0; d < q - 1; ++d)
                      row.push_back(linalg::IndexOp::create(nb, l, r + d));
                    row.push_back(Value());
                    Value hit = arith::ConstantIntOp::create(nb, l, nb.getI1Type(), 1);
                    for (int64_t m = 0; m < k; ++m) {
                      row.back() = arith::ConstantIndexOp::create(nb, l, m);
                      Value i = tensor::ExtractOp::create(nb, l, indices, row);
                      i = arith::IndexCastOp::create(nb, l, nb.getIndexType(), i);
                      Value n = tensor::DimOp::create(nb, l, data, m);
                      i = CheckIndexOp::create(nb, l, nb.getIndexType(), i, n, site);
                      Value o = linalg::IndexOp::create(nb, l, m);
                      hit = andIndexMatches(nb, l, hit, o, i);
                    }
                    yieldScatterFold(nb, l, *reduction, unsignedElems, hit, args[1], args[0]);
                  })
                  .getResult(0);
  ctx.setOutput(0, out, unsignedElems);
  return success();
}

LogicalResult importTrilu(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  int64_t k = 0;
  if (ctx.hasInput(1)) {
    auto kv = ctx.requireConstInts(1, "k");
    if (failed(kv))
      return failure();
    k = kv->front();
  }
  bool upper = ctx.intAttr("upper", 1) != 0;
  auto type = ctx.inputType(0);
  int64_t rank = type.getRank();
  if (rank < 2)
    return ctx.error() << "expects rank >= 2";
  OpBuilder &b = ctx.b;
  Value init = emptyTensor(b, ctx.loc, mixedSizes(b, ctx.loc, x), type.getElementType());
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  Value out = linalg::GenericOp::create(
                  b, ctx.loc, TypeRange{init.getType()}, ValueRange{x}, ValueRange{init},
                  SmallVector<AffineMap>{id, id}, iterators,
                  [&](OpBuilder &nb, Location l, ValueRange args) {
                    Value i = linalg::IndexOp::create(nb, l, rank - 2);
                    Value j = linalg::IndexOp::create(nb, l, rank - 1);
                    i = arith::IndexCastOp::create(nb, l, nb.getI64Type(), i);
                    j = arith::IndexCastOp::create(nb, l, nb.getI64Type(), j);
                    Value diff = arith::SubIOp::create(nb, l, j, i);
                    Value kc = scalarConstant(nb, l, nb.getI64Type(), double(k));
                    Value keep = arith::CmpIOp::create(
                        nb, l, upper ? arith::CmpIPredicate::sge : arith::CmpIPredicate::sle, diff, kc);
                    Value zero = scalarConstant(nb, l, args[0].getType(), 0);
                    linalg::YieldOp::create(nb, l, arith::SelectOp::create(nb, l, keep, args[0], zero).getResult());
                  })
                  .getResult(0);
  ctx.setOutput(0, out, ctx.isUnsigned(0));
  return success();
}

/// `size` times or divided by `k`, folded when `size` is static.
OpFoldResult scaleSize(OpBuilder &b, Location loc, OpFoldResult size, int64_t k,
                       bool divide) {
  if (std::optional<int64_t> c = getConstantIntValue(size))
    return b.getIndexAttr(divide ? *c / k : *c * k);
  Value v = indexValue(b, loc, size);
  Value kv = arith::ConstantIndexOp::create(b, loc, k);
  if (divide)
    return arith::DivUIOp::create(b, loc, v, kv).getResult();
  return arith::MulIOp::create(b, loc, v, kv).getResult();
}

/// DepthToSpace and SpaceToDepth on [N, C, H, W] as reshape, transpose,
/// reshape (the formulas of the ONNX spec). The channel count must be static;
/// a dynamic height or width is checked at run time (compress.check_count).
template <bool ToSpace>
LogicalResult importDepthSpace(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  int64_t bs = ctx.intAttr("blocksize", 0);
  bool crd = false;
  if (ToSpace) {
    std::string mode = ctx.stringAttr("mode", "DCR");
    if (mode != "DCR" && mode != "CRD")
      return ctx.error() << "unsupported mode '" << mode << "' (expected DCR or CRD)";
    crd = mode == "CRD";
  }
  auto type = ctx.inputType(0);
  if (type.getRank() != 4)
    return ctx.error() << "expects an input of rank 4 ([N, C, H, W]), got rank "
                       << type.getRank();
  if (bs <= 0)
    return ctx.error() << "blocksize must be positive, got " << bs;
  int64_t c = type.getDimSize(1);
  if (ShapedType::isDynamic(c))
    return ctx.error() << "unsupported dynamic channel count";
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  SmallVector<OpFoldResult> in = mixedSizes(b, loc, x);
  OpFoldResult n = in[0], h = in[2], w = in[3];
  auto idx = [&](int64_t v) -> OpFoldResult { return b.getIndexAttr(v); };
  auto checkDivisible = [&](int64_t d, int64_t k, StringRef what) -> LogicalResult {
    if (!type.isDynamicDim(d) && type.getDimSize(d) % k != 0)
      return ctx.error() << what << " " << type.getDimSize(d) << " is not divisible by " << k;
    return success();
  };
  SmallVector<OpFoldResult> split, merged;
  SmallVector<int64_t> perm;
  if (ToSpace) {
    if (failed(checkDivisible(1, bs * bs, "channel count")))
      return failure();
    int64_t c2 = c / (bs * bs);
    if (crd) {
      split = {n, idx(c2), idx(bs), idx(bs), h, w};
      perm = {0, 1, 4, 2, 5, 3};
    } else {
      split = {n, idx(bs), idx(bs), idx(c2), h, w};
      perm = {0, 3, 4, 1, 5, 2};
    }
    merged = {n, idx(c2), scaleSize(b, loc, h, bs, false), scaleSize(b, loc, w, bs, false)};
  } else {
    if (failed(checkDivisible(2, bs, "height")) || failed(checkDivisible(3, bs, "width")))
      return failure();
    OpFoldResult h2 = scaleSize(b, loc, h, bs, true), w2 = scaleSize(b, loc, w, bs, true);
    if (type.isDynamicDim(2) || type.isDynamicDim(3)) {
      // A height or width known only at run time must divide too: the split
      // would drop the rows and columns past the last whole block (its shape
      // holds fewer elements than the input, so it stays in bounds until the
      // run fails naming the node).
      auto times = [&](Value acc, OpFoldResult s) -> Value {
        return arith::MulIOp::create(b, loc, acc, indexValue(b, loc, s));
      };
      Value nc = times(indexValue(b, loc, n), idx(c));
      Value total = times(times(nc, h), w);
      Value count = times(times(times(times(nc, h2), idx(bs)), w2), idx(bs));
      std::string site = ctx.siteName() +
                         ", whose height and width must be multiples of the blocksize " +
                         std::to_string(bs);
      CheckCountOp::create(b, loc, b.getI1Type(), count, total, b.getStringAttr(site));
    }
    split = {n, idx(c), h2, idx(bs), w2, idx(bs)};
    perm = {0, 3, 5, 1, 2, 4};
    merged = {n, idx(c * bs * bs), h2, w2};
  }
  Value y = reshapeTensor(b, loc, x, split);
  y = transposeTensor(b, loc, y, perm);
  ctx.setOutput(0, reshapeTensor(b, loc, y, merged), ctx.isUnsigned(0));
  return success();
}

} // namespace

void compress::appendShapeOps(llvm::SmallVectorImpl<OpTableEntry> &t) {
  constexpr int64_t kMax = 21;
  t.append({
      {"Reshape", 5, kMax, importReshape},
      {"Flatten", 9, kMax, importFlatten},
      {"Squeeze", 1, kMax, importSqueeze},
      {"Unsqueeze", 1, kMax, importUnsqueeze},
      {"Transpose", 1, kMax, importTranspose},
      {"Shape", 1, kMax, importShape},
      {"Size", 1, kMax, importSize},
      {"Concat", 4, kMax, importConcat},
      {"Slice", 1, kMax, importSlice},
      {"Split", 2, kMax, importSplit},
      {"Expand", 8, kMax, importExpand},
      {"Tile", 6, kMax, importTile},
      {"Constant", 9, kMax, importConstant},
      {"ConstantOfShape", 9, kMax, importConstantOfShape},
      {"Range", 11, kMax, importRange},
      {"Gather", 1, kMax, importGather},
      {"GatherElements", 11, kMax, importGatherElements},
      {"GatherND", 11, kMax, importGatherND},
      {"Scatter", 9, 10, importScatterElements},
      {"ScatterElements", 11, kMax, importScatterElements},
      {"ScatterND", 11, kMax, importScatterND},
      {"Pad", 2, kMax, importPad},
      {"Trilu", 14, kMax, importTrilu},
      {"DepthToSpace", 1, kMax, importDepthSpace<true>},
      {"SpaceToDepth", 1, kMax, importDepthSpace<false>},
  });
}
