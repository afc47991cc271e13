// MatMul and Gemm. A product with a constant 2-D float weight becomes
// compress.linear (the op compression passes rewrite); anything else becomes
// a batched linalg contraction.
#include "lib/importer/onnx/Builders.h"
#include "lib/importer/onnx/QuantizeOps.h"

#include "dialects/compress/IR/CompressOps.h"
#include "dialects/compress/IR/WeightStore.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include "llvm/ADT/StringExtras.h"

#include <cstring>

using namespace compress;
using namespace mlir;
using llvm::SmallVector;

namespace {

Type elemOf(Value v) { return cast<ShapedType>(v.getType()).getElementType(); }

/// A float exactly, for constant keys: its bits in hex.
std::string floatKey(float value) {
  uint32_t bits;
  memcpy(&bits, &value, 4);
  return llvm::utohexstr(bits);
}

/// The [N, K] weight of a linear layer from a float32 constant of shape
/// [K, N] (transposeFromKN) or [N, K], scaled by `alpha`.
Value linearWeight(NodeContext &ctx, unsigned input, bool transposeFromKN,
                   float alpha) {
  auto type = ctx.inputType(input);
  std::string key = ctx.node.input(input) + (transposeFromKN ? "|nk" : "");
  if (alpha != 1.0f)
    key += "|alpha=" + floatKey(alpha);
  auto nk = transposeFromKN ? RankedTensorType::get({type.getDimSize(1), type.getDimSize(0)},
                                                    type.getElementType())
                            : type;
  if (!transposeFromKN && alpha == 1.0f)
    return ctx.input(input);
  const onnx::TensorProto *tensor = ctx.constTensor(input);
  std::vector<char> storage;
  if (!tensor)
    return Value();
  llvm::Expected<llvm::ArrayRef<char>> bytes = ctx.importer.weightBytes(*tensor, storage);
  if (!bytes) {
    ctx.error() << llvm::toString(bytes.takeError());
    return Value();
  }
  int64_t rows = type.getDimSize(0), cols = type.getDimSize(1);
  const float *src = reinterpret_cast<const float *>(bytes->data());
  std::vector<char> out(bytes->size());
  float *dst = reinterpret_cast<float *>(out.data());
  if (transposeFromKN) {
    // In tiles, so that both sides stream through the cache.
    constexpr int64_t kTile = 64;
    for (int64_t k0 = 0; k0 < rows; k0 += kTile)
      for (int64_t n0 = 0; n0 < cols; n0 += kTile)
        for (int64_t k = k0; k < std::min(rows, k0 + kTile); ++k)
          for (int64_t n = n0; n < std::min(cols, n0 + kTile); ++n)
            dst[n * rows + k] = alpha * src[k * cols + n];
  } else {
    for (int64_t i = 0; i < rows * cols; ++i)
      dst[i] = alpha * src[i];
  }
  // A model larger than memory passes through one weight at a time.
  releaseWeightPages(ctx.b.getContext(), *bytes);
  return ctx.importer.createConstant(key, nk, out, ctx.loc);
}

bool isFloat32Constant2D(NodeContext &ctx, unsigned i) {
  auto t = ctx.inputType(i);
  return ctx.constTensor(i) && t.getRank() == 2 && t.hasStaticShape() &&
         t.getElementType().isF32();
}

} // namespace

