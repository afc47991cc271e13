// Ops whose result marks positions with ones: Hardmax (the position of the
// maximum along its axes), OneHot (the position an index names) and EyeLike
// (the k-th diagonal). Each is a linalg.generic comparing its indices with
// the position it marks.
#include "lib/importer/onnx/Builders.h"

using namespace compress;
using namespace mlir;
using llvm::SmallVector;

namespace {

/// Hardmax over the (sorted) `axes` of `x`: 1 at the first maximum of every
/// slice, in row-major order over the axes, and 0 elsewhere. A NaN counts as
/// the maximum, as numpy's argmax (the ONNX reference) has it.
Value hardmax(OpBuilder &b, Location loc, Value x, ArrayRef<int64_t> axes) {
  MLIRContext *mctx = b.getContext();
  auto type = cast<RankedTensorType>(x.getType());
  Type elem = type.getElementType();
  int64_t rank = type.getRank();
  Type i64 = b.getI64Type();
  SmallVector<OpFoldResult> sizes = mixedSizes(b, loc, x);
  SmallVector<OpFoldResult> kept;
  SmallVector<AffineExpr> keptExprs;
  SmallVector<utils::IteratorType> iterators;
  for (int64_t d = 0; d < rank; ++d) {
    bool reduced = llvm::is_contained(axes, d);
    iterators.push_back(reduced ? utils::IteratorType::reduction : utils::IteratorType::parallel);
    if (!reduced) {
      kept.push_back(sizes[d]);
      keptExprs.push_back(getAffineDimExpr(d, mctx));
    }
  }
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, mctx);
  AffineMap keptMap = AffineMap::get(rank, 0, keptExprs, mctx);
  // The row-major position of an element within its slice, as i64.
  auto position = [&](OpBuilder &nb, Location l) {
    Value pos = arith::ConstantIndexOp::create(nb, l, 0);
    for (int64_t d : axes) {
      Value len = tensor::DimOp::create(nb, l, x, d);
      pos = arith::MulIOp::create(nb, l, pos, len);
      pos = arith::AddIOp::create(nb, l, pos, linalg::IndexOp::create(nb, l, d));
    }
    return arith::IndexCastOp::create(nb, l, nb.getI64Type(), pos).getResult();
  };

  // 1. The maximum of every slice and its position. The comparison picks the
  // lower position on ties itself, so that it does not depend on the order
  // in which the reduction visits the slice.
  auto filled = [&](TypedAttr value) {
    Value init = emptyTensor(b, loc, kept, value.getType());
    Value v = arith::ConstantOp::create(b, loc, value);
    return linalg::FillOp::create(b, loc, v, init).getResult(0);
  };
  Value best = filled(lowestAttr(b, elem, false));
  Value bestAt = filled(highestAttr(b, i64, false));
  auto arg = linalg::GenericOp::create(
      b, loc, TypeRange{best.getType(), bestAt.getType()}, ValueRange{x}, ValueRange{best, bestAt},
      SmallVector<AffineMap>{id, keptMap, keptMap}, iterators,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        Value v = a[0], m = a[1], at = a[2];
        Value pos = position(nb, l);
        Value vNaN = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::UNO, v, v);
        Value mNaN = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::UNO, m, m);
        Value above = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT, v, m);
        Value nanOverNumber = arith::AndIOp::create(
            nb, l, vNaN, arith::XOrIOp::create(nb, l, mNaN, arith::ConstantIntOp::create(nb, l, 1, 1)));
        Value same = arith::OrIOp::create(
            nb, l, arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, v, m),
            arith::AndIOp::create(nb, l, vNaN, mNaN));
        Value earlier = arith::AndIOp::create(
            nb, l, same, arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, pos, at));
        Value take = arith::OrIOp::create(nb, l, arith::OrIOp::create(nb, l, above, nanOverNumber),
                                          earlier);
        linalg::YieldOp::create(nb, l, ValueRange{arith::SelectOp::create(nb, l, take, v, m),
                                                  arith::SelectOp::create(nb, l, take, pos, at)});
      });

  // 2. One where the element's position is its slice's maximum's.
  Value init = emptyTensor(b, loc, sizes, elem);
  SmallVector<utils::IteratorType> parallel(rank, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, ValueRange{arg.getResult(1)}, ValueRange{init},
             SmallVector<AffineMap>{keptMap, id}, parallel,
             [&](OpBuilder &nb, Location l, ValueRange a) {
               Value hit = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, position(nb, l), a[0]);
               linalg::YieldOp::create(
                   nb, l,
                   arith::SelectOp::create(nb, l, hit, scalarConstant(nb, l, elem, 1.0),
                                           scalarConstant(nb, l, elem, 0.0))
                       .getResult());
             })
      .getResult(0);
}

