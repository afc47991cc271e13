// Lowering of the token-skip routing ops (route, select, gather, scatter)
// to linalg, tensor and scf on tensors.
#ifndef COMPRESS_PASSES_CONVERSION_TOKENOPSTOLINALG_H
#define COMPRESS_PASSES_CONVERSION_TOKENOPSTOLINALG_H

#include "mlir/IR/PatternMatch.h"

namespace compress {

/// `parallelLists`: list the kept tokens with linalg reductions and scatter
/// with a parallel select (for targets that run linalg ops as kernels)
/// instead of a sequential scan and a loop of row inserts.
void populateTokenOpsToLinalgPatterns(mlir::RewritePatternSet &patterns, bool parallelLists);

} // namespace compress

#endif
