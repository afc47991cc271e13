// Reductions and normalisations: Reduce*, ArgMax/ArgMin, Softmax, LogSoftmax,
// LayerNormalization, and the running sum CumSum.
#include "lib/importer/onnx/Builders.h"

using namespace compress;
using namespace mlir;
using llvm::SmallVector;

namespace {

bool isFloat(Type t) { return isa<FloatType>(t); }
Type elemOf(Value v) { return cast<ShapedType>(v.getType()).getElementType(); }
int64_t rankOf(Value v) { return cast<RankedTensorType>(v.getType()).getRank(); }

Value absS(OpBuilder &b, Location l, Value x, bool u) {
  if (isFloat(x.getType()))
    return math::AbsFOp::create(b, l, x);
  return u ? x : math::AbsIOp::create(b, l, x).getResult();
}

/// `reduced` (the result of a reduction of `input` over `axes` without
/// keepdims) reshaped to the keepdims shape, or the other way round.
Value withKeptDims(OpBuilder &b, Location loc, Value input, Value reduced,
                   ArrayRef<int64_t> axes, bool keepDims) {
  SmallVector<OpFoldResult> inSizes = mixedSizes(b, loc, input);
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < int64_t(inSizes.size()); ++d) {
    if (!llvm::is_contained(axes, d))
      sizes.push_back(inSizes[d]);
    else if (keepDims)
      sizes.push_back(b.getIndexAttr(1));
  }
  return reshapeTensor(b, loc, reduced, sizes);
}

/// Sorted, distinct, non-negative axes from possibly negative ones.
FailureOr<SmallVector<int64_t>> normalizeAxes(NodeContext &ctx,
                                              ArrayRef<int64_t> raw,
                                              int64_t rank) {
  SmallVector<int64_t> axes;
  for (int64_t a : raw) {
    FailureOr<int64_t> n = normalizeAxis(ctx, a, rank);
    if (failed(n))
      return failure();
    if (llvm::is_contained(axes, *n))
      return ctx.error() << "axis " << a << " is listed twice", failure();
    axes.push_back(*n);
  }
  llvm::sort(axes);
  return axes;
}

/// The axes a Reduce* node runs over. Empty axes mean all axes unless
/// noop_with_empty_axes is set, in which case no axis is reduced (the result
/// is then the elementwise pre/post transform of the reduction, e.g. x*x for
/// ReduceSumSquare, as the ONNX spec and reference define it).
FailureOr<SmallVector<int64_t>> reductionAxes(NodeContext &ctx, bool axesInput,
                                              int64_t rank) {
  SmallVector<int64_t> raw;
  bool noopWithEmptyAxes = false;
  if (axesInput) {
    noopWithEmptyAxes = ctx.intAttr("noop_with_empty_axes", 0) != 0;
    if (ctx.hasInput(1)) {
      RankedTensorType t = ctx.inputType(1);
      bool knownEmpty = t.hasStaticShape() && t.getNumElements() == 0;
      if (!knownEmpty) {
        std::optional<SmallVector<int64_t>> ints = ctx.constInts(1);
        if (!ints)
          return ctx.error() << "unsupported 'axes' input computed at run time "
                                "(it must be a constant)",
                 failure();
        raw = *ints;
      }
    }
  } else if (std::optional<SmallVector<int64_t>> attr = ctx.intsAttr("axes")) {
    raw = *attr;
  }
  if (raw.empty()) {
    if (noopWithEmptyAxes)
      return SmallVector<int64_t>();
    return llvm::to_vector(llvm::seq<int64_t>(0, rank));
  }
  return normalizeAxes(ctx, raw, rank);
}

enum class Reduce { Sum, Mean, Max, Min, Prod, L1, L2, SumSquare, LogSum, LogSumExp };

