// Building blocks shared by the op handlers.
#include "lib/importer/onnx/Builders.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Tensor/Utils/Utils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace compress;
using namespace mlir;
using llvm::ArrayRef;
using llvm::SmallVector;

SmallVector<OpFoldResult> compress::mixedSizes(OpBuilder &b, Location loc,
                                               Value v) {
  return tensor::getMixedSizes(b, loc, v);
}

Value compress::emptyTensor(OpBuilder &b, Location loc,
                            ArrayRef<OpFoldResult> sizes, Type elemType) {
  return tensor::EmptyOp::create(b, loc, sizes, elemType);
}

int64_t compress::product(ArrayRef<int64_t> values) {
  int64_t p = 1;
  for (int64_t v : values)
    p *= v;
  return p;
}

FailureOr<Value> compress::broadcastMap(NodeContext &ctx, ArrayRef<Value> inputs,
                                        Type resultElemType, ScalarFn fn) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  int64_t rank = 0;
  for (Value v : inputs)
    rank = std::max(rank, cast<RankedTensorType>(v.getType()).getRank());
  // Pick, for each output dimension, its extent and where it comes from.
  SmallVector<OpFoldResult> sizes(rank, b.getIndexAttr(1));
  for (int64_t d = 0; d < rank; ++d) {
    Value dynamicSource;
    int64_t dynamicDim = 0;
    int64_t staticSize = 1;
    for (Value v : inputs) {
      auto type = cast<RankedTensorType>(v.getType());
      int64_t k = d - (rank - type.getRank());
      if (k < 0)
        continue;
      int64_t size = type.getDimSize(k);
      if (ShapedType::isDynamic(size)) {
        if (!dynamicSource) {
          dynamicSource = v;
          dynamicDim = k;
        }
      } else if (size != 1) {
        if (staticSize != 1 && staticSize != size) {
          ctx.error() << "operands of shapes that do not broadcast: dimension "
                      << d << " is " << staticSize << " and " << size;
          return failure();
        }
        staticSize = size;
      }
    }
    if (staticSize != 1)
      sizes[d] = b.getIndexAttr(staticSize);
    else if (dynamicSource)
      sizes[d] = tensor::DimOp::create(b, loc, dynamicSource, dynamicDim).getResult();
  }
  SmallVector<AffineMap> maps;
  MLIRContext *mctx = b.getContext();
  for (Value v : inputs) {
    auto type = cast<RankedTensorType>(v.getType());
    SmallVector<AffineExpr> exprs;
    for (int64_t k = 0; k < type.getRank(); ++k) {
      int64_t d = k + (rank - type.getRank());
      bool stretched = type.getDimSize(k) == 1 &&
                       getConstantIntValue(sizes[d]) != std::optional<int64_t>(1);
      exprs.push_back(stretched ? getAffineConstantExpr(0, mctx)
                                : getAffineDimExpr(d, mctx));
    }
    maps.push_back(AffineMap::get(rank, 0, exprs, mctx));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, mctx));
  Value init = emptyTensor(b, loc, sizes, resultElemType);
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
      iterators, [&](OpBuilder &nb, Location l, ValueRange args) {
        Value r = fn(nb, l, args.drop_back());
        linalg::YieldOp::create(nb, l, r);
      });
  return generic.getResult(0);
}

Value compress::generateTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                               Type elemType, ScalarFn fn) {
  int64_t rank = sizes.size();
  Value init = emptyTensor(b, loc, sizes, elemType);
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, ValueRange{}, ValueRange{init},
             SmallVector<AffineMap>{id}, iterators,
             [&](OpBuilder &nb, Location l, ValueRange) {
               SmallVector<Value> indices;
               for (int64_t d = 0; d < rank; ++d)
                 indices.push_back(linalg::IndexOp::create(nb, l, d));
               linalg::YieldOp::create(nb, l, fn(nb, l, indices));
             })
      .getResult(0);
}

