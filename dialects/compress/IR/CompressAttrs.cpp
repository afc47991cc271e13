// Attributes of the `compress` dialect: verifiers and the generated code.
#include "dialects/compress/IR/CompressDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace compress;

LogicalResult QuantizedProductAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                           int64_t bits, int64_t groupSize, int64_t inFeatures,
                                           bool int8Activations, bool tiled) {
  if (bits < 2 || bits > 8)
    return emitError() << "expects 2 to 8 bits, got " << bits;
  if (groupSize < 1 || inFeatures < 1)
    return emitError() << "group size " << groupSize << " and in_features " << inFeatures
                       << " must be positive";
  return success();
}

#define GET_ATTRDEF_CLASSES
#include "dialects/compress/IR/CompressAttrs.cpp.inc"

void CompressDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/compress/IR/CompressAttrs.cpp.inc"
      >();
}
