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

// Discardable attributes of the dialect on other ops: the quantized product
// must be one on a linalg.generic (module and argument attributes, such as
// compress.weights_layout or compress.name, are the tools' bookkeeping).
LogicalResult CompressDialect::verifyOperationAttribute(Operation *op, NamedAttribute attr) {
  if (attr.getName() != kQuantizedProductAttrName)
    return success();
  if (!isa<QuantizedProductAttr>(attr.getValue()))
    return op->emitError("'") << kQuantizedProductAttrName
                              << "' must be a #compress.quantized_product";
  if (op->getName().getStringRef() != "linalg.generic")
    return op->emitError("'") << kQuantizedProductAttrName << "' belongs on a linalg.generic";
  return success();
}