Value compress::mapTensor(OpBuilder &b, Location loc, Value input,
                          Type resultElemType, ScalarFn fn) {
  auto type = cast<RankedTensorType>(input.getType());
  int64_t rank = type.getRank();
  Value init = emptyTensor(b, loc, mixedSizes(b, loc, input), resultElemType);
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, ValueRange{input},
             ValueRange{init}, SmallVector<AffineMap>{id, id}, iterators,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(nb, l, fn(nb, l, args.take_front(1)));
             })
      .getResult(0);
}

Value compress::reduceAxes(OpBuilder &b, Location loc, Value input,
                           ArrayRef<int64_t> axes, bool keepDims, TypedAttr init,
                           ScalarFn combine) {
  auto type = cast<RankedTensorType>(input.getType());
  int64_t rank = type.getRank();
  SmallVector<OpFoldResult> inSizes = mixedSizes(b, loc, input);
  SmallVector<OpFoldResult> outSizes;
  SmallVector<AffineExpr> outExprs;
  SmallVector<utils::IteratorType> iterators;
  MLIRContext *ctx = b.getContext();
  for (int64_t d = 0; d < rank; ++d) {
    bool reduced = llvm::is_contained(axes, d);
    iterators.push_back(reduced ? utils::IteratorType::reduction
                                : utils::IteratorType::parallel);
    if (!reduced) {
      outSizes.push_back(inSizes[d]);
      outExprs.push_back(getAffineDimExpr(d, ctx));
    }
  }
  Value empty = emptyTensor(b, loc, outSizes, type.getElementType());
  Value initValue = arith::ConstantOp::create(b, loc, init);
  Value acc = linalg::FillOp::create(b, loc, initValue, empty).getResult(0);
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx),
                                 AffineMap::get(rank, 0, outExprs, ctx)};
  Value reduced =
      linalg::GenericOp::create(
          b, loc, TypeRange{acc.getType()}, ValueRange{input}, ValueRange{acc},
          maps, iterators,
          [&](OpBuilder &nb, Location l, ValueRange args) {
            linalg::YieldOp::create(nb, l, combine(nb, l, args));
          })
          .getResult(0);
  if (!keepDims)
    return reduced;
  SmallVector<OpFoldResult> keptSizes;
  for (int64_t d = 0; d < rank; ++d)
    keptSizes.push_back(llvm::is_contained(axes, d) ? b.getIndexAttr(1)
                                                    : inSizes[d]);
  return reshapeTensor(b, loc, reduced, keptSizes);
}

Value compress::transposeTensor(OpBuilder &b, Location loc, Value input,
                                ArrayRef<int64_t> perm) {
  SmallVector<OpFoldResult> inSizes = mixedSizes(b, loc, input);
  SmallVector<OpFoldResult> outSizes;
  for (int64_t p : perm)
    outSizes.push_back(inSizes[p]);
  Value init = emptyTensor(
      b, loc, outSizes, cast<RankedTensorType>(input.getType()).getElementType());
  return linalg::TransposeOp::create(b, loc, input, init, perm).getResult()[0];
}

Value compress::reshapeTensor(OpBuilder &b, Location loc, Value input,
                              ArrayRef<OpFoldResult> sizes) {
  auto type = cast<RankedTensorType>(input.getType());
  SmallVector<int64_t> staticShape;
  SmallVector<Value> dims;
  for (OpFoldResult s : sizes) {
    std::optional<int64_t> c = getConstantIntValue(s);
    staticShape.push_back(c ? *c : ShapedType::kDynamic);
    dims.push_back(getValueOrCreateConstantIndexOp(b, loc, s));
  }
  auto resultType = RankedTensorType::get(staticShape, type.getElementType());
  if (resultType == type)
    return input;
  Value shape = tensor::FromElementsOp::create(
      b, loc, RankedTensorType::get({int64_t(dims.size())}, b.getIndexType()),
      dims);
  return tensor::ReshapeOp::create(b, loc, resultType, input, shape);
}