/// Reduce*: `AxesInput` selects the opset-13/18 form with axes as an input.
template <Reduce Kind, bool AxesInput>
LogicalResult importReduce(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  bool keepDims = ctx.intAttr("keepdims", 1) != 0;
  auto axes = reductionAxes(ctx, AxesInput, rankOf(x));
  if (failed(axes))
    return failure();
  Type elem = elemOf(x);
  bool u = ctx.isUnsigned(0) || elem.isInteger(1);
  bool needsFloat = Kind == Reduce::L2 || Kind == Reduce::LogSum ||
                    Kind == Reduce::LogSumExp;
  if (!isFloat(elem) && !isa<IntegerType>(elem))
    return ctx.error() << "unsupported element type " << elem;
  if (elem.isInteger(1) && Kind != Reduce::Max && Kind != Reduce::Min)
    return ctx.error() << "unsupported boolean input";

  // Reducing over no axis leaves Sum, Mean, Max, Min and Prod the identity.
  if (axes->empty() && (Kind == Reduce::Sum || Kind == Reduce::Mean ||
                        Kind == Reduce::Max || Kind == Reduce::Min ||
                        Kind == Reduce::Prod)) {
    ctx.setOutput(0, x, ctx.isUnsigned(0));
    return success();
  }

  // Integer inputs of the logarithmic and square-root reductions are computed
  // in f64 and converted back (truncating, as the reference's astype does).
  Type work = elem;
  if (needsFloat && !isFloat(elem)) {
    work = b.getF64Type();
    x = mapTensor(b, loc, x, work, [&](OpBuilder &nb, Location l, ValueRange a) {
      return castScalar(nb, l, a[0], work, u, false);
    });
  }

  Value result;
  auto sumOf = [&](Value v, ScalarFn pre) {
    return reduceAxes(b, loc, v, *axes, keepDims, scalarAttr(b, work, 0),
                      [&](OpBuilder &nb, Location l, ValueRange a) {
                        return addScalars(nb, l, pre(nb, l, a.take_front(1)), a[1]);
                      });
  };
  auto identity = [](OpBuilder &, Location, ValueRange a) { return a[0]; };
  switch (Kind) {
  case Reduce::Sum:
  case Reduce::Mean:
  case Reduce::LogSum:
    result = sumOf(x, identity);
    break;
  case Reduce::L1:
    result = sumOf(x, [&](OpBuilder &nb, Location l, ValueRange a) {
      return absS(nb, l, a[0], u);
    });
    break;
  case Reduce::L2:
  case Reduce::SumSquare:
    result = sumOf(x, [&](OpBuilder &nb, Location l, ValueRange a) {
      return mulScalars(nb, l, a[0], a[0]);
    });
    break;
  case Reduce::Prod:
    result = reduceAxes(b, loc, x, *axes, keepDims, scalarAttr(b, work, 1),
                        [](OpBuilder &nb, Location l, ValueRange a) {
                          return mulScalars(nb, l, a[0], a[1]);
                        });
    break;
  case Reduce::Max:
    result = reduceAxes(b, loc, x, *axes, keepDims, lowestAttr(b, work, u),
                        [&](OpBuilder &nb, Location l, ValueRange a) {
                          return maxScalars(nb, l, a[0], a[1], u);
                        });
    break;
  case Reduce::Min:
    result = reduceAxes(b, loc, x, *axes, keepDims, highestAttr(b, work, u),
                        [&](OpBuilder &nb, Location l, ValueRange a) {
                          return minScalars(nb, l, a[0], a[1], u);
                        });
    break;
  case Reduce::LogSumExp: {
    // m + log(sum(exp(x - m))) with m the maximum (0 where it is infinite, so
    // that all -inf rows give -inf and +inf entries give +inf, not NaN).
    Value m = reduceAxes(b, loc, x, *axes, /*keepDims=*/true,
                         lowestAttr(b, work, false),
                         [](OpBuilder &nb, Location l, ValueRange a) {
                           return arith::MaximumFOp::create(nb, l, a[0], a[1]).getResult();
                         });
    m = mapTensor(b, loc, m, work, [](OpBuilder &nb, Location l, ValueRange a) {
      Value inf = arith::ConstantOp::create(nb, l, highestAttr(nb, a[0].getType(), false));
      Value isInf = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ,
                                          math::AbsFOp::create(nb, l, a[0]), inf);
      return arith::SelectOp::create(nb, l, isInf, scalarConstant(nb, l, a[0].getType(), 0), a[0])
          .getResult();
    });
    auto shifted = broadcastMap(ctx, {x, m}, work, [](OpBuilder &nb, Location l, ValueRange a) {
      return math::ExpOp::create(nb, l, arith::SubFOp::create(nb, l, a[0], a[1])).getResult();
    });
    if (failed(shifted))
      return failure();
    Value s = reduceAxes(b, loc, *shifted, *axes, keepDims, scalarAttr(b, work, 0),
                         [](OpBuilder &nb, Location l, ValueRange a) {
                           return arith::AddFOp::create(nb, l, a[0], a[1]).getResult();
                         });
    Value mOut = keepDims ? m : withKeptDims(b, loc, x, m, *axes, false);
    auto r = broadcastMap(ctx, {s, mOut}, work, [](OpBuilder &nb, Location l, ValueRange a) {
      return arith::AddFOp::create(nb, l, math::LogOp::create(nb, l, a[0]), a[1]).getResult();
    });
    if (failed(r))
      return failure();
    result = *r;
    break;
  }
  }

  // Post transforms.
  if (Kind == Reduce::Mean) {
    Value count = reducedCount(b, loc, x, *axes, work);
    result = mapTensor(b, loc, result, work, [&](OpBuilder &nb, Location l, ValueRange a) {
      return divScalars(nb, l, a[0], count, u);
    });
  } else if (Kind == Reduce::L2) {
    result = mapTensor(b, loc, result, work, [](OpBuilder &nb, Location l, ValueRange a) {
      return math::SqrtOp::create(nb, l, a[0]).getResult();
    });
  } else if (Kind == Reduce::LogSum) {
    result = mapTensor(b, loc, result, work, [](OpBuilder &nb, Location l, ValueRange a) {
      return math::LogOp::create(nb, l, a[0]).getResult();
    });
  }
  if (work != elem)
    result = mapTensor(b, loc, result, elem, [&](OpBuilder &nb, Location l, ValueRange a) {
      return castScalar(nb, l, a[0], elem, false, u);
    });
  ctx.setOutput(0, result, ctx.isUnsigned(0));
  return success();
}

