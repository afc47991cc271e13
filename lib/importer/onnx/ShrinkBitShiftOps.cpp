// Two elementwise ops kept apart from ElementwiseOps.cpp, which is long
// enough: Shrink (a piecewise activation) and BitShift (unsigned shifts).
#include "lib/importer/onnx/Builders.h"

using namespace compress;
using namespace mlir;

namespace {

/// Shrink (opsets 9-21): x + bias below -lambd, x - bias above lambd, 0
/// between. Integers are compared and shifted in f64 and truncated back, as
/// the ONNX reference's numpy promotion does.
LogicalResult importShrink(NodeContext &ctx) {
  Type elem = ctx.inputType(0).getElementType();
  if (elem.isInteger(1) || !elem.isIntOrFloat())
    return ctx.error() << "unsupported element type " << elem;
  double bias = ctx.floatAttr("bias", 0.0f), lambd = ctx.floatAttr("lambd", 0.5f);
  Value x = ctx.input(0);
  if (!x)
    return failure();
  bool isUnsigned = ctx.isUnsigned(0);
  Type work = isa<FloatType>(elem) ? elem : ctx.b.getF64Type();
  Value y = mapTensor(ctx.b, ctx.loc, x, elem, [&](OpBuilder &nb, Location l, ValueRange a) {
    Value v = castScalar(nb, l, a[0], work, isUnsigned, false);
    Value below = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OLT, v,
                                        scalarConstant(nb, l, work, -lambd));
    Value above = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT, v,
                                        scalarConstant(nb, l, work, lambd));
    Value b = scalarConstant(nb, l, work, bias);
    Value r = arith::SelectOp::create(nb, l, above, arith::SubFOp::create(nb, l, v, b),
                                      scalarConstant(nb, l, work, 0.0));
    r = arith::SelectOp::create(nb, l, below, arith::AddFOp::create(nb, l, v, b), r);
    return castScalar(nb, l, r, elem, false, isUnsigned);
  });
  ctx.setOutput(0, y, isUnsigned);
  return success();
}

/// BitShift (opsets 11-21) of unsigned integers, broadcast. A shift by the
/// bit width or more gives 0 (arith leaves it undefined).
LogicalResult importBitShift(NodeContext &ctx) {
  std::string direction = ctx.stringAttr("direction", "");
  if (direction != "LEFT" && direction != "RIGHT")
    return ctx.error() << "attribute 'direction' must be LEFT or RIGHT, but it is '" << direction
                       << "'";
  Type elem = ctx.inputType(0).getElementType();
  if (!isa<IntegerType>(elem) || elem.isInteger(1) || !ctx.isUnsigned(0) || !ctx.isUnsigned(1) ||
      ctx.inputType(1).getElementType() != elem)
    return ctx.error() << "expects two inputs of one unsigned integer type, but they are "
                       << ctx.inputType(0) << " and " << ctx.inputType(1);
  Value x = ctx.input(0), y = ctx.input(1);
  if (!x || !y)
    return failure();
  bool left = direction == "LEFT";
  auto r = broadcastMap(ctx, {x, y}, elem, [&](OpBuilder &nb, Location l, ValueRange a) {
    Value shifted = left ? arith::ShLIOp::create(nb, l, a[0], a[1]).getResult()
                         : arith::ShRUIOp::create(nb, l, a[0], a[1]).getResult();
    Value width = scalarConstant(nb, l, elem, elem.getIntOrFloatBitWidth());
    Value inRange = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ult, a[1], width);
    return arith::SelectOp::create(nb, l, inRange, shifted, scalarConstant(nb, l, elem, 0))
        .getResult();
  });
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r, /*isUnsigned=*/true);
  return success();
}

} // namespace

void compress::appendShrinkBitShiftOps(llvm::SmallVectorImpl<OpTableEntry> &t) {
  constexpr int64_t kMax = 21;
  t.append({
      {"Shrink", 9, kMax, importShrink},
      {"BitShift", 11, kMax, importBitShift},
  });
}
