// The `compress` dialect: registration of its ops.
#include "dialects/compress/IR/CompressDialect.h"
#include "dialects/compress/IR/CompressOps.h"

using namespace mlir;
using namespace compress;

#include "dialects/compress/IR/CompressDialect.cpp.inc"

void CompressDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/compress/IR/CompressOps.cpp.inc"
      >();
  registerAttributes();
}

// Discardable attributes of the dialect on other ops: the quantized and
// sparse products must be ones on a linalg.generic (module and argument
// attributes, such as compress.weights_layout or compress.name, are the
// tools' bookkeeping).
LogicalResult CompressDialect::verifyOperationAttribute(Operation *op, NamedAttribute attr) {
  bool quantized = attr.getName() == kQuantizedProductAttrName;
  if (!quantized && attr.getName() != kSparseProductAttrName)
    return success();
  if (quantized ? !isa<QuantizedProductAttr>(attr.getValue())
                : !isa<SparseProductAttr>(attr.getValue()))
    return op->emitError("'") << attr.getName().getValue() << "' must be a #compress."
                              << (quantized ? "quantized_product" : "sparse_product");
  if (op->getName().getStringRef() != "linalg.generic")
    return op->emitError("'") << attr.getName().getValue() << "' belongs on a linalg.generic";
  return success();
}