FailureOr<Value> compress::broadcastTo(NodeContext &ctx, Value input,
                                       ArrayRef<OpFoldResult> sizes) {
  OpBuilder &b = ctx.b;
  auto type = cast<RankedTensorType>(input.getType());
  int64_t rank = sizes.size();
  if (type.getRank() > rank) {
    ctx.error() << "cannot broadcast rank " << type.getRank() << " to rank "
                << rank;
    return failure();
  }
  SmallVector<AffineExpr> exprs;
  MLIRContext *mctx = b.getContext();
  SmallVector<OpFoldResult> inSizes = mixedSizes(b, ctx.loc, input);
  for (int64_t k = 0; k < type.getRank(); ++k) {
    int64_t d = k + rank - type.getRank();
    std::optional<int64_t> in = getConstantIntValue(inSizes[k]);
    std::optional<int64_t> out = getConstantIntValue(sizes[d]);
    if (in && out && *in != 1 && *in != *out) {
      ctx.error() << "cannot broadcast dimension of size " << *in << " to "
                  << *out;
      return failure();
    }
    exprs.push_back(in == 1 && out != 1 ? getAffineConstantExpr(0, mctx)
                                        : getAffineDimExpr(d, mctx));
  }
  Value init = emptyTensor(b, ctx.loc, sizes, type.getElementType());
  SmallVector<AffineMap> maps = {AffineMap::get(rank, 0, exprs, mctx),
                                 AffineMap::getMultiDimIdentityMap(rank, mctx)};
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, ctx.loc, TypeRange{init.getType()}, ValueRange{input},
             ValueRange{init}, maps, iterators,
             [](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(nb, l, args[0]);
             })
      .getResult(0);
}

static bool isFloatType(Type t) { return isa<FloatType>(t); }

Value compress::addScalars(OpBuilder &b, Location l, Value x, Value y, bool) {
  return isFloatType(x.getType()) ? arith::AddFOp::create(b, l, x, y).getResult()
                                  : arith::AddIOp::create(b, l, x, y).getResult();
}
Value compress::subScalars(OpBuilder &b, Location l, Value x, Value y, bool) {
  return isFloatType(x.getType()) ? arith::SubFOp::create(b, l, x, y).getResult()
                                  : arith::SubIOp::create(b, l, x, y).getResult();
}
Value compress::mulScalars(OpBuilder &b, Location l, Value x, Value y, bool) {
  return isFloatType(x.getType()) ? arith::MulFOp::create(b, l, x, y).getResult()
                                  : arith::MulIOp::create(b, l, x, y).getResult();
}
Value compress::divScalars(OpBuilder &b, Location l, Value x, Value y, bool isUnsigned) {
  if (isFloatType(x.getType()))
    return arith::DivFOp::create(b, l, x, y);
  return isUnsigned ? arith::DivUIOp::create(b, l, x, y).getResult()
                    : arith::DivSIOp::create(b, l, x, y).getResult();
}
Value compress::maxScalars(OpBuilder &b, Location l, Value x, Value y, bool isUnsigned) {
  if (isFloatType(x.getType()))
    return arith::MaximumFOp::create(b, l, x, y);
  return isUnsigned ? arith::MaxUIOp::create(b, l, x, y).getResult()
                    : arith::MaxSIOp::create(b, l, x, y).getResult();
}
Value compress::minScalars(OpBuilder &b, Location l, Value x, Value y, bool isUnsigned) {
  if (isFloatType(x.getType()))
    return arith::MinimumFOp::create(b, l, x, y);
  return isUnsigned ? arith::MinUIOp::create(b, l, x, y).getResult()
                    : arith::MinSIOp::create(b, l, x, y).getResult();
}

