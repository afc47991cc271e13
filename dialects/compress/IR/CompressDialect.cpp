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
}