/// numpy matmul: 1-D operands are promoted and the promoted dimension
/// dropped, leading (batch) dimensions broadcast.
FailureOr<Value> compress::batchedMatmul(NodeContext &ctx, Value a, Value b) {
  OpBuilder &builder = ctx.b;
  Location loc = ctx.loc;
  auto aType = cast<RankedTensorType>(a.getType());
  auto bType = cast<RankedTensorType>(b.getType());
  if (aType.getRank() == 0 || bType.getRank() == 0)
    return ctx.error() << "MatMul operands must have rank >= 1", failure();
  if (aType.getElementType() != bType.getElementType())
    return ctx.error() << "operands have different element types", failure();
  bool aVector = aType.getRank() == 1, bVector = bType.getRank() == 1;
  SmallVector<OpFoldResult> aSizes = mixedSizes(builder, loc, a);
  SmallVector<OpFoldResult> bSizes = mixedSizes(builder, loc, b);
  if (aVector)
    aSizes.insert(aSizes.begin(), builder.getIndexAttr(1));
  if (bVector)
    bSizes.push_back(builder.getIndexAttr(1));
  int64_t aRank = aSizes.size(), bRank = bSizes.size();
  auto kA = getConstantIntValue(aSizes.back()), kB = getConstantIntValue(bSizes[bRank - 2]);
  if (kA && kB && *kA != *kB)
    return ctx.error() << "inner dimensions differ (" << *kA << " and " << *kB
                       << ")",
           failure();
  if (aVector)
    a = reshapeTensor(builder, loc, a, aSizes);
  if (bVector)
    b = reshapeTensor(builder, loc, b, bSizes);

  int64_t batchRank = std::max(aRank, bRank) - 2;
  SmallVector<OpFoldResult> outSizes;
  MLIRContext *mctx = builder.getContext();
  // Loops: batch..., m, n, k.
  int64_t numLoops = batchRank + 3;
  AffineExpr m = getAffineDimExpr(batchRank, mctx), n = getAffineDimExpr(batchRank + 1, mctx),
             k = getAffineDimExpr(batchRank + 2, mctx);
  auto batchExprs = [&](ArrayRef<OpFoldResult> sizes, int64_t rank,
                        SmallVector<AffineExpr> &exprs) -> LogicalResult {
    for (int64_t d = 0; d < rank - 2; ++d) {
      int64_t loop = d + batchRank - (rank - 2);
      auto s = getConstantIntValue(sizes[d]);
      auto out = getConstantIntValue(outSizes[loop]);
      exprs.push_back(s == 1 && out != 1 ? getAffineConstantExpr(0, mctx)
                                         : getAffineDimExpr(loop, mctx));
    }
    return success();
  };
  for (int64_t d = 0; d < batchRank; ++d) {
    OpFoldResult size = builder.getIndexAttr(1);
    for (auto [sizes, rank] : {std::make_pair(ArrayRef(aSizes), aRank),
                               std::make_pair(ArrayRef(bSizes), bRank)}) {
      int64_t k2 = d - (batchRank - (rank - 2));
      if (k2 < 0)
        continue;
      auto s = getConstantIntValue(sizes[k2]);
      if (s == 1)
        continue;
      auto cur = getConstantIntValue(size);
      if (cur && s && *cur != 1 && *cur != *s)
        return ctx.error() << "batch dimensions do not broadcast", failure();
      if (!s && cur && *cur != 1)
        continue; // a static extent wins over a dynamic one
      size = sizes[k2];
    }
    outSizes.push_back(size);
  }
  outSizes.push_back(aSizes[aRank - 2]);
  outSizes.push_back(bSizes[bRank - 1]);
  SmallVector<AffineExpr> aExprs, bExprs, outExprs;
  (void)batchExprs(aSizes, aRank, aExprs);
  (void)batchExprs(bSizes, bRank, bExprs);
  aExprs.append({m, k});
  bExprs.append({k, n});
  for (int64_t d = 0; d < batchRank; ++d)
    outExprs.push_back(getAffineDimExpr(d, mctx));
  outExprs.append({m, n});
  Type elem = aType.getElementType();
  Value init = emptyTensor(builder, loc, outSizes, elem);
  Value zero = scalarConstant(builder, loc, elem, 0);
  Value acc = linalg::FillOp::create(builder, loc, zero, init).getResult(0);
  SmallVector<utils::IteratorType> iterators(numLoops, utils::IteratorType::parallel);
  iterators.back() = utils::IteratorType::reduction;
  Value out = linalg::GenericOp::create(
                  builder, loc, TypeRange{acc.getType()}, ValueRange{a, b}, ValueRange{acc},
                  SmallVector<AffineMap>{AffineMap::get(numLoops, 0, aExprs, mctx),
                                         AffineMap::get(numLoops, 0, bExprs, mctx),
                                         AffineMap::get(numLoops, 0, outExprs, mctx)},
                  iterators,
                  [&](OpBuilder &nb, Location l, ValueRange args) {
                    Value r;
                    if (isa<FloatType>(elem))
                      r = arith::AddFOp::create(nb, l, args[2],
                                                arith::MulFOp::create(nb, l, args[0], args[1]));
                    else
                      r = arith::AddIOp::create(nb, l, args[2],
                                                arith::MulIOp::create(nb, l, args[0], args[1]));
                    linalg::YieldOp::create(nb, l, r);
                  })
                  .getResult(0);
  if (aVector || bVector) {
    SmallVector<OpFoldResult> finalSizes(outSizes.begin(), outSizes.end() - 2);
    if (!aVector)
      finalSizes.push_back(outSizes[outSizes.size() - 2]);
    if (!bVector)
      finalSizes.push_back(outSizes.back());
    out = reshapeTensor(builder, loc, out, finalSizes);
  }
  return out;
}

