// Elementwise ONNX ops: arithmetic, comparisons, logic, activations, Cast, Where, Clip.
#include "lib/importer/onnx/Builders.h"

using namespace compress;
using namespace mlir;
using llvm::SmallVector;

namespace {

bool isFloat(Type t) { return isa<FloatType>(t); }
Type elemOf(Value v) { return cast<ShapedType>(v.getType()).getElementType(); }

/// Operands of elementwise ops share one element type.
LogicalResult checkSameElementType(NodeContext &ctx, ArrayRef<Value> inputs) {
  for (Value v : inputs.drop_front())
    if (elemOf(v) != elemOf(inputs.front()))
      return ctx.error() << "operands have different element types ("
                         << elemOf(inputs.front()) << " and " << elemOf(v) << ")";
  return success();
}

FailureOr<SmallVector<Value>> allInputs(NodeContext &ctx) {
  SmallVector<Value> inputs;
  for (unsigned i = 0; i < ctx.numInputs(); ++i) {
    if (!ctx.hasInput(i))
      continue;
    Value v = ctx.input(i);
    if (!v)
      return failure();
    inputs.push_back(v);
  }
  if (inputs.empty())
    return ctx.error() << "expects at least one input", failure();
  return inputs;
}

/// Folds an elementwise op whose inputs are all known integer tensors (shape
/// arithmetic), broadcasting on the host. Returns true when it folded.
template <typename Fn>
bool foldIntegerElementwise(NodeContext &ctx, Type resultElem, Fn fn) {
  SmallVector<SmallVector<int64_t>> values;
  SmallVector<ArrayRef<int64_t>> shapes;
  int64_t rank = 0;
  for (unsigned i = 0; i < ctx.numInputs(); ++i) {
    auto ints = ctx.constInts(i);
    if (!ints || !ctx.inputType(i).hasStaticShape())
      return false;
    values.push_back(*ints);
    shapes.push_back(ctx.inputType(i).getShape());
    rank = std::max<int64_t>(rank, shapes.back().size());
  }
  SmallVector<int64_t> outShape(rank, 1);
  for (ArrayRef<int64_t> s : shapes)
    for (int64_t k = 0; k < int64_t(s.size()); ++k) {
      int64_t &o = outShape[k + rank - s.size()];
      if (s[k] != 1) {
        if (o != 1 && o != s[k])
          return false; // let the regular path report the mismatch
        o = s[k];
      }
    }
  int64_t total = 1;
  for (int64_t d : outShape)
    total *= d;
  SmallVector<int64_t> out;
  SmallVector<int64_t> args(values.size());
  for (int64_t flat = 0; flat < total; ++flat) {
    for (size_t v = 0; v < values.size(); ++v) {
      ArrayRef<int64_t> s = shapes[v];
      int64_t at = 0, rest = flat, stride = 1;
      for (int64_t d = rank - 1; d >= 0; --d) {
        int64_t idx = rest % outShape[d];
        rest /= outShape[d];
        int64_t k = d - (rank - int64_t(s.size()));
        if (k >= 0) {
          if (s[k] != 1)
            at += idx * stride;
          stride *= s[k];
        }
      }
      args[v] = values[v][at];
    }
    std::optional<int64_t> r = fn(ArrayRef<int64_t>(args));
    if (!r)
      return false;
    out.push_back(*r);
  }
  ctx.setOutputInts(0, out, outShape, resultElem, ctx.isUnsigned(0));
  return true;
}

/// Scalar semantics of a binary op, given whether integers are unsigned.
using BinaryFn = Value (*)(OpBuilder &, Location, Value, Value, bool);


/// Host semantics of the integer binary ops, for folding.
std::optional<int64_t> foldBinary(BinaryFn fn, int64_t x, int64_t y) {
  if (fn == addScalars)
    return x + y;
  if (fn == subScalars)
    return x - y;
  if (fn == mulScalars)
    return x * y;
  if (fn == divScalars)
    return y == 0 ? std::nullopt : std::optional<int64_t>(x / y);
  if (fn == maxScalars)
    return std::max(x, y);
  if (fn == minScalars)
    return std::min(x, y);
  return std::nullopt;
}

template <BinaryFn Fn>
LogicalResult importBinary(NodeContext &ctx) {
  if (ctx.numInputs() == 2 && isa<IntegerType>(ctx.inputType(0).getElementType()) &&
      !ctx.isUnsigned(0) &&
      foldIntegerElementwise(ctx, ctx.inputType(0).getElementType(),
                             [](ArrayRef<int64_t> a) { return foldBinary(Fn, a[0], a[1]); }))
    return success();
  auto inputs = allInputs(ctx);
  if (failed(inputs) || failed(checkSameElementType(ctx, *inputs)))
    return failure();
  bool u = ctx.isUnsigned(0);
  auto r = broadcastMap(ctx, *inputs, elemOf(inputs->front()),
                        [&](OpBuilder &b, Location l, ValueRange a) {
                          return Fn(b, l, a[0], a[1], u);
                        });
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r, u);
  return success();
}

