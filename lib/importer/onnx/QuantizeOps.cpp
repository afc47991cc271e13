// Already-quantized models: QuantizeLinear, DequantizeLinear,
// DynamicQuantizeLinear and MatMulInteger as arithmetic on tensors,
// QLinearMatMul with their exact numerics; DequantizeLinear of a constant
// weight and onnxruntime's MatMulNBits as compress.quantized_linear;
// onnxruntime's DynamicQuantizeMatMul.
#include "lib/importer/onnx/QuantizeOps.h"
#include "lib/importer/onnx/Builders.h"

#include "dialects/compress/IR/CompressOps.h"

#include <cmath>
#include <cstring>

using namespace compress;
using namespace mlir;
using llvm::SmallVector;

int64_t DequantizedConstant::paramIndex(int64_t i) const {
  if (paramShape.empty())
    return 0;
  int64_t inner = product(ArrayRef(shape).drop_front(axis + 1));
  int64_t d = shape[axis], c = (i / inner) % d;
  if (!blockSize)
    return c;
  int64_t outer = i / (inner * d), blocks = paramShape[axis];
  return (outer * blocks + c / blockSize) * inner + i % inner;
}

onnx::TensorProto compress::dequantizedTensor(const DequantizedConstant &c) {
  onnx::TensorProto t;
  t.set_name(c.name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : c.shape)
    t.add_dims(d);
  int64_t n = product(c.shape);
  std::string raw(n * 4, '\0');
  for (int64_t i = 0; i < n; ++i) {
    int64_t q;
    if (c.codeType == onnx::TensorProto::INT32) {
      int32_t v;
      memcpy(&v, c.codes.data() + 4 * i, 4);
      q = v;
    } else {
      q = c.codeType == onnx::TensorProto::UINT8 ? int64_t(uint8_t(c.codes[i]))
                                                 : int64_t(int8_t(c.codes[i]));
    }
    int64_t p = c.paramIndex(i);
    // As onnxruntime: the difference in integers, one rounding to float, one product.
    float f = float(q - (c.zeroPoints.empty() ? 0 : c.zeroPoints[p])) * c.scales[p];
    memcpy(raw.data() + 4 * i, &f, 4);
  }
  t.set_raw_data(std::move(raw));
  return t;
}

namespace {

/// The ONNX element type of input i (INT8 vs UINT8 from the importer's flag).
int32_t onnxTypeOf(NodeContext &ctx, unsigned i) {
  auto type = ctx.inputType(i);
  Type e = type.getElementType();
  bool u = ctx.isUnsigned(i);
  if (e.isInteger(8))
    return u ? onnx::TensorProto::UINT8 : onnx::TensorProto::INT8;
  if (e.isInteger(16))
    return u ? onnx::TensorProto::UINT16 : onnx::TensorProto::INT16;
  if (e.isInteger(32))
    return u ? onnx::TensorProto::UINT32 : onnx::TensorProto::INT32;
  if (e.isF32())
    return onnx::TensorProto::FLOAT;
  return onnx::TensorProto::UNDEFINED;
}

/// How the scale (and zero point) of a (De)QuantizeLinear maps onto its
/// input: per tensor, per index of `axis`, or per block along `axis`.
struct QuantAxes {
  int64_t axis = 0, blockSize = 0;
  bool perTensor = true;
  AffineMap map; // from the input's loops to the parameter's indices
};

/// Reads `axis` and `block_size` and checks the parameter's shape against
/// the input's (ONNX opset 21 rules; a 1-element 1-D scale is per tensor).
FailureOr<QuantAxes> quantAxes(NodeContext &ctx, RankedTensorType x, RankedTensorType param) {
  QuantAxes q;
  int64_t rawAxis = ctx.intAttr("axis", 1);
  q.blockSize = ctx.opset >= 21 ? ctx.intAttr("block_size", 0) : 0;
  MLIRContext *mctx = ctx.b.getContext();
  int64_t rank = x.getRank();
  if (q.blockSize < 0)
    return ctx.error() << "block_size must not be negative, got " << q.blockSize, failure();
  bool scalar =
      param.getRank() == 0 || (param.getRank() == 1 && param.getDimSize(0) == 1 && !q.blockSize);
  if (scalar) {
    q.map = AffineMap::get(rank, 0,
                           param.getRank() ? SmallVector<AffineExpr>{getAffineConstantExpr(0, mctx)}
                                           : SmallVector<AffineExpr>{},
                           mctx);
    return q;
  }
  FailureOr<int64_t> axis = normalizeAxis(ctx, rawAxis, rank);
  if (failed(axis))
    return failure();
  q.axis = *axis;
  q.perTensor = false;
  int64_t d = x.getDimSize(q.axis);
  if (!q.blockSize) {
    if (param.getRank() != 1 || (!ShapedType::isDynamic(d) && param.getDimSize(0) != d))
      return ctx.error() << "a per-axis scale must be 1-D of size " << d << " (axis " << q.axis
                         << "), got " << param,
             failure();
    q.map = AffineMap::get(rank, 0, {getAffineDimExpr(q.axis, mctx)}, mctx);
    return q;
  }
  if (param.getRank() != rank)
    return ctx.error() << "a blocked scale must have the input's rank " << rank << ", got "
                       << param,
           failure();
  SmallVector<AffineExpr> exprs;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t xd = x.getDimSize(i), pd = param.getDimSize(i);
    if (i == q.axis) {
      if (!ShapedType::isDynamic(xd) && pd != (xd + q.blockSize - 1) / q.blockSize)
        return ctx.error() << "a scale blocked by " << q.blockSize << " along axis " << q.axis
                           << " needs " << (xd + q.blockSize - 1) / q.blockSize
                           << " entries there, got " << param,
               failure();
      exprs.push_back(getAffineDimExpr(i, mctx).floorDiv(q.blockSize));
    } else {
      if (!ShapedType::isDynamic(xd) && pd != xd)
        return ctx.error() << "a blocked scale must match the input outside axis " << q.axis
                           << ", got " << param << " for " << x,
               failure();
      exprs.push_back(getAffineDimExpr(i, mctx));
    }
  }
  q.map = AffineMap::get(rank, 0, exprs, mctx);
  return q;
}