/// ArgMax / ArgMin: one linalg.generic carrying the best value and its index.
template <bool IsMax>
LogicalResult importArgExtremum(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  int64_t rank = rankOf(x);
  if (rank == 0)
    return ctx.error() << "unsupported rank-0 input";
  auto axis = normalizeAxis(ctx, ctx.intAttr("axis", 0), rank);
  if (failed(axis))
    return failure();
  bool keepDims = ctx.intAttr("keepdims", 1) != 0;
  bool lastIndex = ctx.opset >= 12 && ctx.intAttr("select_last_index", 0) != 0;
  Type elem = elemOf(x);
  bool u = ctx.isUnsigned(0) || elem.isInteger(1);
  if (!isFloat(elem) && !isa<IntegerType>(elem))
    return ctx.error() << "unsupported element type " << elem;

  MLIRContext *mctx = b.getContext();
  SmallVector<OpFoldResult> inSizes = mixedSizes(b, loc, x);
  SmallVector<OpFoldResult> outSizes;
  SmallVector<AffineExpr> outExprs;
  SmallVector<utils::IteratorType> iterators;
  for (int64_t d = 0; d < rank; ++d) {
    iterators.push_back(d == *axis ? utils::IteratorType::reduction
                                   : utils::IteratorType::parallel);
    if (d != *axis) {
      outSizes.push_back(inSizes[d]);
      outExprs.push_back(getAffineDimExpr(d, mctx));
    }
  }
  Type i64 = b.getI64Type();
  TypedAttr initValue = IsMax ? lowestAttr(b, elem, u) : highestAttr(b, elem, u);
  Value bestInit = linalg::FillOp::create(
                       b, loc, arith::ConstantOp::create(b, loc, initValue).getResult(),
                       emptyTensor(b, loc, outSizes, elem))
                       .getResult(0);
  Value indexInit = linalg::FillOp::create(b, loc, scalarConstant(b, loc, i64, 0),
                                           emptyTensor(b, loc, outSizes, i64))
                        .getResult(0);
  AffineMap outMap = AffineMap::get(rank, 0, outExprs, mctx);
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, mctx),
                                 outMap, outMap};
  int64_t reducedDim = *axis;
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{bestInit.getType(), indexInit.getType()}, ValueRange{x},
      ValueRange{bestInit, indexInit}, maps, iterators,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        Value v = a[0], best = a[1], bestIndex = a[2];
        Value index = arith::IndexCastOp::create(
            nb, l, nb.getI64Type(), linalg::IndexOp::create(nb, l, reducedDim));
        // Strictly better, or equal when the last index wins. A row of
        // elements all equal to the initial value keeps index 0, or moves to
        // its last index when the last index wins.
        Value better;
        if (isFloat(elem)) {
          auto strict = IsMax ? arith::CmpFPredicate::OGT : arith::CmpFPredicate::OLT;
          auto loose = IsMax ? arith::CmpFPredicate::OGE : arith::CmpFPredicate::OLE;
          better = arith::CmpFOp::create(nb, l, lastIndex ? loose : strict, v, best);
        } else {
          arith::CmpIPredicate strict, loose;
          if (IsMax) {
            strict = u ? arith::CmpIPredicate::ugt : arith::CmpIPredicate::sgt;
            loose = u ? arith::CmpIPredicate::uge : arith::CmpIPredicate::sge;
          } else {
            strict = u ? arith::CmpIPredicate::ult : arith::CmpIPredicate::slt;
            loose = u ? arith::CmpIPredicate::ule : arith::CmpIPredicate::sle;
          }
          better = arith::CmpIOp::create(nb, l, lastIndex ? loose : strict, v, best);
        }
        Value newBest = arith::SelectOp::create(nb, l, better, v, best);
        Value newIndex = arith::SelectOp::create(nb, l, better, index, bestIndex);
        linalg::YieldOp::create(nb, l, ValueRange{newBest, newIndex});
      });
  Value result = generic.getResult(1);
  if (keepDims)
    result = withKeptDims(b, loc, x, result, {*axis}, true);
  ctx.setOutput(0, result);
  return success();
}

