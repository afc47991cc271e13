// CUDA code-generation passes.
#ifndef COMPRESS_PASSES_GPU_PASSES_H
#define COMPRESS_PASSES_GPU_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace compress {

#define GEN_PASS_DECL
#include "passes/gpu/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/gpu/Passes.h.inc"

} // namespace compress

#endif