/// How a zero point is read: as the scale is, or, when only the two shapes
/// of one element differ ([] and [1], as onnxruntime's quantizer writes
/// them), at its single element. Null when they do not fit.
AffineMap zeroPointMap(const QuantAxes &axes, RankedTensorType scale, RankedTensorType zp,
                       int64_t rank) {
  if (zp.getShape() == scale.getShape())
    return axes.map;
  if (!zp.hasStaticShape() || zp.getNumElements() != 1 || !scale.hasStaticShape() ||
      scale.getNumElements() != 1 || zp.getRank() > 1)
    return AffineMap();
  MLIRContext *ctx = zp.getContext();
  return zp.getRank() ? AffineMap::get(rank, 0, {getAffineConstantExpr(0, ctx)}, ctx)
                      : AffineMap::get(rank, 0, {}, ctx);
}

/// A linalg.generic over `x`'s shape reading `x` and the parameters through
/// `paramMaps`, with `fn(x, params...)` per element.
Value mapWithParams(OpBuilder &b, Location loc, Value x, ArrayRef<Value> params,
                    ArrayRef<AffineMap> paramMaps, Type elemType, ScalarFn fn) {
  auto xType = cast<RankedTensorType>(x.getType());
  int64_t rank = xType.getRank();
  Value init = emptyTensor(b, loc, mixedSizes(b, loc, x), elemType);
  SmallVector<Value> inputs = {x};
  inputs.append(params.begin(), params.end());
  AffineMap id = b.getMultiDimIdentityMap(rank);
  SmallVector<AffineMap> maps = {id};
  maps.append(paramMaps.begin(), paramMaps.begin() + params.size());
  maps.push_back(id);
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  return linalg::GenericOp::create(b, loc, TypeRange{init.getType()}, inputs, ValueRange{init},
                                   maps, iterators,
                                   [&](OpBuilder &nb, Location l, ValueRange args) {
                                     linalg::YieldOp::create(nb, l, fn(nb, l, args.drop_back()));
                                   })
      .getResult(0);
}

/// The range of an integer type of `bits` bits.
std::pair<double, double> intRange(unsigned bits, bool isUnsigned) {
  if (isUnsigned)
    return {0.0, std::ldexp(1.0, bits) - 1};
  return {-std::ldexp(1.0, bits - 1), std::ldexp(1.0, bits - 1) - 1};
}

/// saturate(round_half_even(x / scale) + zero_point) as an integer of
/// `outType`: what QuantizeLinear computes, in the scale's float type.
Value quantizeScalar(OpBuilder &b, Location l, Value x, Value scale, Value zp, bool zpUnsigned,
                     IntegerType outType, bool outUnsigned) {
  Type f = scale.getType();
  if (x.getType() != f)
    x = castScalar(b, l, x, f, false, false);
  Value v = math::RoundEvenOp::create(b, l, arith::DivFOp::create(b, l, x, scale));
  if (zp)
    v = arith::AddFOp::create(b, l, v, castScalar(b, l, zp, f, zpUnsigned, false));
  auto [lo, hi] = intRange(outType.getWidth(), outUnsigned);
  v = arith::MaximumFOp::create(b, l, v, scalarConstant(b, l, f, lo));
  v = arith::MinimumFOp::create(b, l, v, scalarConstant(b, l, f, hi));
  Value wide = arith::FPToSIOp::create(b, l, b.getI32Type(), v);
  return outType.getWidth() == 32 ? wide : arith::TruncIOp::create(b, l, outType, wide).getResult();
}

