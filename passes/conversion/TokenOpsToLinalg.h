// Lowering of the token-skip routing ops (route, select, gather, scatter)
// to linalg, tensor and scf on tensors.
#ifndef COMPRESS_PASSES_CONVERSION_TOKENOPSTOLINALG_H
#define COMPRESS_PASSES_CONVERSION_TOKENOPSTOLINALG_H

#include "mlir/IR/PatternMatch.h"

namespace compress {

void populateTokenOpsToLinalgPatterns(mlir::RewritePatternSet &patterns);

} // namespace compress

#endif
