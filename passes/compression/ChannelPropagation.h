// Structured pruning's internal interface: a structure's plan, the planner and the rewriter.
//
// A plan follows the structure's *channel dimension* through the ops: every
// value the channels reach has one dimension holding `units` equal
// contiguous blocks (a channel each for MLPs and convolutions, a group of
// query heads, or a key/value head, for attention).
#ifndef COMPRESS_PASSES_COMPRESSION_CHANNELPROPAGATION_H
#define COMPRESS_PASSES_COMPRESSION_CHANNELPROPAGATION_H

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Operation.h"
#include "mlir/IR/Value.h"

#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace compress::structured {

enum class Kind { Mlp, Heads, Conv };

/// How a diagnostic names an op: its name and where it comes from (the
/// ONNX node, or the line of an .mlir file).
std::string describe(mlir::Operation *op);
/// A layer's name, or describe() for other ops.
std::string layerName(mlir::Operation *op);

/// The constant operands a plan slices along their channel dimension.
struct ConstantSlice {
  mlir::OpOperand *operand;
  int64_t dim;
};

/// A tensor.reshape whose shape operand's entry `index` (the result's
/// channel dimension) is rewritten.
struct ShapeRewrite {
  mlir::tensor::ReshapeOp op;
  int64_t index;
};

/// One structure: its consumer layer, producers, and everything between.
struct Plan {
  Kind kind;
  mlir::Operation *sink = nullptr;
  int64_t units = 0;
  /// Values whose type loses channels, and where their channel dimension is.
  llvm::MapVector<mlir::Value, int64_t> dims;
  llvm::SetVector<mlir::Operation *> seeds;
  llvm::SmallVector<ConstantSlice> constants;
  llvm::SmallVector<ShapeRewrite> shapes;
  /// extract_slice / insert_slice ops whose static sizes follow the channels.
  llvm::SetVector<mlir::Operation *> slices;

  // Ranking and result.
  std::vector<double> importance;
  std::vector<int64_t> kept, removed;
};

/// Why a structure cannot be rewritten: one line naming the op.
struct Failure {
  std::string message;
  /// A smaller number of units that would let a reshape map the channels
  /// (the attention heads' groups are found this way).
  std::optional<int64_t> refine;
};

/// Plans one structure by propagating its channel dimension (dimension
/// `dim` of the consumer's input `sinkInput`) through every op it reaches.
/// `plan`'s kind, sink and units are set by the caller.
std::optional<Failure> propagate(Plan &plan, mlir::OpOperand &sinkInput, int64_t dim);

/// The parameters a plan touches: layer weights and biases, and the
/// constants sliced along the channels (each once).
int64_t parameters(const Plan &plan);

/// Rewrites the plan's structure to keep only `plan.kept`: slices the
/// layers' weights and the constants, rewrites reshapes' shapes and slices'
/// sizes, and shrinks every value's type. The ops the rewrite may have left
/// unused are added to `maybeDead`.
void apply(Plan &plan, llvm::SetVector<mlir::Operation *> &maybeDead);

} // namespace compress::structured

#endif