/// Hardmax; `Coerced` selects opsets 1-12, which take the maximum over all
/// dimensions from `axis` on (the input seen as 2-D), over opset 13's single
/// axis.
template <bool Coerced>
LogicalResult importHardmax(NodeContext &ctx) {
  RankedTensorType t = ctx.inputType(0);
  if (!isa<FloatType>(t.getElementType()))
    return ctx.error() << "unsupported non-floating-point input of type " << t.getElementType();
  if (t.getRank() == 0)
    return ctx.error() << "unsupported rank-0 input";
  auto axis = normalizeAxis(ctx, ctx.intAttr("axis", Coerced ? 1 : -1), t.getRank());
  if (failed(axis))
    return failure();
  Value x = ctx.input(0);
  if (!x)
    return failure();
  SmallVector<int64_t> axes = {*axis};
  if (Coerced)
    axes = llvm::to_vector(llvm::seq<int64_t>(*axis, t.getRank()));
  ctx.setOutput(0, hardmax(ctx.b, ctx.loc, x, axes));
  return success();
}

/// OneHot's depth: a constant scalar or one-element tensor, integer or
/// float (truncated), at least 1.
FailureOr<int64_t> oneHotDepth(NodeContext &ctx) {
  RankedTensorType t = ctx.inputType(1);
  if (t.getNumElements() != 1 || t.getRank() > 1)
    return ctx.error() << "input 'depth' must be a scalar or a tensor of one element, but it is "
                       << t,
           failure();
  std::optional<int64_t> depth;
  if (isa<FloatType>(t.getElementType())) {
    if (std::optional<std::vector<double>> f = ctx.constFloats(1))
      depth = int64_t(f->front());
  } else if (std::optional<SmallVector<int64_t>> i = ctx.constInts(1)) {
    depth = i->front();
  }
  if (!depth)
    return ctx.error() << "unsupported input 'depth' computed when the model runs (the output "
                          "shape depends on it)",
           failure();
  if (*depth < 1)
    return ctx.error() << "depth " << *depth << " must be at least 1", failure();
  return *depth;
}

