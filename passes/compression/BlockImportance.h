// How much each repeated block matters, measured on calibration data.
#ifndef COMPRESS_PASSES_COMPRESSION_BLOCKIMPORTANCE_H
#define COMPRESS_PASSES_COMPRESSION_BLOCKIMPORTANCE_H

#include "passes/compression/Blocks.h"
#include "passes/compression/Calibration.h"

#include <vector>

namespace compress {

/// Block Influence (ShortGPT): per block, 1 - the mean over tokens of the
/// cosine similarity between the hidden state it reads and the one it
/// writes. Small: the block barely changes the residual stream.
llvm::Expected<std::vector<double>> blockInfluence(Calibration &calibration,
                                                   const BlockStructure &structure);

/// Per block, what removing it alone changes: 1 - the mean over tokens of the
/// cosine similarity between the hidden state after the last block with and
/// without it (the model's output before its head). Compiles the model once
/// per block, on a copy of `module` with that block dropped.
llvm::Expected<std::vector<double>> blockRemovalChange(mlir::ModuleOp module,
                                                       Calibration &calibration,
                                                       const BlockStructure &structure);

} // namespace compress

#endif