namespace {

LogicalResult importMatMul(NodeContext &ctx) {
  Value a = ctx.input(0);
  if (!a)
    return failure();
  auto aType = ctx.inputType(0);
  // A DequantizeLinear of a constant: its integer codes, when the op holds them.
  auto dqType = ctx.inputType(1);
  if (aType.getElementType().isF32() && aType.getRank() >= 1 && dqType.getRank() == 2 &&
      dqType.hasStaticShape()) {
    SmallVector<int64_t> shape(aType.getShape());
    shape.back() = dqType.getDimSize(1);
    auto type = RankedTensorType::get(shape, aType.getElementType());
    if (Value q = quantizedLinear(ctx, a, 1, /*transposeFromKN=*/true, Value(), type)) {
      ctx.setOutput(0, q);
      return success();
    }
  }
  if (isFloat32Constant2D(ctx, 1) && aType.getElementType().isF32() &&
      aType.getRank() >= 1) {
    auto bType = ctx.inputType(1);
    int64_t k = bType.getDimSize(0), n = bType.getDimSize(1);
    if (!aType.isDynamicDim(aType.getRank() - 1) && aType.getShape().back() != k)
      return ctx.error() << "inner dimensions differ (" << aType.getShape().back()
                         << " and " << k << ")";
    Value weight = linearWeight(ctx, 1, /*transposeFromKN=*/true, 1.0f);
    if (!weight)
      return failure(); // constBytes reported why
    SmallVector<int64_t> shape(aType.getShape());
    shape.back() = n;
    auto type = RankedTensorType::get(shape, aType.getElementType());
    ctx.setOutput(0, LinearOp::create(ctx.b, ctx.loc, type, a, weight, Value()));
    return success();
  }
  Value b = ctx.input(1);
  if (!b)
    return failure();
  auto out = batchedMatmul(ctx, a, b);
  if (failed(out))
    return failure();
  ctx.setOutput(0, *out);
  return success();
}

/// Gemm: Y = alpha * op(A) * op(B) + beta * C.
LogicalResult importGemm(NodeContext &ctx) {
  float alpha = ctx.floatAttr("alpha", 1.0f), beta = ctx.floatAttr("beta", 1.0f);
  bool transA = ctx.intAttr("transA", 0) != 0, transB = ctx.intAttr("transB", 0) != 0;
  Value a = ctx.input(0);
  if (!a)
    return failure();
  auto aType = ctx.inputType(0);
  if (aType.getRank() != 2 || ctx.inputType(1).getRank() != 2)
    return ctx.error() << "A and B must be 2-D";
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  int64_t n = ctx.inputType(1).getDimSize(transB ? 0 : 1);
  // C as a bias over N, when it broadcasts along rows only.
  std::optional<SmallVector<float>> bias;
  if (ctx.hasInput(2)) {
    auto cType = ctx.inputType(2);
    auto values = ctx.constFloats(2);
    bool rowVector = cType.getNumElements() == 1 ||
                     (cType.getRank() >= 1 && cType.getShape().back() == n &&
                      cType.getNumElements() == n);
    if (values && rowVector && !ShapedType::isDynamic(n)) {
      bias.emplace();
      for (int64_t i = 0; i < n; ++i)
        bias->push_back(beta * float((*values)[values->size() == 1 ? 0 : i]));
    }
  } else {
    bias.emplace();
  }
  auto biasConstant = [&]() -> Value {
    if (bias->empty())
      return Value();
    auto type = RankedTensorType::get({n}, b.getF32Type());
    return ctx.importer.createConstant(
        ctx.node.input(2) + "|bias|n=" + std::to_string(n) + "|beta=" + floatKey(beta), type,
        ArrayRef<char>(reinterpret_cast<const char *>(bias->data()), bias->size() * 4), loc);
  };
  // A DequantizeLinear of a constant: its integer codes, when the op holds them.
  if (!transA && alpha == 1.0f && aType.getElementType().isF32() && bias &&
      ctx.inputType(1).hasStaticShape()) {
    auto type = RankedTensorType::get({aType.getDimSize(0), n}, aType.getElementType());
    if (Value q = quantizedLinear(ctx, a, 1, /*transposeFromKN=*/!transB, biasConstant(), type)) {
      ctx.setOutput(0, q);
      return success();
    }
  }
  if (!transA && isFloat32Constant2D(ctx, 1) && aType.getElementType().isF32() && bias) {
    Value weight = linearWeight(ctx, 1, /*transposeFromKN=*/!transB, alpha);
    if (!weight)
      return failure(); // constBytes reported why
    Value biasValue = biasConstant();
    auto type = RankedTensorType::get({aType.getDimSize(0), n}, aType.getElementType());
    ctx.setOutput(0, LinearOp::create(b, loc, type, a, weight, biasValue));
    return success();
  }
  Value bMat = ctx.input(1);
  if (!bMat)
    return failure();
  if (transA)
    a = transposeTensor(b, loc, a, {1, 0});
  if (transB)
    bMat = transposeTensor(b, loc, bMat, {1, 0});
  auto product = batchedMatmul(ctx, a, bMat);
  if (failed(product))
    return failure();
  Type elem = elemOf(*product);
  SmallVector<Value> inputs = {*product};
  if (ctx.hasInput(2))
    inputs.push_back(ctx.input(2));
  auto out = broadcastMap(ctx, inputs, elem, [&](OpBuilder &nb, Location l, ValueRange args) {
    Value y = args[0];
    bool isF = isa<FloatType>(elem);
    if (alpha != 1.0f)
      y = isF ? arith::MulFOp::create(nb, l, y, scalarConstant(nb, l, elem, alpha)).getResult()
              : arith::MulIOp::create(nb, l, y, scalarConstant(nb, l, elem, alpha)).getResult();
    if (args.size() > 1) {
      Value c = args[1];
      if (beta != 1.0f)
        c = isF ? arith::MulFOp::create(nb, l, c, scalarConstant(nb, l, elem, beta)).getResult()
                : arith::MulIOp::create(nb, l, c, scalarConstant(nb, l, elem, beta)).getResult();
      y = isF ? arith::AddFOp::create(nb, l, y, c).getResult()
              : arith::AddIOp::create(nb, l, y, c).getResult();
    }
    return y;
  });
  if (failed(out))
    return failure();
  ctx.setOutput(0, *out);
  return success();
}

} // namespace

void compress::appendLinearOps(llvm::SmallVectorImpl<OpTableEntry> &t) {
  t.append({
      {"MatMul", 9, 21, importMatMul},
      {"Gemm", 11, 21, importGemm},
  });
}