/// Sets the (Log)Softmax node's output.
LogicalResult setSoftmax(NodeContext &ctx, FailureOr<Value> y) {
  if (failed(y))
    return failure();
  ctx.setOutput(0, *y);
  return success();
}

/// Opset >= 13: normalises along the single dimension `axis` (default -1).
template <bool Log>
LogicalResult importSoftmax(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  if (rankOf(x) == 0)
    return ctx.error() << "unsupported rank-0 input";
  auto axis = normalizeAxis(ctx, ctx.intAttr("axis", -1), rankOf(x));
  if (failed(axis))
    return failure();
  return setSoftmax(ctx, softmax(ctx, x, {*axis}, Log));
}

/// Opsets 1 to 12: the input is coerced to 2-D [prod(d0..d(axis-1)),
/// prod(d(axis)..)] and each row normalised, i.e. over all dims from `axis`.
template <bool Log>
LogicalResult importSoftmaxCoerced(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  int64_t rank = rankOf(x);
  if (rank == 0)
    return ctx.error() << "unsupported rank-0 input";
  auto axis = normalizeAxis(ctx, ctx.intAttr("axis", 1), rank);
  if (failed(axis))
    return failure();
  return setSoftmax(ctx, softmax(ctx, x, llvm::to_vector(llvm::seq<int64_t>(*axis, rank)), Log));
}