/// Sum, Max, Min, Mean over any number of broadcast inputs.
template <BinaryFn Fn, bool Mean = false>
LogicalResult importVariadic(NodeContext &ctx) {
  auto inputs = allInputs(ctx);
  if (failed(inputs) || failed(checkSameElementType(ctx, *inputs)))
    return failure();
  bool u = ctx.isUnsigned(0);
  Type elem = elemOf(inputs->front());
  size_t n = inputs->size();
  auto r = broadcastMap(ctx, *inputs, elem,
                        [&](OpBuilder &b, Location l, ValueRange a) {
                          Value acc = a[0];
                          for (Value v : a.drop_front())
                            acc = Fn(b, l, acc, v, u);
                          if (Mean)
                            acc = divScalars(b, l, acc,
                                        scalarConstant(b, l, elem, double(n)), u);
                          return acc;
                        });
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r, u);
  return success();
}

LogicalResult importMod(NodeContext &ctx) {
  auto inputs = allInputs(ctx);
  if (failed(inputs) || failed(checkSameElementType(ctx, *inputs)))
    return failure();
  bool fmod = ctx.intAttr("fmod", 0) != 0;
  bool u = ctx.isUnsigned(0);
  Type elem = elemOf(inputs->front());
  if (isFloat(elem) && !fmod)
    return ctx.error() << "floating-point Mod needs fmod=1";
  auto r = broadcastMap(ctx, *inputs, elem, [&](OpBuilder &b, Location l, ValueRange a) {
    if (isFloat(elem))
      return arith::RemFOp::create(b, l, a[0], a[1]).getResult();
    if (u)
      return arith::RemUIOp::create(b, l, a[0], a[1]).getResult();
    Value rem = arith::RemSIOp::create(b, l, a[0], a[1]);
    if (fmod)
      return rem; // C fmod: the sign of the dividend
    // Python mod: the sign of the divisor.
    Value zero = scalarConstant(b, l, elem, 0);
    Value nonzero = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, rem, zero);
    Value remNeg = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, rem, zero);
    Value divNeg = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, a[1], zero);
    Value differ = arith::XOrIOp::create(b, l, remNeg, divNeg);
    Value fix = arith::AndIOp::create(b, l, nonzero, differ);
    Value adjusted = arith::AddIOp::create(b, l, rem, a[1]);
    return arith::SelectOp::create(b, l, fix, adjusted, rem).getResult();
  });
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r, u);
  return success();
}

/// Pow: float bases use powf (integer exponents converted); integer bases go
/// through f64, exact for the magnitudes integer Pow can hold without overflow.
LogicalResult importPow(NodeContext &ctx) {
  Value base = ctx.input(0), exponent = ctx.input(1);
  if (!base || !exponent)
    return failure();
  Type elem = elemOf(base);
  bool baseUnsigned = ctx.isUnsigned(0), expUnsigned = ctx.isUnsigned(1);
  auto r = broadcastMap(ctx, {base, exponent}, elem,
                        [&](OpBuilder &b, Location l, ValueRange a) {
                          Type f = isFloat(elem) ? elem : b.getF64Type();
                          Value x = castScalar(b, l, a[0], f, baseUnsigned, false);
                          Value y = castScalar(b, l, a[1], f, expUnsigned, false);
                          Value p = math::PowFOp::create(b, l, x, y);
                          return castScalar(b, l, p, elem, false, baseUnsigned);
                        });
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r, baseUnsigned);
  return success();
}

