// Ops of the `compress` dialect.
#ifndef COMPRESS_DIALECTS_COMPRESS_IR_COMPRESSOPS_H
#define COMPRESS_DIALECTS_COMPRESS_IR_COMPRESSOPS_H

#include "dialects/compress/IR/CompressDialect.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/compress/IR/CompressInterfaces.h.inc"

#define GET_OP_CLASSES
#include "dialects/compress/IR/CompressOps.h.inc"

#endif
