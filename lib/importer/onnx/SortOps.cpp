// TopK: the k largest (or smallest) elements along an axis and their indices.
//
// linalg on tensors has no sort, so TopK is two linalg.generics, each
// quadratic in the axis length (the axes TopK sees in models are short:
// classes, beams, candidates):
//   1. the rank of every element along the axis: how many elements come
//      before it in the output order, counting an equal element first when
//      its index is lower (ONNX: ties go to the lower index). The ranks of a
//      row are thus a permutation of 0..n-1.
//   2. output position p (p < k) takes the one element whose rank is p: a
//      reduction over the axis selecting it, for the value and its index.
// NaN orders above every number, largest or smallest, as the ONNX reference
// (a numpy lexsort) does. The result is always sorted; with sorted=0 ONNX
// leaves the order open, so that is a valid answer too.
#include "lib/importer/onnx/Builders.h"

#include "dialects/compress/IR/CompressOps.h"

using namespace compress;
using namespace mlir;
using llvm::SmallVector;

namespace {

/// True when `a` comes strictly before `b` in the output order, and when
/// the two are equal (NaN equal to NaN), as i1 scalars.
std::pair<Value, Value> compareForTopK(OpBuilder &b, Location l, Value a, Value v,
                                       bool largest, bool isUnsigned) {
  if (isa<FloatType>(a.getType())) {
    // "Above" with NaN the greatest value: a > v, or a NaN over a number.
    auto above = [&](Value x, Value y) {
      Value gt = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, x, y);
      Value xNaN = arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNO, x, x);
      Value yNum = arith::CmpFOp::create(b, l, arith::CmpFPredicate::ORD, y, y);
      return arith::OrIOp::create(b, l, gt, arith::AndIOp::create(b, l, xNaN, yNum)).getResult();
    };
    Value before = largest ? above(a, v) : above(v, a);
    Value eq = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, a, v);
    Value aNaN = arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNO, a, a);
    Value vNaN = arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNO, v, v);
    Value bothNaN = arith::AndIOp::create(b, l, aNaN, vNaN);
    return {before, arith::OrIOp::create(b, l, eq, bothNaN)};
  }
  arith::CmpIPredicate pred;
  if (largest)
    pred = isUnsigned ? arith::CmpIPredicate::ugt : arith::CmpIPredicate::sgt;
  else
    pred = isUnsigned ? arith::CmpIPredicate::ult : arith::CmpIPredicate::slt;
  return {arith::CmpIOp::create(b, l, pred, a, v),
          arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, a, v)};
}

/// K as an index: from the attribute (opset 1) or the input (opset >= 10),
/// constant or read when the model runs. A constant K is checked here
/// against a static axis length; a K read at run time is checked when the
/// model runs (compress.check_index against n + 1, i.e. 0 <= K <= n).
FailureOr<OpFoldResult> topKCount(NodeContext &ctx, Value x, int64_t axis) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  int64_t n = ctx.inputType(0).getDimSize(axis);
  auto checkStatic = [&](int64_t k) -> FailureOr<OpFoldResult> {
    if (k < 0 || (!ShapedType::isDynamic(n) && k > n))
      return ctx.error() << "k = " << k << " is outside [0, " << n
                         << "], the length of axis " << axis,
             failure();
    return OpFoldResult(b.getIndexAttr(k));
  };
  if (ctx.opset < 10) {
    if (!ctx.hasAttr("k"))
      return ctx.error() << "missing attribute 'k'", failure();
    return checkStatic(ctx.intAttr("k", 0));
  }
  if (!ctx.hasInput(1))
    return ctx.error() << "missing input 'K'", failure();
  RankedTensorType kType = ctx.inputType(1);
  if (kType.getNumElements() != 1 || kType.getRank() != 1 ||
      !isa<IntegerType>(kType.getElementType()))
    return ctx.error() << "input 'K' must be a 1-D integer tensor of one element, but it is "
                       << kType,
           failure();
  if (std::optional<SmallVector<int64_t>> k = ctx.constInts(1))
    return checkStatic(k->front());
  Value kTensor = ctx.input(1);
  if (!kTensor)
    return failure();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value k = tensor::ExtractOp::create(b, loc, kTensor, ValueRange{zero});
  k = arith::IndexCastOp::create(b, loc, b.getIndexType(), k);
  Value len = tensor::DimOp::create(b, loc, x, axis);
  Value bound = arith::AddIOp::create(b, loc, len, arith::ConstantIndexOp::create(b, loc, 1));
  // check_index takes [-bound, bound) and wraps negatives; a negative K is
  // moved below -bound first so that it fails rather than wrapping.
  Value negative = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, k, zero);
  Value shifted = arith::SubIOp::create(b, loc, k, bound);
  Value asked = arith::SelectOp::create(b, loc, negative, shifted, k);
  Value checked = CheckIndexOp::create(b, loc, b.getIndexType(), asked, bound,
                                       "input 'K' of " + ctx.siteName());
  return OpFoldResult(checked);
}