LogicalResult importPRelu(NodeContext &ctx) {
  auto inputs = allInputs(ctx);
  if (failed(inputs) || failed(checkSameElementType(ctx, *inputs)))
    return failure();
  auto r = broadcastMap(ctx, *inputs, elemOf(inputs->front()),
                        [&](OpBuilder &b, Location l, ValueRange a) {
                          Value zero = scalarConstant(b, l, a[0].getType(), 0);
                          Value neg = isFloat(a[0].getType())
                                          ? arith::CmpFOp::create(b, l, arith::CmpFPredicate::OLT, a[0], zero).getResult()
                                          : arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, a[0], zero).getResult();
                          Value scaled = mulScalars(b, l, a[0], a[1], false);
                          return arith::SelectOp::create(b, l, neg, scaled, a[0]).getResult();
                        });
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r);
  return success();
}

/// Comparisons produce i1 tensors.
template <arith::CmpFPredicate FP, arith::CmpIPredicate SP, arith::CmpIPredicate UP>
LogicalResult importCompare(NodeContext &ctx) {
  if (isa<IntegerType>(ctx.inputType(0).getElementType()) && !ctx.isUnsigned(0) &&
      foldIntegerElementwise(ctx, ctx.b.getI1Type(), [](ArrayRef<int64_t> a) {
        return std::optional<int64_t>(SP == arith::CmpIPredicate::eq ? a[0] == a[1]
                                      : SP == arith::CmpIPredicate::slt ? a[0] < a[1]
                                      : SP == arith::CmpIPredicate::sle ? a[0] <= a[1]
                                      : SP == arith::CmpIPredicate::sgt ? a[0] > a[1]
                                                                        : a[0] >= a[1]);
      }))
    return success();
  auto inputs = allInputs(ctx);
  if (failed(inputs) || failed(checkSameElementType(ctx, *inputs)))
    return failure();
  bool u = ctx.isUnsigned(0) || elemOf(inputs->front()).isInteger(1);
  auto r = broadcastMap(ctx, *inputs, ctx.b.getI1Type(),
                        [&](OpBuilder &b, Location l, ValueRange a) {
                          if (isFloat(a[0].getType()))
                            return arith::CmpFOp::create(b, l, FP, a[0], a[1]).getResult();
                          return arith::CmpIOp::create(b, l, u ? UP : SP, a[0], a[1]).getResult();
                        });
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r);
  return success();
}

template <typename LogicOp>
LogicalResult importLogical(NodeContext &ctx) {
  auto inputs = allInputs(ctx);
  if (failed(inputs) || failed(checkSameElementType(ctx, *inputs)))
    return failure();
  auto r = broadcastMap(ctx, *inputs, ctx.b.getI1Type(),
                        [&](OpBuilder &b, Location l, ValueRange a) {
                          return LogicOp::create(b, l, a[0], a[1]).getResult();
                        });
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r);
  return success();
}

LogicalResult importNot(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  ctx.setOutput(0, mapTensor(ctx.b, ctx.loc, x, ctx.b.getI1Type(),
                             [](OpBuilder &b, Location l, ValueRange a) {
                               Value t = scalarConstant(b, l, b.getI1Type(), 1);
                               return arith::XOrIOp::create(b, l, a[0], t).getResult();
                             }));
  return success();
}

/// Unary ops: `fn(builder, loc, x, ctx)` with the node's float attributes.
struct UnaryAttrs {
  float alpha, beta, gamma;
  std::string mode;
};
using UnaryFn = Value (*)(OpBuilder &, Location, Value, const UnaryAttrs &);

