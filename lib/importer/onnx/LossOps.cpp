// Losses: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opsets
// 12-21).
//
// Both score every sample s = [n, d1..dk] of the target by its class
// c = target[s]: loss[s] = -input[n, c, d1..dk] * weight[c] (weight 1 when
// absent), and 0 when target[s] is ignore_index. SoftmaxCrossEntropyLoss
// first takes the LogSoftmax of its scores over the class axis (its optional
// second output). One linalg.generic with no inputs walks the samples and
// reads target, input and weight with tensor.extract; "sum" and "mean" then
// reduce it. "mean" divides by the summed weights of the samples not
// ignored (the ONNX spec and its backend data; without weights and
// ignore_index that is the sample count).
//
// A class outside [0, C) that is not ignore_index fails the run naming the
// node (compress.check_index); a negative one counts from the end, as the
// ONNX reference's Python indexing reads it.
#include "lib/importer/onnx/Builders.h"

#include "dialects/compress/IR/CompressOps.h"

using namespace compress;
using namespace mlir;
using llvm::SmallVector;

namespace {

enum class Reduction { None, Sum, Mean };

/// Which of the node's inputs is which: their ONNX names differ by op.
struct LossNames {
  const char *input, *target, *weight;
};

FailureOr<Reduction> reductionAttr(NodeContext &ctx) {
  std::string r = ctx.stringAttr("reduction", "mean");
  if (r == "none")
    return Reduction::None;
  if (r == "sum")
    return Reduction::Sum;
  if (r == "mean")
    return Reduction::Mean;
  return ctx.error() << "unsupported reduction '" << r << "' (expected none, sum or mean)",
         failure();
}

/// Checks the shapes and types of input [N, C, d1..dk], target [N, d1..dk]
/// and the optional weight [C], statically where the sizes are known.
LogicalResult checkOperands(NodeContext &ctx, const LossNames &names) {
  RankedTensorType x = ctx.inputType(0), t = ctx.inputType(1);
  if (!isa<FloatType>(x.getElementType()))
    return ctx.error() << "input '" << names.input
                       << "' must be floating point, but it is " << x;
  if (x.getRank() < 2)
    return ctx.error() << "input '" << names.input << "' must have rank >= 2 ([N, C, ...]), but it is "
                       << x;
  if (!isa<IntegerType>(t.getElementType()) || t.getElementType().isInteger(1) ||
      t.getRank() != x.getRank() - 1)
    return ctx.error() << "input '" << names.target << "' must be an integer tensor of rank "
                       << x.getRank() - 1 << " ([N, d1, ...]), but it is " << t;
  for (int64_t d = 0; d < t.getRank(); ++d) {
    int64_t xd = d == 0 ? 0 : d + 1;
    if (!t.isDynamicDim(d) && !x.isDynamicDim(xd) && t.getDimSize(d) != x.getDimSize(xd))
      return ctx.error() << "input '" << names.target << "' " << t << " does not match input '"
                         << names.input << "' " << x << " in dimension " << d;
  }
  if (!ctx.hasInput(2))
    return success();
  RankedTensorType w = ctx.inputType(2);
  if (w.getElementType() != x.getElementType() || w.getRank() != 1 ||
      (!w.isDynamicDim(0) && !x.isDynamicDim(1) && w.getDimSize(0) != x.getDimSize(1)))
    return ctx.error() << "input '" << names.weight << "' must hold one " << x.getElementType()
                       << " per class (" << x.getDimSize(1) << "), but it is " << w;
  return success();
}

/// The size of target dimension d, which must equal input dimension `xd`.
/// When either is dynamic they are compared when the model runs; on a
/// mismatch the run fails and the samples are walked over a size of 0, so
/// that nothing is read out of bounds meanwhile.
OpFoldResult sampleSize(NodeContext &ctx, Value x, Value target, int64_t d, int64_t xd,
                        const LossNames &names) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  auto t = cast<RankedTensorType>(target.getType());
  auto xt = cast<RankedTensorType>(x.getType());
  if (!t.isDynamicDim(d) && !xt.isDynamicDim(xd))
    return b.getIndexAttr(t.getDimSize(d));
  Value td = tensor::DimOp::create(b, loc, target, d);
  Value xdv = tensor::DimOp::create(b, loc, x, xd);
  std::string site = "input '" + std::string(names.target) + "' of " + ctx.siteName() +
                     ", whose dimension " + std::to_string(d) + " must match dimension " +
                     std::to_string(xd) + " of input '" + names.input + "'";
  Value fits = CheckCountOp::create(b, loc, b.getI1Type(), td, xdv, b.getStringAttr(site));
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  return arith::SelectOp::create(b, loc, fits, td, zero).getResult();
}

