// Block discovery: the repeated blocks (transformer layers) of an imported
// model, found by structure.
//
// The residual stream is the chain of values every path to the model's main
// output passes through (its post-dominators). The chain cuts @main into
// segments; a block is a run of consecutive segments that repeats with the
// same op structure and different weights. The analysis only reads the IR;
// compress-find-blocks annotates it, compress-drop-blocks removes blocks,
// compress-share-blocks shares their weights.
#ifndef COMPRESS_PASSES_COMPRESSION_BLOCKS_H
#define COMPRESS_PASSES_COMPRESSION_BLOCKS_H

#include "dialects/compress/IR/CompressOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/JSON.h"

#include <string>
#include <vector>

namespace compress {

/// One repeated block: the ops from its input on the residual stream to its
/// output, in program order.
struct RepeatedBlock {
  unsigned index = 0;
  /// The residual stream value the block reads (a result or an argument of
  /// @main) and the one it produces (a result of the block's last segment).
  mlir::Value input, output;
  std::vector<mlir::Operation *> ops;
  /// The block's layers in program order.
  std::vector<CompressibleLayer> layers;
};

/// The blocks of a model, or why there are none.
struct BlockStructure {
  std::vector<RepeatedBlock> blocks;
  /// Set when `blocks` is empty: what the search found instead.
  std::string reason;
};

/// Finds the repeated blocks of `main`. Every block has the same op structure
/// (ops, types, attributes other than weights' contents) as the others; at
/// least two blocks, each holding a layer, or none with a reason.
BlockStructure findBlocks(mlir::func::FuncOp main);

/// findBlocks on the module's @main; failure after an error on the module,
/// naming `pass`, when there is no @main or no repeated blocks.
mlir::FailureOr<BlockStructure> requireBlocks(mlir::ModuleOp module, llvm::StringRef pass);

/// A block as reports show it: index, layers (names), op count.
llvm::json::Object describeBlock(const RepeatedBlock &block);

/// Removes `blocks` (indices into `structure`) from @main: each one's output
/// is replaced by its input, its ops are erased, and the results and
/// arguments of @main only those ops produced or read (a key/value cache's
/// present and past tensors) leave the interface. Returns the names of the
/// removed results and arguments. `structure` is stale afterwards.
struct DroppedInterface {
  std::vector<std::string> results, arguments;
};
DroppedInterface dropBlocks(mlir::func::FuncOp main, const BlockStructure &structure,
                            llvm::ArrayRef<unsigned> blocks);

} // namespace compress

#endif
