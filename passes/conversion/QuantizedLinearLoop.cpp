#include "passes/conversion/QuantizedLinearLoop.h"


#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace compress;

llvm::StringRef compress::stringifyLayout(QuantizedWeightLayout layout) {
  return layout == QuantizedWeightLayout::Tiled ? "tiled" : "row_major";
}

linalg::GenericOp compress::buildQuantizedLinearLoop(OpBuilder &b, Location loc,
                                                     const QuantizedLinearLoop &loop) {
  auto resultType = cast<RankedTensorType>(loop.init.getType());
  Type floatType = resultType.getElementType();
  int64_t rank = resultType.getRank();
  int64_t bits = loop.bits, group = loop.groupSize;
  bool packed = bits <= 4, tiled = loop.layout == QuantizedWeightLayout::Tiled;
  bool hasZeroPoints = static_cast<bool>(loop.zeroPoints);

  MLIRContext *ctx = b.getContext();
  unsigned numLoops = rank + 1;
  SmallVector<AffineExpr> batch;
  for (int64_t i = 0; i + 1 < rank; ++i)
    batch.push_back(getAffineDimExpr(i, ctx));
  AffineExpr n = getAffineDimExpr(rank - 1, ctx), k = getAffineDimExpr(rank, ctx);
  auto withLast = [&](AffineExpr last) {
    SmallVector<AffineExpr> exprs(batch);
    exprs.push_back(last);
    return AffineMap::get(numLoops, 0, exprs, ctx);
  };
  AffineMap weightMap, tableMap;
  if (tiled) {
    int64_t depth = packed ? 8 : 4;
    weightMap = AffineMap::get(numLoops, 0, {n.floorDiv(16), k.floorDiv(depth), n % 16, k % 4}, ctx);
    tableMap = AffineMap::get(numLoops, 0, {n.floorDiv(16), k.floorDiv(group), n % 16}, ctx);
  } else {
    weightMap = AffineMap::get(numLoops, 0, {n, k.floorDiv(packed ? 2 : 1)}, ctx);
    tableMap = AffineMap::get(numLoops, 0, {n, k.floorDiv(group)}, ctx);
  }
  SmallVector<Value> inputs = {loop.input, loop.weight, loop.scales};
  SmallVector<AffineMap> maps = {withLast(k), weightMap, tableMap};
  if (hasZeroPoints) {
    inputs.push_back(loop.zeroPoints);
    maps.push_back(tableMap);
  }
  maps.push_back(withLast(n));
  SmallVector<utils::IteratorType> iterators(numLoops, utils::IteratorType::parallel);
  iterators.back() = utils::IteratorType::reduction;
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, inputs, ValueRange{loop.init}, maps, iterators,
      [&](OpBuilder &b, Location l, ValueRange args) {
        Type i32 = b.getI32Type();
        Value byte = arith::ExtUIOp::create(b, l, i32, args[1]);
        Value q = byte;
        if (packed) {
          // Row-major: element k is in the low nibble when k is even. Tiled:
          // features k0..k0+3 of a lane are low nibbles, k0+4..k0+7 high.
          Value kIndex = linalg::IndexOp::create(b, l, rank);
          auto index = [&](int64_t v) { return arith::ConstantIndexOp::create(b, l, v); };
          Value high =
              tiled ? arith::CmpIOp::create(b, l, arith::CmpIPredicate::uge,
                                            arith::RemUIOp::create(b, l, kIndex, index(8)),
                                            index(4))
                    : arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne,
                                            arith::RemUIOp::create(b, l, kIndex, index(2)),
                                            index(0));
          Value shifted =
              arith::ShRUIOp::create(b, l, byte, arith::ConstantIntOp::create(b, l, i32, 4));
          q = arith::SelectOp::create(b, l, high, shifted, byte);
        }
        q = arith::AndIOp::create(b, l, q,
                                  arith::ConstantIntOp::create(b, l, i32, (1 << bits) - 1));
        if (!hasZeroPoints) {
          // Signed values: sign-extend from `bits` bits.
          Value sign = arith::ConstantIntOp::create(b, l, i32, 1 << (bits - 1));
          q = arith::SubIOp::create(b, l, arith::XOrIOp::create(b, l, q, sign), sign);
        } else {
          Value zero = arith::ExtUIOp::create(b, l, i32, args[3]);
          q = arith::SubIOp::create(b, l, q, zero);
        }
        Value weight =
            arith::MulFOp::create(b, l, arith::SIToFPOp::create(b, l, floatType, q), args[2]);
        Value product = arith::MulFOp::create(b, l, args[0], weight);
        Value sum = arith::AddFOp::create(b, l, args.back(), product);
        linalg::YieldOp::create(b, l, sum);
      });
  // Targets with a quantized-product microkernel recognise the loop by this.
  generic->setAttr(CompressDialect::kQuantizedProductAttrName,
                   QuantizedProductAttr::get(ctx, bits, group, loop.k, loop.int8Activations,
                                             tiled));
  return generic;
}