/// LayerNormalization (opset 17): statistics over dims axis.. in the stash
/// type, then Y = normalized * Scale + B in the input type.
LogicalResult importLayerNormalization(NodeContext &ctx) {
  Value x = ctx.input(0), scale = ctx.input(1);
  if (!x || !scale)
    return failure();
  Value bias;
  if (ctx.hasInput(2) && !(bias = ctx.input(2)))
    return failure();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  int64_t rank = rankOf(x);
  if (rank == 0)
    return ctx.error() << "unsupported rank-0 input";
  auto axis = normalizeAxis(ctx, ctx.intAttr("axis", -1), rank);
  if (failed(axis))
    return failure();
  double epsilon = ctx.floatAttr("epsilon", 1e-5f);
  int64_t stash = ctx.intAttr("stash_type", 1);
  Type elem = elemOf(x);
  Type u = onnxElementType(b.getContext(), int32_t(stash));
  if (!u || !isFloat(u))
    return ctx.error() << "unsupported stash_type " << stash;
  if (!isFloat(elem))
    return ctx.error() << "unsupported non-floating-point input of type " << elem;
  if (elemOf(scale) != elem || (bias && elemOf(bias) != elem))
    return ctx.error() << "Scale and B must have the element type of X";

  SmallVector<int64_t> axes = llvm::to_vector(llvm::seq<int64_t>(*axis, rank));
  Value xs = x;
  if (u != elem)
    xs = mapTensor(b, loc, x, u, [&](OpBuilder &nb, Location l, ValueRange a) {
      return castScalar(nb, l, a[0], u, false, false);
    });
  Value count = reducedCount(b, loc, xs, axes, u);
  auto sum = [&](Value v, bool square) {
    return reduceAxes(b, loc, v, axes, /*keepDims=*/true, scalarAttr(b, u, 0),
                      [square](OpBuilder &nb, Location l, ValueRange a) {
                        Value t = square ? arith::MulFOp::create(nb, l, a[0], a[0]).getResult()
                                         : a[0];
                        return arith::AddFOp::create(nb, l, t, a[1]).getResult();
                      });
  };
  Value mean = mapTensor(b, loc, sum(xs, false), u, [&](OpBuilder &nb, Location l, ValueRange a) {
    return arith::DivFOp::create(nb, l, a[0], count).getResult();
  });
  auto diff = broadcastMap(ctx, {xs, mean}, u, [](OpBuilder &nb, Location l, ValueRange a) {
    return arith::SubFOp::create(nb, l, a[0], a[1]).getResult();
  });
  if (failed(diff))
    return failure();
  Value invStdDev = mapTensor(b, loc, sum(*diff, true), u, [&](OpBuilder &nb, Location l, ValueRange a) {
    Value var = arith::DivFOp::create(nb, l, a[0], count);
    Value eps = scalarConstant(nb, l, u, epsilon);
    Value sd = math::SqrtOp::create(nb, l, arith::AddFOp::create(nb, l, var, eps));
    return arith::DivFOp::create(nb, l, scalarConstant(nb, l, u, 1.0), sd).getResult();
  });
  SmallVector<Value> operands = {*diff, invStdDev, scale};
  if (bias)
    operands.push_back(bias);
  auto y = broadcastMap(ctx, operands, elem, [&](OpBuilder &nb, Location l, ValueRange a) {
    Value n = arith::MulFOp::create(nb, l, a[0], a[1]);
    n = castScalar(nb, l, n, elem, false, false);
    Value r = arith::MulFOp::create(nb, l, n, a[2]);
    if (a.size() > 3)
      r = arith::AddFOp::create(nb, l, r, a[3]);
    return r;
  });
  if (failed(y))
    return failure();
  if (cast<RankedTensorType>(y->getType()).getRank() != rank)
    return ctx.error() << "Scale and B must broadcast to the shape of X";
  ctx.setOutput(0, *y);
  ctx.setOutput(1, mean);
  ctx.setOutput(2, invStdDev);
  return success();
}

/// CumSum as one linalg.generic: output element i along the axis sums the
/// input elements j with j <= i (j < i exclusive; j >= i, j > i reversed),
/// with j a reduction dimension. Quadratic in the axis length, but linalg on
/// tensors has no scan, and this form goes through every lowering unchanged.
LogicalResult importCumSum(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  bool exclusive = ctx.intAttr("exclusive", 0) != 0;
  bool reverse = ctx.intAttr("reverse", 0) != 0;
  auto axisValues = ctx.requireConstInts(1, "axis");
  if (failed(axisValues))
    return failure();
  if (axisValues->size() != 1)
    return ctx.error() << "axis must be a scalar, but it has " << axisValues->size()
                       << " elements";
  int64_t rank = rankOf(x);
  if (rank == 0)
    return ctx.error() << "expects an input of rank >= 1";
  auto axis = normalizeAxis(ctx, axisValues->front(), rank);
  if (failed(axis))
    return failure();
  OpBuilder &b = ctx.b;
  MLIRContext *mctx = b.getContext();
  Type elem = elemOf(x);
  Value empty = emptyTensor(b, ctx.loc, mixedSizes(b, ctx.loc, x), elem);
  Value zero = arith::ConstantOp::create(b, ctx.loc, scalarAttr(b, elem, 0));
  Value acc = linalg::FillOp::create(b, ctx.loc, zero, empty).getResult(0);
  SmallVector<AffineExpr> inExprs, outExprs;
  for (int64_t d = 0; d < rank; ++d) {
    inExprs.push_back(getAffineDimExpr(d == *axis ? rank : d, mctx));
    outExprs.push_back(getAffineDimExpr(d, mctx));
  }
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  SmallVector<AffineMap> maps = {AffineMap::get(rank + 1, 0, inExprs, mctx),
                                 AffineMap::get(rank + 1, 0, outExprs, mctx)};
  arith::CmpIPredicate keepIf =
      reverse ? (exclusive ? arith::CmpIPredicate::ugt : arith::CmpIPredicate::uge)
              : (exclusive ? arith::CmpIPredicate::ult : arith::CmpIPredicate::ule);
  bool isUnsigned = ctx.isUnsigned(0);
  Value out = linalg::GenericOp::create(
                  b, ctx.loc, TypeRange{acc.getType()}, ValueRange{x}, ValueRange{acc}, maps,
                  iterators,
                  [&](OpBuilder &nb, Location l, ValueRange args) {
                    Value i = linalg::IndexOp::create(nb, l, *axis);
                    Value j = linalg::IndexOp::create(nb, l, rank);
                    Value keep = arith::CmpIOp::create(nb, l, keepIf, j, i);
                    Value zeroElem = scalarConstant(nb, l, args[0].getType(), 0);
                    Value term = arith::SelectOp::create(nb, l, keep, args[0], zeroElem);
                    linalg::YieldOp::create(nb, l, addScalars(nb, l, args[1], term, isUnsigned));
                  })
                  .getResult(0);
  ctx.setOutput(0, out, isUnsigned);
  return success();
}

} // namespace

