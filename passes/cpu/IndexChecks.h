// The sites of run-time index checks, as compress-cpu-lower-index-checks
// numbers them: the engine and the artifact's descriptor name a failing
// check by its number.
#ifndef COMPRESS_PASSES_CPU_INDEXCHECKS_H
#define COMPRESS_PASSES_CPU_INDEXCHECKS_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/SmallVector.h"

#include <string>
#include <vector>

namespace compress {

/// Module attribute: the `site` of each lowered check, by number.
inline constexpr llvm::StringLiteral kIndexSitesAttr = "compress.index_sites";

/// The sites recorded on `module` (none before the lowering).
std::vector<std::string> indexSitesOf(mlir::ModuleOp module);

/// Lowers every compress.check_count of `module` to a call of the runtime's
/// compress_rt_check_count in host code (CPU and CUDA targets alike: the
/// counts are host values), numbering their sites after those already in
/// `sites`, to which they are appended.
void lowerCountChecks(mlir::ModuleOp module, llvm::SmallVectorImpl<mlir::Attribute> &sites);

} // namespace compress

#endif