/// (x - zero_point) * scale: the difference in 32-bit integers, as onnxruntime.
Value dequantizeScalar(OpBuilder &b, Location l, Value x, bool xUnsigned, Value zp, bool zpUnsigned,
                       Value scale) {
  Type i32 = b.getI32Type();
  auto widen = [&](Value v, bool u) -> Value {
    if (v.getType() == i32)
      return v;
    return u ? arith::ExtUIOp::create(b, l, i32, v).getResult()
             : arith::ExtSIOp::create(b, l, i32, v).getResult();
  };
  Value d = widen(x, xUnsigned);
  if (zp)
    d = arith::SubIOp::create(b, l, d, widen(zp, zpUnsigned));
  Value f = arith::SIToFPOp::create(b, l, scale.getType(), d);
  return arith::MulFOp::create(b, l, f, scale);
}

LogicalResult importQuantizeLinear(NodeContext &ctx) {
  auto xType = ctx.inputType(0), sType = ctx.inputType(1);
  if (!isa<FloatType>(xType.getElementType()) || !isa<FloatType>(sType.getElementType()))
    return ctx.error() << "unsupported: x and y_scale must be floating point, got "
                       << xType.getElementType() << " and " << sType.getElementType();
  // The output type: the zero point's, else output_dtype (opset 21), else uint8.
  int32_t outType = onnx::TensorProto::UINT8;
  if (ctx.opset >= 21)
    outType = ctx.intAttr("output_dtype", 0) ? ctx.intAttr("output_dtype", 0) : outType;
  if (ctx.hasInput(2)) {
    int32_t zpType = onnxTypeOf(ctx, 2);
    if (ctx.opset >= 21 && ctx.hasAttr("output_dtype") && ctx.intAttr("output_dtype", 0) &&
        ctx.intAttr("output_dtype", 0) != zpType)
      return ctx.error() << "output_dtype " << onnxTypeName(ctx.intAttr("output_dtype", 0))
                         << " differs from the zero point's type " << onnxTypeName(zpType);
    outType = zpType;
  }
  if (outType != onnx::TensorProto::UINT8 && outType != onnx::TensorProto::INT8 &&
      outType != onnx::TensorProto::UINT16 && outType != onnx::TensorProto::INT16)
    return ctx.error() << "unsupported output type " << onnxTypeName(outType)
                       << " (int8, uint8, int16 and uint16 are supported)";
  if (ctx.opset >= 19)
    (void)ctx.intAttr("saturate", 1); // applies to float8 outputs only
  FailureOr<QuantAxes> axes = quantAxes(ctx, xType, sType);
  if (failed(axes))
    return failure();
  AffineMap zpMap =
      ctx.hasInput(2) ? zeroPointMap(*axes, sType, ctx.inputType(2), xType.getRank()) : axes->map;
  if (!zpMap)
    return ctx.error() << "y_zero_point " << ctx.inputType(2) << " must have y_scale's shape "
                       << sType;
  Value x = ctx.input(0), s = ctx.input(1);
  Value zp = ctx.hasInput(2) ? ctx.input(2) : Value();
  if (!x || !s || (ctx.hasInput(2) && !zp))
    return failure();
  bool outUnsigned = isUnsignedOnnxType(outType), zpUnsigned = ctx.hasInput(2) && ctx.isUnsigned(2);
  auto intType = ctx.b.getIntegerType(onnxElementSize(outType) * 8);
  SmallVector<Value> params = {s};
  if (zp)
    params.push_back(zp);
  Value y = mapWithParams(ctx.b, ctx.loc, x, params, {axes->map, zpMap}, intType,
                          [&](OpBuilder &b, Location l, ValueRange a) {
                            return quantizeScalar(b, l, a[0], a[1], zp ? a[2] : Value(), zpUnsigned,
                                                  intType, outUnsigned);
                          });
  ctx.setOutput(0, y, outUnsigned);
  return success();
}

/// A DequantizeLinear whose inputs are all constants: kept as codes.
FailureOr<bool> dequantizeConstant(NodeContext &ctx, const QuantAxes &axes) {
  const onnx::TensorProto *codes = ctx.constTensor(0);
  const onnx::TensorProto *scales = ctx.constTensor(1);
  int32_t codeType = codes ? codes->data_type() : 0;
  if (!codes || !scales || scales->data_type() != onnx::TensorProto::FLOAT ||
      (codeType != onnx::TensorProto::INT8 && codeType != onnx::TensorProto::UINT8 &&
       codeType != onnx::TensorProto::INT32) ||
      !ctx.inputType(0).hasStaticShape() || (ctx.hasInput(2) && !ctx.constTensor(2)))
    return false;
  auto c = std::make_shared<DequantizedConstant>();
  c->name = ctx.node.output(0);
  c->codeType = codeType;
  c->shape = SmallVector<int64_t>(ctx.inputType(0).getShape());
  c->paramShape =
      axes.perTensor ? SmallVector<int64_t>() : SmallVector<int64_t>(ctx.inputType(1).getShape());
  c->axis = axes.axis;
  c->blockSize = axes.blockSize;
  std::optional<std::vector<char>> bytes = ctx.constBytes(0);
  std::optional<std::vector<double>> s = ctx.constFloats(1);
  if (!bytes || !s)
    return failure();
  c->codes = std::move(*bytes);
  c->scales.assign(s->begin(), s->end());
  if (ctx.hasInput(2)) {
    std::optional<std::vector<char>> zp = ctx.constBytes(2);
    if (!zp)
      return failure();
    bool u = ctx.isUnsigned(2);
    int64_t size = onnxElementSize(ctx.constTensor(2)->data_type());
    for (size_t i = 0; i < zp->size(); i += size) {
      int64_t v = 0;
      if (size == 1)
        v = u ? int64_t(uint8_t((*zp)[i])) : int64_t(int8_t((*zp)[i]));
      else {
        int32_t w;
        memcpy(&w, zp->data() + i, 4);
        v = w;
      }
      c->zeroPoints.push_back(v);
    }
    if (llvm::all_of(c->zeroPoints, [](int64_t v) { return v == 0; }) &&
        codeType != onnx::TensorProto::UINT8)
      c->zeroPoints.clear();
  }
  ImportedValue v;
  v.type = RankedTensorType::get(c->shape, ctx.b.getF32Type());
  v.dequantized = std::move(c);
  ctx.importer.values[ctx.node.output(0)] = std::move(v);
  return true;
}