Value cst(OpBuilder &b, Location l, Value like, double v) {
  return scalarConstant(b, l, like.getType(), v);
}
Value fmul(OpBuilder &b, Location l, Value x, Value y) {
  return arith::MulFOp::create(b, l, x, y);
}
Value fadd(OpBuilder &b, Location l, Value x, Value y) {
  return arith::AddFOp::create(b, l, x, y);
}
Value fdiv(OpBuilder &b, Location l, Value x, Value y) {
  return arith::DivFOp::create(b, l, x, y);
}
Value fselect(OpBuilder &b, Location l, arith::CmpFPredicate p, Value x, Value y,
              Value t, Value f) {
  Value c = arith::CmpFOp::create(b, l, p, x, y);
  return arith::SelectOp::create(b, l, c, t, f);
}
Value sigmoid(OpBuilder &b, Location l, Value x) {
  Value e = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, x));
  return fdiv(b, l, cst(b, l, x, 1), fadd(b, l, cst(b, l, x, 1), e));
}
Value softplus(OpBuilder &b, Location l, Value x) {
  return math::Log1pOp::create(b, l, math::ExpOp::create(b, l, x));
}

template <typename MathOp>
Value mathFn(OpBuilder &b, Location l, Value x, const UnaryAttrs &) {
  return MathOp::create(b, l, x);
}

