// Ahead-of-time compilation of an imported module into a deployable CPU
// artifact: object code, a shared and a static library, a C header and an
// mmap-able weights file.
#ifndef COMPRESS_LIB_AOT_CPUARTIFACT_H
#define COMPRESS_LIB_AOT_CPUARTIFACT_H

#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/Error.h"

#include <string>

namespace compress {

struct CpuArtifactOptions {
  /// A C identifier: symbols are <name>_model, files lib<name>.so, ...
  std::string name;
  /// The folder the artifact goes to; written only when everything succeeded.
  std::string outputDir;
};

/// Lowers `module` (rewritten in place) and writes into outputDir:
///   <name>.weights          the weights, 64-byte aligned, mapped at run time
///   <name>.h                declares `extern const compress_model <name>_model;`
///   compress_runtime.h      the session API
///   lib<name>.so            model code + runtime, needs only libomp, libdnnl, libc, libm, libstdc++
///   lib<name>.a             model code, to link with libcompress_runtime_cpu.a
///   libcompress_runtime_cpu.a
llvm::Error compileCpuArtifact(mlir::ModuleOp module, const CpuArtifactOptions &options);

/// Whether `name` can name an artifact (a C identifier).
bool isValidArtifactName(llvm::StringRef name);

} // namespace compress

#endif