LogicalResult importDequantizeLinear(NodeContext &ctx) {
  auto xType = ctx.inputType(0), sType = ctx.inputType(1);
  Type e = xType.getElementType();
  if (!e.isInteger(8) && !e.isInteger(16) && !e.isInteger(32))
    return ctx.error() << "unsupported input type " << e
                       << " (int8, uint8, int16, uint16 and int32 are supported)";
  if (!isa<FloatType>(sType.getElementType()))
    return ctx.error() << "x_scale must be floating point, got " << sType.getElementType();
  if (ctx.hasInput(2)) {
    if (ctx.inputType(2).getElementType() != e || ctx.isUnsigned(2) != ctx.isUnsigned(0))
      return ctx.error() << "x_zero_point's type differs from x's";
  }
  FailureOr<QuantAxes> axes = quantAxes(ctx, xType, sType);
  if (failed(axes))
    return failure();
  AffineMap zpMap =
      ctx.hasInput(2) ? zeroPointMap(*axes, sType, ctx.inputType(2), xType.getRank()) : axes->map;
  if (!zpMap)
    return ctx.error() << "x_zero_point " << ctx.inputType(2) << " must have x_scale's shape "
                       << sType;
  FailureOr<bool> folded = dequantizeConstant(ctx, *axes);
  if (failed(folded))
    return failure();
  if (*folded)
    return success();
  Value x = ctx.input(0), s = ctx.input(1);
  Value zp = ctx.hasInput(2) ? ctx.input(2) : Value();
  if (!x || !s || (ctx.hasInput(2) && !zp))
    return failure();
  bool xUnsigned = ctx.isUnsigned(0), zpUnsigned = ctx.hasInput(2) && ctx.isUnsigned(2);
  SmallVector<Value> params = {s};
  if (zp)
    params.push_back(zp);
  Value y = mapWithParams(ctx.b, ctx.loc, x, params, {axes->map, zpMap}, sType.getElementType(),
                          [&](OpBuilder &b, Location l, ValueRange a) {
                            return dequantizeScalar(b, l, a[0], xUnsigned, zp ? a[2] : Value(),
                                                    zpUnsigned, a[1]);
                          });
  ctx.setOutput(0, y);
  return success();
}

/// DynamicQuantizeLinear's three results for a float32 `x`: uint8 codes, the
/// scale and the zero point (rank 0), exactly as the ONNX reference.
struct DynamicQuantized {
  Value codes, scale, zeroPoint;
};
FailureOr<DynamicQuantized> dynamicQuantize(NodeContext &ctx, Value x) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  auto xType = cast<RankedTensorType>(x.getType());
  if (!xType.getElementType().isF32())
    return ctx.error() << "unsupported: x must be float32, got " << xType.getElementType(),
           failure();
  Type f32 = b.getF32Type(), i8 = b.getIntegerType(8);
  SmallVector<int64_t> all = llvm::to_vector(llvm::seq<int64_t>(0, xType.getRank()));
  // The range always holds 0, so that 0 is exact.
  Value lo = reduceAxes(b, loc, x, all, false, b.getF32FloatAttr(0),
                        [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                          return arith::MinimumFOp::create(nb, l, a[0], a[1]);
                        });
  Value hi = reduceAxes(b, loc, x, all, false, b.getF32FloatAttr(0),
                        [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                          return arith::MaximumFOp::create(nb, l, a[0], a[1]);
                        });
  FailureOr<Value> scale =
      broadcastMap(ctx, {lo, hi}, f32, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value range = arith::SubFOp::create(nb, l, a[1], a[0]);
        return arith::DivFOp::create(nb, l, range, scalarConstant(nb, l, f32, 255.0));
      });
  if (failed(scale))
    return failure();
  FailureOr<Value> zp =
      broadcastMap(ctx, {lo, *scale}, i8, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value neg = arith::NegFOp::create(nb, l, arith::DivFOp::create(nb, l, a[0], a[1]));
        Value r = math::RoundEvenOp::create(nb, l, neg);
        r = arith::MaximumFOp::create(nb, l, r, scalarConstant(nb, l, f32, 0));
        r = arith::MinimumFOp::create(nb, l, r, scalarConstant(nb, l, f32, 255));
        return arith::TruncIOp::create(nb, l, i8,
                                       arith::FPToSIOp::create(nb, l, nb.getI32Type(), r));
      });
  if (failed(zp))
    return failure();
  auto i8Type = cast<IntegerType>(i8);
  FailureOr<Value> codes = broadcastMap(
      ctx, {x, *scale, *zp}, i8, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        return quantizeScalar(nb, l, a[0], a[1], a[2], /*zpUnsigned=*/true, i8Type, true);
      });
  if (failed(codes))
    return failure();
  return DynamicQuantized{*codes, *scale, *zp};
}

