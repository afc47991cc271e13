// Verifiers of the token-skip routing ops (TokenOps.td).
#include "dialects/compress/IR/CompressOps.h"

#include <cmath>

using namespace mlir;
using namespace compress;

// Two dimensions agree when either is dynamic or both are equal.
static bool dimsCompatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

static bool isFloatTensor(Type type) {
  return isa<FloatType>(cast<ShapedType>(type).getElementType());
}

/// `keep` is an i1 tensor of `rows`'s shape without its last dimension.
static LogicalResult verifyKeep(Operation *op, RankedTensorType keep, RankedTensorType rows,
                                StringRef rowsName) {
  if (!keep.getElementType().isInteger(1))
    return op->emitOpError("expects an i1 keep mask, got ") << keep;
  if (rows.getRank() < 1 || keep.getRank() != rows.getRank() - 1)
    return op->emitOpError("expects a keep mask of rank ")
           << rows.getRank() - 1 << " (the " << rowsName << "'s without its last dimension), got "
           << keep;
  for (int64_t i = 0; i < keep.getRank(); ++i)
    if (!dimsCompatible(keep.getDimSize(i), rows.getDimSize(i)))
      return op->emitOpError("keep mask dimension ")
             << i << " (" << keep.getDimSize(i) << ") does not match the " << rowsName << "'s ("
             << rows.getDimSize(i) << ")";
  return success();
}

LogicalResult RouteTokensOp::verify() {
  auto input = cast<RankedTensorType>(getInput().getType());
  auto weight = cast<RankedTensorType>(getWeight().getType());
  if (!isFloatTensor(input) || input.getRank() < 2)
    return emitOpError("expects a float input [.., T, D], got ") << input;
  if (weight.getElementType() != input.getElementType() || weight.getRank() != 1 ||
      !dimsCompatible(weight.getDimSize(0), input.getShape().back()))
    return emitOpError("expects a weight [D] of the input's element type with D = ")
           << input.getShape().back() << ", got " << weight;
  if (std::isnan(getThreshold().convertToDouble()))
    return emitOpError("expects a threshold that is not NaN");
  if (!std::isfinite(getScaleWeight().convertToDouble()))
    return emitOpError("expects a finite scale_weight");
  return verifyKeep(*this, cast<RankedTensorType>(getKeep().getType()), input, "input");
}

LogicalResult SelectTokensOp::verify() {
  auto result = cast<RankedTensorType>(getResult().getType());
  if (getRouted().getType() != result || getSkipped().getType() != result)
    return emitOpError("expects the routed and skipped values to have the result's type ")
           << result;
  return verifyKeep(*this, cast<RankedTensorType>(getKeep().getType()), result, "result");
}

LogicalResult GatherTokensOp::verify() {
  auto input = cast<RankedTensorType>(getInput().getType());
  auto rows = cast<RankedTensorType>(getRows().getType());
  if (rows.getRank() != 2 || rows.getElementType() != input.getElementType() ||
      !dimsCompatible(rows.getDimSize(1), input.getShape().back()))
    return emitOpError("expects rows [count, ") << input.getShape().back()
                                               << "] of the input's element type, got " << rows;
  return verifyKeep(*this, cast<RankedTensorType>(getKeep().getType()), input, "input");
}

LogicalResult ScatterTokensOp::verify() {
  auto rows = cast<RankedTensorType>(getRows().getType());
  auto result = cast<RankedTensorType>(getResult().getType());
  if (rows.getRank() != 2 || rows.getElementType() != result.getElementType() ||
      !dimsCompatible(rows.getDimSize(1), result.getShape().back()))
    return emitOpError("expects rows [count, N] of the result's element type and N, got ")
           << rows << " for " << result;
  return verifyKeep(*this, cast<RankedTensorType>(getKeep().getType()), result, "result");
}