/// The loss of `logProb` [N, C, d1..dk] (log-probabilities) against the
/// node's target and weight, reduced as the node asks.
FailureOr<Value> nllLoss(NodeContext &ctx, Value logProb, const LossNames &names) {
  FailureOr<Reduction> reduction = reductionAttr(ctx);
  if (failed(reduction))
    return failure();
  std::optional<int64_t> ignoreIndex;
  if (ctx.hasAttr("ignore_index"))
    ignoreIndex = ctx.intAttr("ignore_index", 0);
  Value target = ctx.input(1);
  Value weight;
  if (!target || (ctx.hasInput(2) && !(weight = ctx.input(2))))
    return failure();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Type elem = cast<RankedTensorType>(logProb.getType()).getElementType();
  // Sums of f16 or bf16 losses accumulate in f32, which keeps the "mean"
  // denominator (a count when unweighted) exact well past 2048 samples.
  Type acc = elem;
  if (*reduction != Reduction::None && elem.getIntOrFloatBitWidth() < 32)
    acc = b.getF32Type();
  int64_t rank = cast<RankedTensorType>(target.getType()).getRank();
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < rank; ++d)
    sizes.push_back(sampleSize(ctx, logProb, target, d, d == 0 ? 0 : d + 1, names));

  // Per sample: the loss, and with "mean" over weights or ignored samples
  // the weight it counts with.
  bool weightSum = *reduction == Reduction::Mean && (weight || ignoreIndex);
  SmallVector<Value> inits = {emptyTensor(b, loc, sizes, acc)};
  if (weightSum)
    inits.push_back(emptyTensor(b, loc, sizes, acc));
  Value classes = tensor::DimOp::create(b, loc, logProb, 1);
  Value weightLength;
  auto wType = weight ? cast<RankedTensorType>(weight.getType()) : RankedTensorType();
  auto xType = cast<RankedTensorType>(logProb.getType());
  if (weight && (wType.isDynamicDim(0) || xType.isDynamicDim(1)))
    weightLength = tensor::DimOp::create(b, loc, weight, 0);
  std::string targetSite = "input '" + std::string(names.target) + "' of " + ctx.siteName();
  std::string weightSite = "input '" + std::string(names.weight) + "' of " + ctx.siteName();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  SmallVector<AffineMap> maps(inits.size(), id);
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  auto perSample = linalg::GenericOp::create(
      b, loc, ValueRange(inits).getTypes(), ValueRange{}, inits, maps, iterators,
      [&](OpBuilder &nb, Location l, ValueRange) {
        SmallVector<Value> s;
        for (int64_t d = 0; d < rank; ++d)
          s.push_back(linalg::IndexOp::create(nb, l, d));
        Value c = tensor::ExtractOp::create(nb, l, target, s);
        c = arith::IndexCastOp::create(nb, l, nb.getIndexType(), c);
        Value ignored = arith::ConstantIntOp::create(nb, l, 0, 1);
        if (ignoreIndex) {
          Value ii = arith::ConstantIndexOp::create(nb, l, *ignoreIndex);
          ignored = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, c, ii);
          // An ignored sample reads class 0, whatever its (possibly out of
          // range) ignore_index; its loss is replaced by 0 below.
          c = arith::SelectOp::create(nb, l, ignored, arith::ConstantIndexOp::create(nb, l, 0), c);
        }
        c = CheckIndexOp::create(nb, l, nb.getIndexType(), c, classes, targetSite);
        SmallVector<Value> at = {s[0], c};
        at.append(s.begin() + 1, s.end());
        Value loss = arith::NegFOp::create(nb, l, tensor::ExtractOp::create(nb, l, logProb, at));
        Value w = scalarConstant(nb, l, elem, 1.0);
        if (weight) {
          Value wc = c;
          if (weightLength)
            wc = CheckIndexOp::create(nb, l, nb.getIndexType(), c, weightLength, weightSite);
          w = tensor::ExtractOp::create(nb, l, weight, ValueRange{wc});
          loss = arith::MulFOp::create(nb, l, loss, w);
        }
        Value zero = scalarConstant(nb, l, acc, 0.0);
        SmallVector<Value> results = {arith::SelectOp::create(
            nb, l, ignored, zero, castScalar(nb, l, loss, acc, false, false))};
        if (weightSum)
          results.push_back(arith::SelectOp::create(nb, l, ignored, zero,
                                                    castScalar(nb, l, w, acc, false, false)));
        linalg::YieldOp::create(nb, l, results);
      });
  if (*reduction == Reduction::None)
    return perSample.getResult(0);

  SmallVector<int64_t> all = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  auto sum = [&](Value v) {
    return reduceAxes(b, loc, v, all, /*keepDims=*/false, scalarAttr(b, acc, 0),
                      [](OpBuilder &nb, Location l, ValueRange a) {
                        return arith::AddFOp::create(nb, l, a[0], a[1]).getResult();
                      });
  };
  Value total = sum(perSample.getResult(0));
  if (*reduction == Reduction::Sum)
    return mapTensor(b, loc, total, elem, [&](OpBuilder &nb, Location l, ValueRange a) {
      return castScalar(nb, l, a[0], elem, false, false);
    });
  if (!weightSum) {
    Value count = reducedCount(b, loc, target, all, acc);
    return mapTensor(b, loc, total, elem, [&](OpBuilder &nb, Location l, ValueRange a) {
      return castScalar(nb, l, arith::DivFOp::create(nb, l, a[0], count), elem, false, false);
    });
  }
  return broadcastMap(ctx, {total, sum(perSample.getResult(1))}, elem,
                      [&](OpBuilder &nb, Location l, ValueRange a) {
                        Value mean = arith::DivFOp::create(nb, l, a[0], a[1]);
                        return castScalar(nb, l, mean, elem, false, false);
                      });
}