LogicalResult importDynamicQuantizeLinear(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  FailureOr<DynamicQuantized> q = dynamicQuantize(ctx, x);
  if (failed(q))
    return failure();
  ctx.setOutput(0, q->codes, /*isUnsigned=*/true);
  ctx.setOutput(1, q->scale);
  ctx.setOutput(2, q->zeroPoint, /*isUnsigned=*/true);
  return success();
}

/// An 8-bit operand of an integer product as int32 less its zero point:
/// `zp` is a scalar (rank 0 or one element) or, with `perRow`, one per row
/// of a [..., M, K] operand.
FailureOr<Value> centred(NodeContext &ctx, Value v, bool vUnsigned, unsigned zpInput, bool perRow) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Type i32 = b.getI32Type();
  auto vType = cast<RankedTensorType>(v.getType());
  if (!vType.getElementType().isInteger(8))
    return ctx.error() << "unsupported operand type " << vType.getElementType()
                       << " (int8 and uint8 are supported)",
           failure();
  auto widen = [&](OpBuilder &nb, Location l, Value x, bool u) -> Value {
    return u ? arith::ExtUIOp::create(nb, l, i32, x).getResult()
             : arith::ExtSIOp::create(nb, l, i32, x).getResult();
  };
  if (!ctx.hasInput(zpInput))
    return mapTensor(b, loc, v, i32, [&](OpBuilder &nb, Location l, ValueRange a) {
      return widen(nb, l, a[0], vUnsigned);
    });
  auto zpType = ctx.inputType(zpInput);
  if (zpType.getElementType() != vType.getElementType() || ctx.isUnsigned(zpInput) != vUnsigned)
    return ctx.error() << "unsupported: zero point " << zpInput
                       << " has another type than its operand",
           failure();
  Value zp = ctx.input(zpInput);
  if (!zp)
    return failure();
  int64_t rank = vType.getRank();
  bool scalar = zpType.getRank() == 0 || (zpType.getRank() == 1 && zpType.getDimSize(0) == 1);
  if (!scalar) {
    int64_t along = perRow ? rank - 2 : rank - 1;
    if (zpType.getRank() != 1 || rank < 2 || zpType.isDynamicDim(0) ||
        zpType.getDimSize(0) != vType.getDimSize(along))
      return ctx.error() << "unsupported zero point " << zpType << " for an operand " << vType
                         << " (a scalar or one per " << (perRow ? "row" : "column") << ")",
             failure();
    if (perRow)
      zp = reshapeTensor(b, loc, zp, {b.getIndexAttr(zpType.getDimSize(0)), b.getIndexAttr(1)});
  }
  return broadcastMap(ctx, {v, zp}, i32, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
    return arith::SubIOp::create(nb, l, widen(nb, l, a[0], vUnsigned),
                                 widen(nb, l, a[1], vUnsigned));
  });
}

LogicalResult importMatMulInteger(NodeContext &ctx) {
  Value a = ctx.input(0), b = ctx.input(1);
  if (!a || !b)
    return failure();
  FailureOr<Value> a32 = centred(ctx, a, ctx.isUnsigned(0), 2, /*perRow=*/true);
  if (failed(a32))
    return failure();
  FailureOr<Value> b32 = centred(ctx, b, ctx.isUnsigned(1), 3, /*perRow=*/false);
  if (failed(b32))
    return failure();
  FailureOr<Value> y = batchedMatmul(ctx, *a32, *b32);
  if (failed(y))
    return failure();
  ctx.setOutput(0, *y);
  return success();
}