const struct UnaryDef {
  const char *opType;
  int64_t minOpset;
  UnaryFn fn;
  bool integersToo; // also defined on integer tensors
} kUnaryOps[] = {
    {"Sqrt", 6, mathFn<math::SqrtOp>, false},
    {"Exp", 6, mathFn<math::ExpOp>, false},
    {"Log", 6, mathFn<math::LogOp>, false},
    {"Erf", 9, mathFn<math::ErfOp>, false},
    {"Tanh", 6, mathFn<math::TanhOp>, false},
    {"Sin", 7, mathFn<math::SinOp>, false},
    {"Cos", 7, mathFn<math::CosOp>, false},
    {"Tan", 7, mathFn<math::TanOp>, false},
    {"Asin", 7, mathFn<math::AsinOp>, false},
    {"Acos", 7, mathFn<math::AcosOp>, false},
    {"Atan", 7, mathFn<math::AtanOp>, false},
    {"Sinh", 9, mathFn<math::SinhOp>, false},
    {"Cosh", 9, mathFn<math::CoshOp>, false},
    {"Asinh", 9, mathFn<math::AsinhOp>, false},
    {"Acosh", 9, mathFn<math::AcoshOp>, false},
    {"Atanh", 9, mathFn<math::AtanhOp>, false},
    {"Floor", 6, mathFn<math::FloorOp>, false},
    {"Ceil", 6, mathFn<math::CeilOp>, false},
    {"Round", 11, mathFn<math::RoundEvenOp>, false},
    {"Reciprocal", 6,
     [](OpBuilder &b, Location l, Value x, const UnaryAttrs &) {
       return fdiv(b, l, cst(b, l, x, 1), x);
     },
     false},
    {"Sigmoid", 6,
     [](OpBuilder &b, Location l, Value x, const UnaryAttrs &) {
       return sigmoid(b, l, x);
     },
     false},
    {"HardSigmoid", 6,
     [](OpBuilder &b, Location l, Value x, const UnaryAttrs &a) {
       Value y = fadd(b, l, fmul(b, l, cst(b, l, x, a.alpha), x), cst(b, l, x, a.beta));
       y = arith::MaximumFOp::create(b, l, y, cst(b, l, x, 0));
       return arith::MinimumFOp::create(b, l, y, cst(b, l, x, 1)).getResult();
     },
     false},
    {"HardSwish", 14,
     [](OpBuilder &b, Location l, Value x, const UnaryAttrs &) {
       Value y = fadd(b, l, fmul(b, l, cst(b, l, x, 1.0 / 6.0), x), cst(b, l, x, 0.5));
       y = arith::MaximumFOp::create(b, l, y, cst(b, l, x, 0));
       y = arith::MinimumFOp::create(b, l, y, cst(b, l, x, 1));
       return fmul(b, l, x, y);
     },
     false},
    {"LeakyRelu", 6,
     [](OpBuilder &b, Location l, Value x, const UnaryAttrs &a) {
       return fselect(b, l, arith::CmpFPredicate::OLT, x, cst(b, l, x, 0),
                      fmul(b, l, cst(b, l, x, a.alpha), x), x);
     },
     false},
    {"Elu", 6,
     [](OpBuilder &b, Location l, Value x, const UnaryAttrs &a) {
       Value neg = fmul(b, l, cst(b, l, x, a.alpha), math::ExpM1Op::create(b, l, x));
       return fselect(b, l, arith::CmpFPredicate::OLT, x, cst(b, l, x, 0), neg, x);
     },
     false},
    {"Selu", 6,
     [](OpBuilder &b, Location l, Value x, const UnaryAttrs &a) {
       Value neg = fmul(b, l, cst(b, l, x, a.alpha), math::ExpM1Op::create(b, l, x));
       Value y = fselect(b, l, arith::CmpFPredicate::OLE, x, cst(b, l, x, 0), neg, x);
       return fmul(b, l, cst(b, l, x, a.gamma), y);
     },
     false},
    {"Celu", 12,
     [](OpBuilder &b, Location l, Value x, const UnaryAttrs &a) {
       Value alpha = cst(b, l, x, a.alpha);
       Value neg = fmul(b, l, alpha, math::ExpM1Op::create(b, l, fdiv(b, l, x, alpha)));
       Value zero = cst(b, l, x, 0);
       return fadd(b, l, arith::MaximumFOp::create(b, l, x, zero),
                   arith::MinimumFOp::create(b, l, neg, zero));
     },
     false},
    {"ThresholdedRelu", 10,
     [](OpBuilder &b, Location l, Value x, const UnaryAttrs &a) {
       return fselect(b, l, arith::CmpFPredicate::OGT, x, cst(b, l, x, a.alpha), x,
                      cst(b, l, x, 0));
     },
     false},
    {"Softplus", 6,
     [](OpBuilder &b, Location l, Value x, const UnaryAttrs &) {
       return softplus(b, l, x);
     },
     false},
    {"Softsign", 6,
     [](OpBuilder &b, Location l, Value x, const UnaryAttrs &) {
       Value d = fadd(b, l, cst(b, l, x, 1), math::AbsFOp::create(b, l, x));
       return fdiv(b, l, x, d);
     },
     false},
    {"Mish", 18,
     [](OpBuilder &b, Location l, Value x, const UnaryAttrs &) {
       return fmul(b, l, x, math::TanhOp::create(b, l, softplus(b, l, x)));
     },
     false},
    {"Gelu", 20,
     [](OpBuilder &b, Location l, Value x, const UnaryAttrs &a) {
       Value half = fmul(b, l, cst(b, l, x, 0.5), x);
       Value inner;
       if (a.mode == "tanh") {
         Value cube = fmul(b, l, x, fmul(b, l, x, x));
         Value poly = fadd(b, l, x, fmul(b, l, cst(b, l, x, 0.044715), cube));
         inner = math::TanhOp::create(
             b, l, fmul(b, l, cst(b, l, x, std::sqrt(2.0 / M_PI)), poly));
       } else {
         inner = math::ErfOp::create(b, l, fmul(b, l, x, cst(b, l, x, M_SQRT1_2)));
       }
       return fmul(b, l, half, fadd(b, l, cst(b, l, x, 1), inner));
     },
     false},
    {"Relu", 6,
     [](OpBuilder &b, Location l, Value x, const UnaryAttrs &) {
       if (isFloat(x.getType()))
         return arith::MaximumFOp::create(b, l, x, cst(b, l, x, 0)).getResult();
       return arith::MaxSIOp::create(b, l, x, cst(b, l, x, 0)).getResult();
     },
     true},
    {"Neg", 6,
     [](OpBuilder &b, Location l, Value x, const UnaryAttrs &) {
       if (isFloat(x.getType()))
         return arith::NegFOp::create(b, l, x).getResult();
       return arith::SubIOp::create(b, l, cst(b, l, x, 0), x).getResult();
     },
     true},
    {"Abs", 6,
     [](OpBuilder &b, Location l, Value x, const UnaryAttrs &) {
       if (isFloat(x.getType()))
         return math::AbsFOp::create(b, l, x).getResult();
       return math::AbsIOp::create(b, l, x).getResult();
     },
     true},
    {"Sign", 9,
     [](OpBuilder &b, Location l, Value x, const UnaryAttrs &) {
       Value zero = cst(b, l, x, 0), one = cst(b, l, x, 1), minus = cst(b, l, x, -1);
       if (isFloat(x.getType())) {
         Value pos = fselect(b, l, arith::CmpFPredicate::OGT, x, zero, one, zero);
         return fselect(b, l, arith::CmpFPredicate::OLT, x, zero, minus, pos);
       }
       Value gt = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sgt, x, zero);
       Value lt = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, x, zero);
       Value pos = arith::SelectOp::create(b, l, gt, one, zero);
       return arith::SelectOp::create(b, l, lt, minus, pos).getResult();
     },
     true},
};