LogicalResult importNegativeLogLikelihoodLoss(NodeContext &ctx) {
  LossNames names = {"input", "target", "weight"};
  if (failed(checkOperands(ctx, names)))
    return failure();
  Value x = ctx.input(0);
  if (!x)
    return failure();
  FailureOr<Value> loss = nllLoss(ctx, x, names);
  if (failed(loss))
    return failure();
  ctx.setOutput(0, *loss);
  return success();
}

LogicalResult importSoftmaxCrossEntropyLoss(NodeContext &ctx) {
  LossNames names = {"scores", "labels", "weights"};
  if (failed(checkOperands(ctx, names)))
    return failure();
  Value scores = ctx.input(0);
  if (!scores)
    return failure();
  FailureOr<Value> logProb = softmax(ctx, scores, {1}, /*log=*/true);
  if (failed(logProb))
    return failure();
  FailureOr<Value> loss = nllLoss(ctx, *logProb, names);
  if (failed(loss))
    return failure();
  ctx.setOutput(0, *loss);
  ctx.setOutput(1, *logProb);
  return success();
}

} // namespace

void compress::appendLossOps(llvm::SmallVectorImpl<OpTableEntry> &t) {
  constexpr int64_t kMax = 21;
  // Opset 13 only adds bfloat16.
  t.append({
      {"NegativeLogLikelihoodLoss", 12, kMax, importNegativeLogLikelihoodLoss},
      {"SoftmaxCrossEntropyLoss", 12, kMax, importSoftmaxCrossEntropyLoss},
  });
}