FailureOr<Value> compress::softmax(NodeContext &ctx, Value x, ArrayRef<int64_t> axes, bool log) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Type elem = elemOf(x);
  if (!isFloat(elem))
    return ctx.error() << "unsupported non-floating-point input of type " << elem, failure();
  // maxnumf (NaN-ignoring) vectorises where maximumf does not; a NaN in the
  // row still makes every output of the row NaN through its exp and sum.
  Value m = reduceAxes(b, loc, x, axes, /*keepDims=*/true, lowestAttr(b, elem, false),
                       [](OpBuilder &nb, Location l, ValueRange a) {
                         return arith::MaxNumFOp::create(nb, l, a[0], a[1]).getResult();
                       });
  auto shifted = broadcastMap(ctx, {x, m}, elem, [](OpBuilder &nb, Location l, ValueRange a) {
    return arith::SubFOp::create(nb, l, a[0], a[1]).getResult();
  });
  if (failed(shifted))
    return failure();
  Value e = mapTensor(b, loc, *shifted, elem, [](OpBuilder &nb, Location l, ValueRange a) {
    return math::ExpOp::create(nb, l, a[0]).getResult();
  });
  Value s = reduceAxes(b, loc, e, axes, /*keepDims=*/true, scalarAttr(b, elem, 0),
                       [](OpBuilder &nb, Location l, ValueRange a) {
                         return arith::AddFOp::create(nb, l, a[0], a[1]).getResult();
                       });
  if (log)
    return broadcastMap(ctx, {*shifted, s}, elem, [](OpBuilder &nb, Location l, ValueRange a) {
      return arith::SubFOp::create(nb, l, a[0], math::LogOp::create(nb, l, a[1])).getResult();
    });
  return broadcastMap(ctx, {e, s}, elem, [](OpBuilder &nb, Location l, ValueRange a) {
    return arith::DivFOp::create(nb, l, a[0], a[1]).getResult();
  });
}

void compress::appendReductionOps(llvm::SmallVectorImpl<OpTableEntry> &t) {
  constexpr int64_t kMax = 21;
  // Axes are an attribute up to opset 17 (ReduceSum: 12), an input after.
#define REDUCE_ROWS(NAME, KIND, INPUT_FROM)                                    \
  {NAME, 1, INPUT_FROM - 1, importReduce<Reduce::KIND, false>},               \
      {NAME, INPUT_FROM, kMax, importReduce<Reduce::KIND, true>}
  t.append({
      REDUCE_ROWS("ReduceSum", Sum, 13),
      REDUCE_ROWS("ReduceMean", Mean, 18),
      REDUCE_ROWS("ReduceMax", Max, 18),
      REDUCE_ROWS("ReduceMin", Min, 18),
      REDUCE_ROWS("ReduceProd", Prod, 18),
      REDUCE_ROWS("ReduceL1", L1, 18),
      REDUCE_ROWS("ReduceL2", L2, 18),
      REDUCE_ROWS("ReduceSumSquare", SumSquare, 18),
      REDUCE_ROWS("ReduceLogSum", LogSum, 18),
      REDUCE_ROWS("ReduceLogSumExp", LogSumExp, 18),
      {"ArgMax", 1, kMax, importArgExtremum<true>},
      {"ArgMin", 1, kMax, importArgExtremum<false>},
      {"Softmax", 1, 12, importSoftmaxCoerced<false>},
      {"Softmax", 13, kMax, importSoftmax<false>},
      {"LogSoftmax", 1, 12, importSoftmaxCoerced<true>},
      {"LogSoftmax", 13, kMax, importSoftmax<true>},
      {"LayerNormalization", 17, kMax, importLayerNormalization},
      {"CumSum", 11, kMax, importCumSum},
  });
#undef REDUCE_ROWS
}