LogicalResult importUnary(NodeContext &ctx) {
  const UnaryDef *def = nullptr;
  for (const UnaryDef &d : kUnaryOps)
    if (ctx.node.op_type() == d.opType)
      def = &d;
  // Shape arithmetic (the expanded LayerNormalization's Neg) stays foldable.
  StringRef opType = ctx.node.op_type();
  if (auto ints = ctx.constInts(0);
      ints && !ctx.isUnsigned(0) && (opType == "Neg" || opType == "Abs" || opType == "Relu")) {
    SmallVector<int64_t> out;
    for (int64_t v : *ints)
      out.push_back(opType == "Neg" ? -v : opType == "Abs" ? std::abs(v) : std::max<int64_t>(v, 0));
    ctx.setOutputInts(0, out, ctx.inputType(0).getShape(), ctx.inputType(0).getElementType());
    return success();
  }
  Value x = ctx.input(0);
  if (!x)
    return failure();
  Type elem = elemOf(x);
  if (!isFloat(elem) && !def->integersToo)
    return ctx.error() << "expects a floating-point input, got " << elem;
  if (ctx.isUnsigned(0) && (ctx.node.op_type() == "Abs" || ctx.node.op_type() == "Sign" ||
                            ctx.node.op_type() == "Relu"))
    return ctx.error() << "unsupported unsigned input";
  StringRef op = ctx.node.op_type();
  UnaryAttrs attrs;
  // Defaults from the ONNX spec, per op.
  attrs.alpha = ctx.floatAttr("alpha", op == "LeakyRelu"     ? 0.01f
                                       : op == "HardSigmoid" ? 0.2f
                                       : op == "Selu"        ? 1.67326319217681884765625f
                                                             : 1.0f);
  attrs.beta = ctx.floatAttr("beta", 0.5f);
  attrs.gamma = ctx.floatAttr("gamma", 1.05070102214813232421875f);
  attrs.mode = ctx.stringAttr("approximate", "none");
  if (attrs.mode != "none" && attrs.mode != "tanh")
    return ctx.error() << "unsupported approximate='" << attrs.mode << "'";
  ctx.setOutput(0, mapTensor(ctx.b, ctx.loc, x, elem,
                             [&](OpBuilder &b, Location l, ValueRange a) {
                               return def->fn(b, l, a[0], attrs);
                             }),
                ctx.isUnsigned(0));
  return success();
}

LogicalResult importIsNaN(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  ctx.setOutput(0, mapTensor(ctx.b, ctx.loc, x, ctx.b.getI1Type(),
                             [](OpBuilder &b, Location l, ValueRange a) {
                               return arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNO, a[0], a[0]).getResult();
                             }));
  return success();
}