/// QLinearMatMul: the integer product of the centred operands, rescaled by
/// a_scale * b_scale / y_scale in double precision (as the ONNX reference),
/// rounded half to even and saturated to y_zero_point's type.
LogicalResult importQLinearMatMul(NodeContext &ctx) {
  Value a = ctx.input(0), bMat = ctx.input(3);
  Value aScale = ctx.input(1), bScale = ctx.input(4), yScale = ctx.input(6), yZp = ctx.input(7);
  if (!a || !bMat || !aScale || !bScale || !yScale || !yZp)
    return failure();
  for (unsigned i : {1u, 4u, 6u})
    if (!ctx.inputType(i).getElementType().isF32())
      return ctx.error() << "unsupported: scale " << i << " must be float32, got "
                         << ctx.inputType(i).getElementType();
  auto yzType = ctx.inputType(7);
  if (!yzType.getElementType().isInteger(8) || yzType.getNumElements() != 1)
    return ctx.error() << "unsupported y_zero_point " << yzType << " (one int8 or uint8)";
  FailureOr<Value> a32 = centred(ctx, a, ctx.isUnsigned(0), 2, /*perRow=*/true);
  if (failed(a32))
    return failure();
  FailureOr<Value> b32 = centred(ctx, bMat, ctx.isUnsigned(3), 5, /*perRow=*/false);
  if (failed(b32))
    return failure();
  FailureOr<Value> acc = batchedMatmul(ctx, *a32, *b32);
  if (failed(acc))
    return failure();
  bool outUnsigned = ctx.isUnsigned(7);
  auto i8 = ctx.b.getIntegerType(8);
  FailureOr<Value> y = broadcastMap(
      ctx, {*acc, aScale, bScale, yScale, yZp}, i8,
      [&](OpBuilder &nb, Location l, ValueRange v) -> Value {
        Type f64 = nb.getF64Type();
        Value s = arith::DivFOp::create(nb, l, arith::MulFOp::create(nb, l, v[1], v[2]), v[3]);
        Value d = arith::MulFOp::create(nb, l, arith::SIToFPOp::create(nb, l, f64, v[0]),
                                        arith::ExtFOp::create(nb, l, f64, s));
        d = arith::AddFOp::create(nb, l, d, castScalar(nb, l, v[4], f64, outUnsigned, false));
        d = math::RoundEvenOp::create(nb, l, d);
        auto [lo, hi] = intRange(8, outUnsigned);
        d = arith::MaximumFOp::create(nb, l, d, scalarConstant(nb, l, f64, lo));
        d = arith::MinimumFOp::create(nb, l, d, scalarConstant(nb, l, f64, hi));
        return arith::TruncIOp::create(nb, l, i8,
                                       arith::FPToSIOp::create(nb, l, nb.getI32Type(), d));
      });
  if (failed(y))
    return failure();
  ctx.setOutput(0, *y, outUnsigned);
  return success();
}

/// com.microsoft DynamicQuantizeMatMul: A quantized as DynamicQuantizeLinear
/// does, the integer product with B, times a_scale * b_scale, plus bias.
LogicalResult importDynamicQuantizeMatMul(NodeContext &ctx) {
  Value a = ctx.input(0), bMat = ctx.input(1), bScale = ctx.input(2);
  if (!a || !bMat || !bScale)
    return failure();
  auto bType = ctx.inputType(1), sType = ctx.inputType(2);
  if (!sType.getElementType().isF32())
    return ctx.error() << "unsupported: b_scale must be float32, got " << sType.getElementType();
  int64_t n = bType.getDimSize(bType.getRank() - 1);
  bool scalarScale = sType.getNumElements() == 1;
  if (!scalarScale && (sType.getRank() != 1 || sType.getDimSize(0) != n))
    return ctx.error() << "unsupported b_scale " << sType << " (a scalar or one per column)";
  FailureOr<DynamicQuantized> q = dynamicQuantize(ctx, a);
  if (failed(q))
    return failure();
  // a's zero point: a rank-0 run-time value, subtracted elementwise.
  OpBuilder &b = ctx.b;
  Type i32 = b.getI32Type(), f32 = b.getF32Type();
  FailureOr<Value> a32 = broadcastMap(
      ctx, {q->codes, q->zeroPoint}, i32, [&](OpBuilder &nb, Location l, ValueRange v) -> Value {
        return arith::SubIOp::create(nb, l, arith::ExtUIOp::create(nb, l, i32, v[0]),
                                     arith::ExtUIOp::create(nb, l, i32, v[1]));
      });
  if (failed(a32))
    return failure();
  FailureOr<Value> b32 = centred(ctx, bMat, ctx.isUnsigned(1), 3, /*perRow=*/false);
  if (failed(b32))
    return failure();
  FailureOr<Value> acc = batchedMatmul(ctx, *a32, *b32);
  if (failed(acc))
    return failure();
  SmallVector<Value> inputs = {*acc, q->scale, bScale};
  if (ctx.hasInput(4)) {
    if (!ctx.inputType(4).getElementType().isF32())
      return ctx.error() << "unsupported: bias must be float32";
    inputs.push_back(ctx.input(4));
    if (!inputs.back())
      return failure();
  }
  FailureOr<Value> y =
      broadcastMap(ctx, inputs, f32, [&](OpBuilder &nb, Location l, ValueRange v) -> Value {
        Value scale = arith::MulFOp::create(nb, l, v[1], v[2]);
        Value r = arith::MulFOp::create(nb, l, arith::SIToFPOp::create(nb, l, f32, v[0]), scale);
        return v.size() > 3 ? arith::AddFOp::create(nb, l, r, v[3]).getResult() : r;
      });
  if (failed(y))
    return failure();
  ctx.setOutput(0, *y);
  return success();
}

