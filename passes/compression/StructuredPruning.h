// Structured pruning (compress-prune pattern=structured): removes whole MLP
// intermediate channels, attention head groups and convolution output
// channels, and shrinks every op between the layer that produces them and
// the layer that consumes them, so that the model becomes smaller dense ops.
#ifndef COMPRESS_PASSES_COMPRESSION_STRUCTUREDPRUNING_H
#define COMPRESS_PASSES_COMPRESSION_STRUCTUREDPRUNING_H

#include "passes/compression/Calibration.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <string>
#include <vector>

namespace compress {

struct StructuredPruneOptions {
  double sparsity;                  // fraction of channels / head groups removed, in [0, 1)
  std::vector<std::string> targets; // subset of {"mlp", "heads", "conv"}; empty = all
  bool progress;                    // a line per rewritten structure on stderr
};

/// Removes channels of `module` in place, ranked by activation-based
/// importance measured on the calibration data (calibration.available() is
/// checked by the caller). Appends one JSON report entry per structure to
/// `layers`: {name, kind, channels_before, channels_after, removed,
/// parameters_before, parameters_after}. Returns an error (one line naming
/// the op or layer) and leaves the module unchanged when a structure's
/// shapes cannot be propagated.
///
/// Structures:
///  - mlp: a compress.linear (the consumer, e.g. down_proj) whose input is
///    computed by elementwise linalg ops from the outputs of compress.linear
///    producers (gate_proj, up_proj) that read one input. Channel c's
///    importance is ||x_c||_2 of the consumer's input over the calibration
///    tokens (Minitron's activation norm).
///  - heads: a compress.linear (o_proj) whose input is reshaped from an
///    attention product (a linalg contraction); whole groups of query heads
///    sharing one key/value head are removed (a head each without GQA),
///    ranked by the L2 norm of the group's features of o_proj's input.
///  - conv: a compress.conv2d (groups = 1) whose input is computed by
///    elementwise linalg ops (bias, batch norm, activation) from the output
///    of compress.conv2d producers (groups = 1) that read one input;
///    importance of channel f is the L2 norm of the consumer's input
///    channel f over the calibration data.
/// Every op between producers and consumer is rewritten for the new channel
/// count: linalg ops (elementwise, contractions, transposes, fills),
/// tensor.empty, tensor.reshape (shape operands whose channel entry is a
/// constant), full tensor.extract_slice / insert_slice along the channel
/// dimension; constants indexed by the channel are sliced. Anything else
/// reached by the channels (a use outside the structure, a reduction over
/// the channel dimension, a shape computed at run time, a depthwise
/// consumer) is an error naming that op.
llvm::Error pruneStructured(mlir::ModuleOp module, Calibration &calibration,
                            const StructuredPruneOptions &options, llvm::json::Array &layers);

} // namespace compress

#endif