LogicalResult importIsInf(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  bool pos = ctx.intAttr("detect_positive", 1), neg = ctx.intAttr("detect_negative", 1);
  ctx.setOutput(0, mapTensor(ctx.b, ctx.loc, x, ctx.b.getI1Type(),
                             [&](OpBuilder &b, Location l, ValueRange a) {
                               Type t = a[0].getType();
                               Value inf = arith::ConstantOp::create(b, l, highestAttr(b, t, false));
                               Value ninf = arith::ConstantOp::create(b, l, lowestAttr(b, t, false));
                               Value isPos = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, a[0], inf);
                               Value isNeg = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, a[0], ninf);
                               Value no = scalarConstant(b, l, b.getI1Type(), 0);
                               return arith::OrIOp::create(b, l, pos ? isPos : no, neg ? isNeg : no).getResult();
                             }));
  return success();
}

LogicalResult importWhere(NodeContext &ctx) {
  if (ctx.numInputs() == 3 && isa<IntegerType>(ctx.inputType(1).getElementType()) &&
      foldIntegerElementwise(ctx, ctx.inputType(1).getElementType(),
                             [](ArrayRef<int64_t> a) { return std::optional<int64_t>(a[0] ? a[1] : a[2]); }))
    return success();
  auto inputs = allInputs(ctx);
  if (failed(inputs))
    return failure();
  if (inputs->size() != 3 || elemOf((*inputs)[1]) != elemOf((*inputs)[2]))
    return ctx.error() << "expects a condition and two values of one type";
  auto r = broadcastMap(ctx, *inputs, elemOf((*inputs)[1]),
                        [](OpBuilder &b, Location l, ValueRange a) {
                          return arith::SelectOp::create(b, l, a[0], a[1], a[2]).getResult();
                        });
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r, ctx.isUnsigned(1));
  return success();
}

/// Clip, opset >= 11: optional min and max inputs (runtime scalars allowed).
LogicalResult importClip(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  SmallVector<Value> inputs = {x};
  bool hasMin = ctx.hasInput(1), hasMax = ctx.hasInput(2);
  if (hasMin)
    inputs.push_back(ctx.input(1));
  if (hasMax)
    inputs.push_back(ctx.input(2));
  if (llvm::any_of(inputs, [](Value v) { return !v; }) ||
      failed(checkSameElementType(ctx, inputs)))
    return failure();
  bool u = ctx.isUnsigned(0);
  auto r = broadcastMap(ctx, inputs, elemOf(x), [&](OpBuilder &b, Location l, ValueRange a) {
    Value y = a[0];
    unsigned next = 1;
    if (hasMin)
      y = maxScalars(b, l, y, a[next++], u);
    if (hasMax)
      y = minScalars(b, l, y, a[next], u);
    return y;
  });
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r, u);
  return success();
}

/// Clip, opsets 6 to 10: min and max are attributes.
LogicalResult importClipAttrs(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  float lo = ctx.floatAttr("min", -std::numeric_limits<float>::max());
  float hi = ctx.floatAttr("max", std::numeric_limits<float>::max());
  ctx.setOutput(0, mapTensor(ctx.b, ctx.loc, x, elemOf(x),
                             [&](OpBuilder &b, Location l, ValueRange a) {
                               Value y = arith::MaximumFOp::create(b, l, a[0], cst(b, l, a[0], lo));
                               return arith::MinimumFOp::create(b, l, y, cst(b, l, a[0], hi)).getResult();
                             }));
  return success();
}

LogicalResult castTo(NodeContext &ctx, int32_t to) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  Type target = onnxElementType(ctx.b.getContext(), to);
  if (!target)
    return ctx.error() << "unsupported target type " << onnxTypeName(to);
  bool fromU = ctx.isUnsigned(0), toU = isUnsignedOnnxType(to);
  // Integer constants stay foldable through casts between integer types.
  if (auto ints = ctx.constInts(0); ints && isa<IntegerType>(target)) {
    SmallVector<int64_t> out;
    unsigned w = target.getIntOrFloatBitWidth();
    for (int64_t v : *ints) {
      if (w == 1)
        v = v != 0;
      else if (w < 64)
        v = toU ? int64_t(uint64_t(v) & ((uint64_t(1) << w) - 1))
                : (int64_t(uint64_t(v) << (64 - w)) >> (64 - w));
      out.push_back(v);
    }
    ctx.setOutputInts(0, out, ctx.inputType(0).getShape(), target, toU);
    return success();
  }
  ctx.setOutput(0, mapTensor(ctx.b, ctx.loc, x, target,
                             [&](OpBuilder &b, Location l, ValueRange a) {
                               return castScalar(b, l, a[0], target, fromU, toU);
                             }),
                toU);
  return success();
}

