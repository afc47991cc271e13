#include "passes/conversion/SparseLinearLoop.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace compress;

linalg::GenericOp compress::buildSparseLinearLoop(OpBuilder &b, SparseLinearOp op, Value init) {
  Location loc = op.getLoc();
  auto resultType = cast<RankedTensorType>(init.getType());
  Type floatType = resultType.getElementType();
  int64_t rank = resultType.getRank();
  bool nm = op.isNM(), hasZeroPoints = static_cast<bool>(op.getZeroPoints());
  int64_t bits = op.getBits(), group = op.getGroupSize();
  int64_t keep = nm ? *op.getKeep() : 0, block = nm ? *op.getBlock() : 0;
  int64_t indexBits = nm ? SparseLinearOp::indexBits(block) : 0;
  Value input = op.getInput();

  MLIRContext *ctx = b.getContext();
  unsigned numLoops = rank + 1;
  SmallVector<AffineExpr> batch;
  for (int64_t i = 0; i + 1 < rank; ++i)
    batch.push_back(getAffineDimExpr(i, ctx));
  AffineExpr n = getAffineDimExpr(rank - 1, ctx), j = getAffineDimExpr(rank, ctx);
  auto map = [&](ArrayRef<AffineExpr> exprs) { return AffineMap::get(numLoops, 0, exprs, ctx); };
  SmallVector<Value> inputs = {op.getValues(), op.getIndices()};
  SmallVector<AffineMap> maps = {map({n, bits == 4 ? j.floorDiv(2) : j}),
                                 map({n, nm ? j.floorDiv(8 / indexBits) : j})};
  if (!nm) {
    inputs.push_back(op.getCounts());
    maps.push_back(map({n}));
  }
  if (bits != 0) {
    inputs.push_back(op.getScales());
    maps.push_back(map({n, j.floorDiv(group)}));
    if (hasZeroPoints) {
      inputs.push_back(op.getZeroPoints());
      maps.push_back(map({n, j.floorDiv(group)}));
    }
  }
  // Linalg derives each loop's extent from an operand indexed by it plainly;
  // packed 4-bit values and positions index entries only through floordiv,
  // so a shape operand of one byte per entry gives the entry loop's extent
  // (as linalg's pooling ops take their window).
  if (nm && bits == 4) {
    inputs.push_back(tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{op.getStoredEntries()},
                                             b.getI8Type()));
    maps.push_back(map({j}));
  }
  SmallVector<AffineExpr> out(batch);
  out.push_back(n);
  maps.push_back(map(out));
  SmallVector<utils::IteratorType> iterators(numLoops, utils::IteratorType::parallel);
  iterators.back() = utils::IteratorType::reduction;

  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, inputs, ValueRange{init}, maps, iterators,
      [&](OpBuilder &b, Location l, ValueRange args) {
        Type i32 = b.getI32Type(), indexType = b.getIndexType();
        auto i32Constant = [&](int64_t v) { return arith::ConstantIntOp::create(b, l, i32, v); };
        auto indexConstant = [&](int64_t v) { return arith::ConstantIndexOp::create(b, l, v); };
        Value entry = linalg::IndexOp::create(b, l, rank);
        // The entry's column and, for ELL, whether it is a real entry.
        Value column, valid;
        if (nm) {
          int64_t perByte = 8 / indexBits;
          Value byte = arith::ExtUIOp::create(b, l, i32, args[1]);
          Value shift = arith::MulIOp::create(
              b, l,
              arith::IndexCastOp::create(
                  b, l, i32, arith::RemUIOp::create(b, l, entry, indexConstant(perByte))),
              i32Constant(indexBits));
          Value idx = arith::AndIOp::create(b, l, arith::ShRUIOp::create(b, l, byte, shift),
                                            i32Constant((1 << indexBits) - 1));
          Value groupStart = arith::MulIOp::create(
              b, l, arith::DivUIOp::create(b, l, entry, indexConstant(keep)),
              indexConstant(block));
          column = arith::AddIOp::create(b, l, groupStart,
                                         arith::IndexCastOp::create(b, l, indexType, idx));
        } else {
          Value wide = arith::ExtUIOp::create(b, l, b.getI64Type(), args[1]);
          Value count = arith::IndexCastOp::create(b, l, indexType, args[2]);
          valid = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, entry, count);
          column = arith::SelectOp::create(
              b, l, valid, arith::IndexCastOp::create(b, l, indexType, wide), indexConstant(0));
        }
        SmallVector<Value> position;
        for (int64_t i = 0; i + 1 < rank; ++i)
          position.push_back(linalg::IndexOp::create(b, l, i));
        position.push_back(column);
        Value x = tensor::ExtractOp::create(b, l, input, position);

        Value weight = args[0];
        if (bits != 0) {
          unsigned scaleArg = nm ? 2 : 3;
          Value code = arith::ExtUIOp::create(b, l, i32, args[0]);
          if (bits == 4) {
            Value odd = arith::CmpIOp::create(
                b, l, arith::CmpIPredicate::ne,
                arith::RemUIOp::create(b, l, entry, indexConstant(2)), indexConstant(0));
            code = arith::SelectOp::create(b, l, odd,
                                           arith::ShRUIOp::create(b, l, code, i32Constant(4)),
                                           code);
            code = arith::AndIOp::create(b, l, code, i32Constant(15));
          }
          if (hasZeroPoints) {
            code = arith::SubIOp::create(b, l, code,
                                         arith::ExtUIOp::create(b, l, i32, args[scaleArg + 1]));
          } else {
            // Signed codes: sign-extend from `bits` bits.
            Value sign = i32Constant(1 << (bits - 1));
            code = arith::SubIOp::create(b, l, arith::XOrIOp::create(b, l, code, sign), sign);
          }
          weight = arith::MulFOp::create(b, l, arith::SIToFPOp::create(b, l, floatType, code),
                                         args[scaleArg]);
        }
        Value product = arith::MulFOp::create(b, l, x, weight);
        if (valid)
          product = arith::SelectOp::create(
              b, l, valid, product,
              arith::ConstantOp::create(b, l, b.getZeroAttr(floatType)));
        linalg::YieldOp::create(b, l, arith::AddFOp::create(b, l, args.back(), product).getResult());
      });
  int64_t columnBits = nm ? 0 : op.getIndices().getType().getElementType().getIntOrFloatBitWidth();
  generic->setAttr(CompressDialect::kSparseProductAttrName,
                   SparseProductAttr::get(ctx, keep, block, columnBits, bits, group,
                                          op.getInFeatures(), op.getInt8Activations()));
  return generic;
}