/// Packs [N, K] 8-bit codes for compress.quantized_linear: one per byte, or
/// two per byte (low nibble first) at 4 bits.
std::vector<char> packCodes(ArrayRef<uint8_t> codes, int64_t n, int64_t k, int64_t bits) {
  if (bits == 8)
    return std::vector<char>(codes.begin(), codes.end());
  int64_t rowBytes = (k + 1) / 2;
  std::vector<char> out(n * rowBytes, 0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c)
      out[r * rowBytes + c / 2] |= char((codes[r * k + c] & 0xF) << (4 * (c % 2)));
  return out;
}

Value quantizedLinearOp(NodeContext &ctx, Value x, StringRef key, int64_t n, int64_t k,
                        int64_t bits, int64_t group, ArrayRef<char> weight, ArrayRef<float> scales,
                        std::optional<ArrayRef<char>> zeroPoints, Value bias,
                        RankedTensorType resultType) {
  MLIRContext *mctx = ctx.b.getContext();
  int64_t groups = (k + group - 1) / group;
  auto i8 = IntegerType::get(mctx, 8);
  int64_t rowBytes = bits == 8 ? k : (k + 1) / 2;
  Value w = ctx.importer.createConstant((key + "|codes").str(),
                                        RankedTensorType::get({n, rowBytes}, i8), weight, ctx.loc);
  auto paramType = RankedTensorType::get({n, groups}, Float32Type::get(mctx));
  Value s = ctx.importer.createConstant(
      (key + "|scales").str(), paramType,
      ArrayRef<char>(reinterpret_cast<const char *>(scales.data()), scales.size() * 4), ctx.loc);
  Value zp;
  if (zeroPoints)
    zp = ctx.importer.createConstant((key + "|zero_points").str(),
                                     RankedTensorType::get({n, groups}, i8), *zeroPoints, ctx.loc);
  return QuantizedLinearOp::create(ctx.b, ctx.loc, resultType, x, w, s, zp, bias, bits, group, k,
                                   /*int8_activations=*/false);
}

LogicalResult importMatMulNBits(NodeContext &ctx) {
  int64_t k = ctx.intAttr("K", -1), n = ctx.intAttr("N", -1), bits = ctx.intAttr("bits", 4);
  int64_t block = ctx.intAttr("block_size", -1);
  // A hint on the precision the product may use; we keep float activations.
  (void)ctx.intAttr("accuracy_level", 0);
  if (k < 1 || n < 1 || block < 1)
    return ctx.error() << "needs positive K, N and block_size attributes";
  if (bits != 4 && bits != 8)
    return ctx.error() << "unsupported bits = " << bits << " (4 and 8 are supported)";
  if (ctx.hasInput(4))
    return ctx.error() << "unsupported input g_idx (act-order group indices)";
  Value a = ctx.input(0);
  if (!a)
    return failure();
  auto aType = ctx.inputType(0);
  if (!aType.getElementType().isF32() || aType.getRank() < 1 ||
      !ctx.inputType(2).getElementType().isF32())
    return ctx.error() << "unsupported: A and scales must be float32, got "
                       << aType.getElementType() << " and " << ctx.inputType(2).getElementType();
  if (!aType.isDynamicDim(aType.getRank() - 1) && aType.getShape().back() != k)
    return ctx.error() << "A's last dimension is " << aType.getShape().back() << ", not K = " << k;
  int64_t blocks = (k + block - 1) / block, blob = block * bits / 8;
  std::optional<std::vector<char>> bBytes = ctx.constBytes(1);
  std::optional<std::vector<double>> scales = ctx.constFloats(2);
  if (!bBytes || !scales)
    return ctx.error() << "unsupported: B and scales must be constants";
  if (int64_t(bBytes->size()) != n * blocks * blob || int64_t(scales->size()) != n * blocks)
    return ctx.error() << "B has " << bBytes->size() << " bytes and scales " << scales->size()
                       << " values; N = " << n << ", K = " << k << ", block_size = " << block
                       << " need " << n * blocks * blob << " and " << n * blocks;
  // Codes are unsigned; the zero point defaults to the middle of their range.
  std::vector<char> zps(n * blocks, char(1 << (bits - 1)));
  if (ctx.hasInput(3)) {
    const onnx::TensorProto *zt = ctx.constTensor(3);
    if (!zt || zt->data_type() != onnx::TensorProto::UINT8)
      return ctx.error() << "unsupported zero_points: only packed uint8 constants are supported"
                         << (zt ? ", got " + onnxTypeName(zt->data_type()) : std::string());
    std::optional<std::vector<char>> z = ctx.constBytes(3);
    if (!z)
      return failure();
    int64_t rowBytes = (blocks * bits + 7) / 8;
    if (int64_t(z->size()) != n * rowBytes)
      return ctx.error() << "zero_points has " << z->size() << " bytes, expected " << n * rowBytes;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t g = 0; g < blocks; ++g)
        zps[r * blocks + g] =
            bits == 8 ? (*z)[r * rowBytes + g]
                      : char((uint8_t((*z)[r * rowBytes + g / 2]) >> (4 * (g % 2))) & 0xF);
  }
  // Rows of B are padded to whole blocks; ours hold K codes.
  int64_t rowBytes = bits == 8 ? k : (k + 1) / 2, padded = blocks * blob;
  std::vector<char> weight(n * rowBytes);
  for (int64_t r = 0; r < n; ++r)
    memcpy(weight.data() + r * rowBytes, bBytes->data() + r * padded, rowBytes);
  if (bits == 4 && k % 2)
    for (int64_t r = 0; r < n; ++r)
      weight[r * rowBytes + rowBytes - 1] &= 0xF;
  std::vector<float> s(scales->begin(), scales->end());
  Value bias;
  if (ctx.hasInput(5)) {
    auto biasType = ctx.inputType(5);
    if (!biasType.getElementType().isF32() || biasType.getRank() != 1 ||
        biasType.getDimSize(0) != n)
      return ctx.error() << "unsupported bias " << biasType << " (float32 [" << n << "])";
    bias = ctx.input(5);
    if (!bias)
      return failure();
  }
  SmallVector<int64_t> shape(aType.getShape());
  shape.back() = n;
  std::string key = ctx.node.input(1) + "|nbits";
  ctx.setOutput(0, quantizedLinearOp(ctx, a, key, n, k, bits, block, weight, s, ArrayRef<char>(zps),
                                     bias, RankedTensorType::get(shape, aType.getElementType())));
  return success();
}

} // namespace

