// The sites of run-time index checks, as compress-cpu-lower-index-checks
// numbers them: the engine and the artifact's descriptor name a failing
// check by its number.
#ifndef COMPRESS_PASSES_CPU_INDEXCHECKS_H
#define COMPRESS_PASSES_CPU_INDEXCHECKS_H

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace compress {

/// Module attribute: the `site` of each lowered check, by number.
inline constexpr llvm::StringLiteral kIndexSitesAttr = "compress.index_sites";

/// The sites recorded on `module` (none before the lowering).
std::vector<std::string> indexSitesOf(mlir::ModuleOp module);

} // namespace compress

#endif