LogicalResult importTopK(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  MLIRContext *mctx = b.getContext();
  RankedTensorType xType = ctx.inputType(0);
  int64_t rank = xType.getRank();
  if (rank == 0)
    return ctx.error() << "expects an input of rank >= 1";
  Type elem = xType.getElementType();
  if (!isa<FloatType>(elem) && !(isa<IntegerType>(elem) && !elem.isInteger(1)))
    return ctx.error() << "unsupported element type " << elem;
  auto axis = normalizeAxis(ctx, ctx.intAttr("axis", -1), rank);
  if (failed(axis))
    return failure();
  bool largest = true;
  if (ctx.opset >= 11) {
    largest = ctx.intAttr("largest", 1) != 0;
    (void)ctx.intAttr("sorted", 1); // always sorted: see the file comment
  }
  FailureOr<OpFoldResult> k = topKCount(ctx, x, *axis);
  if (failed(k))
    return failure();
  bool isUnsigned = ctx.isUnsigned(0);
  Type i64 = b.getI64Type();

  // 1. rank[.., j, ..] = #{i : x[.., i, ..] comes before x[.., j, ..]}, with
  // i the extra reduction dimension `rank`.
  SmallVector<AffineExpr> other;
  for (int64_t d = 0; d < rank; ++d)
    other.push_back(getAffineDimExpr(d == *axis ? rank : d, mctx));
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank + 1, mctx).getMajorSubMap(rank);
  AffineMap alongAxis = AffineMap::get(rank + 1, 0, other, mctx);
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  SmallVector<OpFoldResult> sizes = mixedSizes(b, loc, x);
  Value zeros = linalg::FillOp::create(b, loc, scalarConstant(b, loc, i64, 0),
                                       emptyTensor(b, loc, sizes, i64))
                    .getResult(0);
  int64_t axisDim = *axis;
  Value ranks =
      linalg::GenericOp::create(
          b, loc, TypeRange{zeros.getType()}, ValueRange{x, x}, ValueRange{zeros},
          SmallVector<AffineMap>{id, alongAxis, id}, iterators,
          [&](OpBuilder &nb, Location l, ValueRange a) {
            Value v = a[0], other = a[1], count = a[2];
            auto [before, equal] = compareForTopK(nb, l, other, v, largest, isUnsigned);
            Value j = linalg::IndexOp::create(nb, l, axisDim);
            Value i = linalg::IndexOp::create(nb, l, rank);
            Value lower = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ult, i, j);
            Value tieFirst = arith::AndIOp::create(nb, l, equal, lower);
            Value counts = arith::OrIOp::create(nb, l, before, tieFirst);
            Value one = arith::ExtUIOp::create(nb, l, nb.getI64Type(), counts);
            linalg::YieldOp::create(nb, l, arith::AddIOp::create(nb, l, count, one).getResult());
          })
          .getResult(0);

  // 2. out[.., p, ..] = the x[.., j, ..] with rank p, and j; j is the
  // reduction dimension. Exactly one j matches, so the initial values
  // (0) are always replaced.
  sizes[axisDim] = *k;
  Value values = linalg::FillOp::create(b, loc, scalarConstant(b, loc, elem, 0),
                                        emptyTensor(b, loc, sizes, elem))
                     .getResult(0);
  Value indices = linalg::FillOp::create(b, loc, scalarConstant(b, loc, i64, 0),
                                         emptyTensor(b, loc, sizes, i64))
                      .getResult(0);
  auto picked = linalg::GenericOp::create(
      b, loc, TypeRange{values.getType(), indices.getType()}, ValueRange{x, ranks},
      ValueRange{values, indices}, SmallVector<AffineMap>{alongAxis, alongAxis, id, id},
      iterators, [&](OpBuilder &nb, Location l, ValueRange a) {
        Value p = arith::IndexCastOp::create(nb, l, nb.getI64Type(),
                                             linalg::IndexOp::create(nb, l, axisDim));
        Value j = arith::IndexCastOp::create(nb, l, nb.getI64Type(),
                                             linalg::IndexOp::create(nb, l, rank));
        Value hit = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, a[1], p);
        linalg::YieldOp::create(nb, l,
                                ValueRange{arith::SelectOp::create(nb, l, hit, a[0], a[2]),
                                           arith::SelectOp::create(nb, l, hit, j, a[3])});
      });
  ctx.setOutput(0, picked.getResult(0), isUnsigned);
  ctx.setOutput(1, picked.getResult(1));
  return success();
}

} // namespace

void compress::appendSortOps(llvm::SmallVectorImpl<OpTableEntry> &t) {
  constexpr int64_t kMax = 21;
  // Opset 1: k an attribute; 10: K an input; 11: largest and sorted.
  t.append({{"TopK", 1, kMax, importTopK}});
}