Value compress::quantizedLinear(NodeContext &ctx, Value x, unsigned weightInput,
                                bool transposeFromKN, Value bias, RankedTensorType resultType) {
  if (!ctx.hasInput(weightInput))
    return Value();
  ImportedValue *weightValue = ctx.importer.lookup(ctx.node.input(weightInput));
  if (!weightValue || !weightValue->dequantized)
    return Value();
  const DequantizedConstant &c = *weightValue->dequantized;
  if (c.shape.size() != 2 || c.codeType == onnx::TensorProto::INT32)
    return Value();
  int64_t kAxis = transposeFromKN ? 0 : 1;
  int64_t k = c.shape[kAxis], n = c.shape[1 - kAxis];
  auto xType = cast<RankedTensorType>(x.getType());
  if (!xType.isDynamicDim(xType.getRank() - 1) && xType.getShape().back() != k)
    return Value();
  // One scale per output channel (per tensor or per N), or per group along K.
  bool perTensor = c.paramShape.empty();
  if (!perTensor && (c.blockSize ? c.axis != kAxis : c.axis != 1 - kAxis))
    return Value();
  int64_t group = c.blockSize && !perTensor ? c.blockSize : k;
  int64_t groups = (k + group - 1) / group;
  auto at = [&](int64_t r, int64_t col) {
    return transposeFromKN ? col * c.shape[1] + r : r * c.shape[1] + col;
  };
  // Signed codes without zero points; with them the op reads unsigned codes,
  // so int8 codes and their zero points move up by 128 (their difference stays).
  bool isUnsigned = c.codeType == onnx::TensorProto::UINT8;
  bool withZp = !c.zeroPoints.empty();
  int shift = withZp && !isUnsigned ? 128 : 0;
  std::vector<uint8_t> codes(n * k);
  std::vector<float> scales(n * groups);
  std::vector<char> zps(withZp ? n * groups : 0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t col = 0; col < k; ++col) {
      int64_t i = at(r, col);
      codes[r * k + col] = uint8_t(int(c.codes[i]) + shift);
      if (col % group == 0) {
        int64_t p = c.paramIndex(i), g = col / group;
        scales[r * groups + g] = c.scales[p];
        if (withZp)
          zps[r * groups + g] = char(c.zeroPoints[p] + shift);
      }
    }
  std::vector<char> weight = packCodes(codes, n, k, 8);
  std::string key = ctx.node.input(weightInput) + (transposeFromKN ? "|q|nk" : "|q");
  return quantizedLinearOp(ctx, x, key, n, k, 8, group, weight, scales,
                           withZp ? std::optional<ArrayRef<char>>(zps) : std::nullopt, bias,
                           resultType);
}

void compress::appendQuantizeOps(llvm::SmallVectorImpl<OpTableEntry> &t) {
  constexpr int64_t kMax = 21;
  t.append({
      {"QuantizeLinear", 10, kMax, importQuantizeLinear},
      {"DequantizeLinear", 10, kMax, importDequantizeLinear},
      {"DynamicQuantizeLinear", 11, kMax, importDynamicQuantizeLinear},
      {"MatMulInteger", 10, kMax, importMatMulInteger},
      {"QLinearMatMul", 10, kMax, importQLinearMatMul},
      {"com.microsoft::MatMulNBits", 1, 1, importMatMulNBits},
      {"com.microsoft::DynamicQuantizeMatMul", 1, 1, importDynamicQuantizeMatMul},
  });
}