LogicalResult importCast(NodeContext &ctx) {
  if (!ctx.hasAttr("to"))
    return ctx.error() << "missing attribute 'to'";
  if (ctx.opset >= 19 && ctx.intAttr("saturate", 1) != 1)
    return ctx.error() << "saturate=0 applies only to float8 types, which are unsupported";
  return castTo(ctx, ctx.intAttr("to", 0));
}

LogicalResult importCastLike(NodeContext &ctx) {
  ctx.intAttr("saturate", 1);
  Type target = ctx.inputType(1).getElementType();
  bool u = ctx.isUnsigned(1);
  for (int32_t t = onnx::TensorProto::FLOAT; t <= onnx::TensorProto::BFLOAT16; ++t)
    if (onnxElementType(ctx.b.getContext(), t) == target && isUnsignedOnnxType(t) == u)
      return castTo(ctx, t);
  return ctx.error() << "unsupported target type " << target;
}

LogicalResult importIdentity(NodeContext &ctx) {
  if (auto ints = ctx.constInts(0)) {
    ctx.setOutputInts(0, *ints, ctx.inputType(0).getShape(),
                      ctx.inputType(0).getElementType(), ctx.isUnsigned(0));
    return success();
  }
  Value x = ctx.input(0);
  if (!x)
    return failure();
  ctx.setOutput(0, x, ctx.isUnsigned(0));
  return success();
}

} // namespace

void compress::appendElementwiseOps(llvm::SmallVectorImpl<OpTableEntry> &t) {
  constexpr int64_t kMax = 21;
  t.append({
      {"Add", 7, kMax, importBinary<addScalars>},
      {"Sub", 7, kMax, importBinary<subScalars>},
      {"Mul", 7, kMax, importBinary<mulScalars>},
      {"Div", 7, kMax, importBinary<divScalars>},
      {"Mod", 10, kMax, importMod},
      {"Pow", 7, kMax, importPow},
      {"PRelu", 9, kMax, importPRelu},
      {"Max", 8, kMax, importVariadic<maxScalars>},
      {"Min", 8, kMax, importVariadic<minScalars>},
      {"Sum", 8, kMax, importVariadic<addScalars>},
      {"Mean", 8, kMax, importVariadic<addScalars, true>},
      {"Equal", 7, kMax,
       importCompare<arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq, arith::CmpIPredicate::eq>},
      {"Less", 7, kMax,
       importCompare<arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt, arith::CmpIPredicate::ult>},
      {"LessOrEqual", 12, kMax,
       importCompare<arith::CmpFPredicate::OLE, arith::CmpIPredicate::sle, arith::CmpIPredicate::ule>},
      {"Greater", 7, kMax,
       importCompare<arith::CmpFPredicate::OGT, arith::CmpIPredicate::sgt, arith::CmpIPredicate::ugt>},
      {"GreaterOrEqual", 12, kMax,
       importCompare<arith::CmpFPredicate::OGE, arith::CmpIPredicate::sge, arith::CmpIPredicate::uge>},
      {"And", 7, kMax, importLogical<arith::AndIOp>},
      {"Or", 7, kMax, importLogical<arith::OrIOp>},
      {"Xor", 7, kMax, importLogical<arith::XOrIOp>},
      {"Not", 1, kMax, importNot},
      {"IsNaN", 9, kMax, importIsNaN},
      {"IsInf", 10, kMax, importIsInf},
      {"Where", 9, kMax, importWhere},
      {"Clip", 6, 10, importClipAttrs},
      {"Clip", 11, kMax, importClip},
      {"Cast", 6, kMax, importCast},
      {"CastLike", 15, kMax, importCastLike},
      {"Identity", 1, kMax, importIdentity},
  });
  for (const UnaryDef &d : kUnaryOps)
    t.push_back({d.opType, d.minOpset, kMax, importUnary});
}
