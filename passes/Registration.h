// Registration of every CompressIR pass and pipeline, and running a textual
// pipeline given on a tool's command line.
#ifndef COMPRESS_PASSES_REGISTRATION_H
#define COMPRESS_PASSES_REGISTRATION_H

#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

namespace compress {

/// Registers upstream's passes and ours (compression, conversion, CPU) and
/// the CPU pipeline, once.
void registerAllCompressPasses();

/// The compression passes (passes/compression), as their flags name them:
/// what the tools' --help and --list-compression-passes print.
llvm::ArrayRef<llvm::StringRef> compressionPassNames();

/// Runs `pipeline` (pass-pipeline syntax without the builtin.module wrapper,
/// e.g. "compress-quantize{bits=4 group-size=128}") on `module`.
llvm::Error runPassPipeline(mlir::ModuleOp module, llvm::StringRef pipeline);

} // namespace compress

#endif
