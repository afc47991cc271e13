// The `compress` dialect: declaration.
#ifndef COMPRESS_DIALECTS_COMPRESS_IR_COMPRESSDIALECT_H
#define COMPRESS_DIALECTS_COMPRESS_IR_COMPRESSDIALECT_H

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dialect.h"

#include <memory>

namespace compress {
class CalibrationSource;
class PendingOutputs;
class WeightStore;
} // namespace compress

#include "dialects/compress/IR/CompressDialect.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/compress/IR/CompressAttrs.h.inc"

#endif
