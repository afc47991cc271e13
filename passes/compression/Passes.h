// Compression passes.
#ifndef COMPRESS_PASSES_COMPRESSION_PASSES_H
#define COMPRESS_PASSES_COMPRESSION_PASSES_H

#include "dialects/compress/IR/CompressDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace compress {

#define GEN_PASS_DECL
#include "passes/compression/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/compression/Passes.h.inc"

} // namespace compress

#endif
