// Ahead-of-time compilation of an imported module into a deployable
// artifact: host object code (for a GPU target, with the device code inside
// it), a shared and a static library, a C header and an mmap-able weights
// file.
#ifndef COMPRESS_LIB_AOT_ARTIFACT_H
#define COMPRESS_LIB_AOT_ARTIFACT_H

#include "passes/cpu/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/Support/Error.h"

#include <functional>
#include <string>
#include <vector>

namespace compress {

/// What a target's artifacts are made of.
struct ArtifactRecipe {
  /// The target's lowering, moving the weights to the given file.
  std::function<mlir::LogicalResult(mlir::OpPassManager &, const ExternalizeWeightsPassOptions &)>
      buildPipeline;
  /// The runtime archives, copied into the artifact and linked whole into
  /// lib<name>.so (they hold the session API).
  std::vector<std::string> runtimeArchives;
  /// What lib<name>.so links besides them.
  std::vector<std::string> linkFlags;
  /// The runtime's `compress_device_memory` for code that works in device
  /// memory ("" for host memory): sessions move tensors through it.
  std::string deviceMemorySymbol;
};

/// The CPU target's recipe: its pipeline, libcompress_runtime_cpu.a, libomp
/// and oneDNN.
ArtifactRecipe cpuArtifactRecipe();

struct AotOptions {
  /// A C identifier: symbols are <name>_model, files lib<name>.so, ...
  std::string name;
  /// The folder the artifact goes to; written only when everything succeeded.
  std::string outputDir;
};

/// Lowers `module` (rewritten in place) and writes into outputDir:
///   <name>.weights          the weights, 64-byte aligned, mapped at run time
///   <name>.h                declares `extern const compress_model <name>_model;`
///   compress_runtime.h      the session API
///   lib<name>.so            model code + runtime (for the CPU it needs only
///                           libomp, libdnnl, libc, libm, libstdc++)
///   lib<name>.a             model code, to link with the runtime archives
///   the recipe's runtime archives (libcompress_runtime_cpu.a, ...)
llvm::Error compileArtifact(mlir::ModuleOp module, const AotOptions &options,
                            const ArtifactRecipe &recipe);

/// Whether `name` can name an artifact (a C identifier).
bool isValidArtifactName(llvm::StringRef name);

} // namespace compress

#endif