Value compress::castScalar(OpBuilder &b, Location loc, Value v, Type to,
                           bool fromUnsigned, bool toUnsigned) {
  Type from = v.getType();
  if (from == to)
    return v;
  bool fromFloat = isa<FloatType>(from), toFloat = isa<FloatType>(to);
  if (fromFloat && toFloat) {
    if (from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth())
      return arith::ExtFOp::create(b, loc, to, v);
    return arith::TruncFOp::create(b, loc, to, v);
  }
  if (fromFloat) {
    if (to.isInteger(1)) {
      Value zero = scalarConstant(b, loc, from, 0.0);
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, v, zero);
    }
    if (toUnsigned)
      return arith::FPToUIOp::create(b, loc, to, v);
    return arith::FPToSIOp::create(b, loc, to, v);
  }
  if (toFloat) {
    if (fromUnsigned || from.isInteger(1))
      return arith::UIToFPOp::create(b, loc, to, v);
    return arith::SIToFPOp::create(b, loc, to, v);
  }
  if (to.isInteger(1)) {
    Value zero = scalarConstant(b, loc, from, 0.0);
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, v, zero);
  }
  unsigned fw = from.getIntOrFloatBitWidth(), tw = to.getIntOrFloatBitWidth();
  if (fw > tw)
    return arith::TruncIOp::create(b, loc, to, v);
  if (fromUnsigned || from.isInteger(1))
    return arith::ExtUIOp::create(b, loc, to, v);
  return arith::ExtSIOp::create(b, loc, to, v);
}

TypedAttr compress::scalarAttr(OpBuilder &b, Type type, double value) {
  if (isa<FloatType>(type))
    return b.getFloatAttr(type, value);
  return b.getIntegerAttr(type, APInt(type.getIntOrFloatBitWidth(),
                                      uint64_t(int64_t(value)), true, true));
}

Value compress::scalarConstant(OpBuilder &b, Location loc, Type type,
                               double value) {
  return arith::ConstantOp::create(b, loc, scalarAttr(b, type, value));
}

TypedAttr compress::lowestAttr(OpBuilder &b, Type type, bool isUnsigned) {
  if (auto f = dyn_cast<FloatType>(type))
    return b.getFloatAttr(type, APFloat::getInf(f.getFloatSemantics(), true));
  unsigned w = type.getIntOrFloatBitWidth();
  return b.getIntegerAttr(type, isUnsigned ? APInt::getMinValue(w)
                                           : APInt::getSignedMinValue(w));
}

TypedAttr compress::highestAttr(OpBuilder &b, Type type, bool isUnsigned) {
  if (auto f = dyn_cast<FloatType>(type))
    return b.getFloatAttr(type, APFloat::getInf(f.getFloatSemantics(), false));
  unsigned w = type.getIntOrFloatBitWidth();
  return b.getIntegerAttr(type, isUnsigned ? APInt::getMaxValue(w)
                                           : APInt::getSignedMaxValue(w));
}

FailureOr<int64_t> compress::normalizeAxis(NodeContext &ctx, int64_t axis,
                                           int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1)) {
    ctx.error() << "axis " << axis << " is out of range for rank " << rank;
    return failure();
  }
  return axis < 0 ? axis + rank : axis;
}

Value compress::reducedCount(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> axes,
                             Type type) {
  auto t = cast<RankedTensorType>(input.getType());
  int64_t staticCount = 1;
  Value dynamicCount;
  for (int64_t a : axes) {
    if (!t.isDynamicDim(a)) {
      staticCount *= t.getDimSize(a);
      continue;
    }
    Value d = tensor::DimOp::create(b, loc, input, a);
    dynamicCount = dynamicCount ? arith::MulIOp::create(b, loc, dynamicCount, d).getResult() : d;
  }
  if (!dynamicCount)
    return scalarConstant(b, loc, type, double(staticCount));
  Value n = arith::IndexCastOp::create(b, loc, b.getI64Type(), dynamicCount);
  if (staticCount != 1)
    n = arith::MulIOp::create(b, loc, n,
                              scalarConstant(b, loc, b.getI64Type(), double(staticCount)));
  return castScalar(b, loc, n, type, /*fromUnsigned=*/false, /*toUnsigned=*/false);
}