/// OneHot (opsets 9-21): output[.., j, ..] (j on the new dimension `axis`)
/// is values[1] where indices[..] is j or j - depth, else values[0]. Indices
/// outside [-depth, depth), or not integral, mark nothing (the spec).
LogicalResult importOneHot(NodeContext &ctx) {
  RankedTensorType it = ctx.inputType(0), vt = ctx.inputType(2);
  if (vt.getRank() != 1 || vt.getDimSize(0) != 2)
    return ctx.error() << "input 'values' must be [off_value, on_value], but it is " << vt;
  Type indexElem = it.getElementType();
  if (indexElem.isInteger(1) || !indexElem.isIntOrFloat())
    return ctx.error() << "unsupported indices of type " << indexElem;
  int64_t rank = it.getRank() + 1;
  auto axis = normalizeAxis(ctx, ctx.intAttr("axis", -1), rank);
  if (failed(axis))
    return failure();
  FailureOr<int64_t> depth = oneHotDepth(ctx);
  if (failed(depth))
    return failure();
  Value indices = ctx.input(0), values = ctx.input(2);
  if (!indices || !values)
    return failure();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  bool unsignedIndices = ctx.isUnsigned(0);
  SmallVector<OpFoldResult> sizes = mixedSizes(b, loc, indices);
  sizes.insert(sizes.begin() + *axis, b.getIndexAttr(*depth));
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value off = tensor::ExtractOp::create(b, loc, values, ValueRange{zero});
  Value on = tensor::ExtractOp::create(b, loc, values,
                                       ValueRange{arith::ConstantIndexOp::create(b, loc, 1)});
  Value out = generateTensor(b, loc, sizes, vt.getElementType(),
                             [&](OpBuilder &nb, Location l, ValueRange at) {
    SmallVector<Value> from(at.begin(), at.end());
    from.erase(from.begin() + *axis);
    Value index = tensor::ExtractOp::create(nb, l, indices, from);
    // j and j - depth in the indices' type (i64 for integers).
    Value j = arith::IndexCastOp::create(nb, l, nb.getI64Type(), at[*axis]);
    Value wrapped = arith::SubIOp::create(nb, l, j, scalarConstant(nb, l, nb.getI64Type(), *depth));
    Value hit;
    if (isa<FloatType>(indexElem)) {
      auto asFloat = [&](Value v) { return arith::SIToFPOp::create(nb, l, indexElem, v); };
      hit = arith::OrIOp::create(
          nb, l, arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, index, asFloat(j)),
          arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, index, asFloat(wrapped)));
    } else {
      Value i = castScalar(nb, l, index, nb.getI64Type(), unsignedIndices, false);
      hit = arith::OrIOp::create(nb, l, arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, i, j),
                                 arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, i, wrapped));
    }
    return arith::SelectOp::create(nb, l, hit, on, off).getResult();
  });
  ctx.setOutput(0, out, ctx.isUnsigned(2));
  return success();
}

/// EyeLike (opsets 9-21): the input's 2-D shape with ones on the k-th
/// diagonal (column - row = k), in `dtype` or the input's type.
LogicalResult importEyeLike(NodeContext &ctx) {
  RankedTensorType t = ctx.inputType(0);
  if (t.getRank() != 2)
    return ctx.error() << "expects a 2-D input, but it is " << t;
  Type elem = t.getElementType();
  bool isUnsigned = ctx.isUnsigned(0);
  if (ctx.hasAttr("dtype")) {
    int64_t dtype = ctx.intAttr("dtype", 0);
    elem = onnxElementType(ctx.b.getContext(), int32_t(dtype));
    if (!elem || !elem.isIntOrFloat())
      return ctx.error() << "unsupported dtype " << dtype;
    isUnsigned = isUnsignedOnnxType(int32_t(dtype));
  }
  int64_t k = ctx.intAttr("k", 0);
  Value x = ctx.input(0);
  if (!x)
    return failure();
  OpBuilder &b = ctx.b;
  Value out = generateTensor(b, ctx.loc, mixedSizes(b, ctx.loc, x), elem,
                             [&](OpBuilder &nb, Location l, ValueRange at) {
    Value diagonal = arith::SubIOp::create(nb, l, at[1], at[0]);
    Value hit = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, diagonal,
                                      arith::ConstantIndexOp::create(nb, l, k));
    return arith::SelectOp::create(nb, l, hit, scalarConstant(nb, l, elem, 1.0),
                                   scalarConstant(nb, l, elem, 0.0))
        .getResult();
  });
  ctx.setOutput(0, out, isUnsigned);
  return success();
}

} // namespace

void compress::appendOneHotOps(llvm::SmallVectorImpl<OpTableEntry> &t) {
  constexpr int64_t kMax = 21;
  t.append({
      {"Hardmax", 1, 12, importHardmax<true>},
      {"Hardmax", 13, kMax, importHardmax<false>},
      // Opset 11 only documents negative axes, which opset 9 already took.
      {"OneHot", 9, kMax, importOneHot},
      {"EyeLike", 9, kMax, importEyeLike},
  });
}
