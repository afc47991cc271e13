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

LogicalResult SparseProductAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                        int64_t keep, int64_t block, int64_t columnBits,
                                        int64_t bits, int64_t groupSize, int64_t inFeatures,
                                        bool int8Activations) {
  if (block == 0 ? columnBits != 16 && columnBits != 32
                 : keep < 1 || keep >= block || block > 16 || columnBits != 0)
    return emitError() << "expects N:M with 1 <= keep < block <= 16, or ELL (block 0) with 16- "
                          "or 32-bit columns";
  if (bits != 0 && bits != 8 && bits != 4)
    return emitError() << "expects float values (bits 0) or 8- or 4-bit codes, got " << bits;
  if ((bits == 0) != (groupSize == 0) || groupSize < 0 || inFeatures < 1)
    return emitError() << "group size " << groupSize << " and in_features " << inFeatures
                       << " do not fit " << bits << "-bit values";
  if (int8Activations && bits == 0)
    return emitError() << "int8 activations need integer codes";
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
