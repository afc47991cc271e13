// What an op handler sees of the node it imports: operands, attributes, errors.
#ifndef COMPRESS_LIB_IMPORTER_ONNX_NODECONTEXT_H
#define COMPRESS_LIB_IMPORTER_ONNX_NODECONTEXT_H

#include "lib/importer/onnx/OnnxModel.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"

#include "llvm/ADT/StringSet.h"

#include <deque>
#include <memory>
#include <optional>

namespace compress {

struct DequantizedConstant;

/// A graph value during import. `value` is materialised lazily for
/// constants; `ints` holds the contents of small integer constants so that
/// shape computations (Shape -> Gather -> Concat -> Reshape) fold at import.
struct ImportedValue {
  mlir::Value value;
  bool isUnsigned = false;
  std::optional<llvm::SmallVector<int64_t>> ints;
  /// Contents of a small float graph input known when compiling (scales).
  std::optional<std::vector<double>> floats;
  mlir::RankedTensorType type;
  const onnx::TensorProto *initializer = nullptr; // not yet materialised
  /// A DequantizeLinear of constants, kept as integer codes so that a product
  /// by it can become compress.quantized_linear; its float tensor is made
  /// (into `initializer`) only when something reads it as a constant.
  std::shared_ptr<const DequantizedConstant> dequantized;
};

class GraphImporter;

/// How errors name a node: its name, or its first output's when unnamed.
std::string nodeDisplayName(const onnx::NodeProto &node);

/// The binder handed to each op handler. Every accessor that can fail reports
/// through `error()`, which names the node, op and opset.
class NodeContext {
public:
  NodeContext(GraphImporter &importer, const onnx::NodeProto &node,
              int64_t opset, mlir::Location loc);

  const onnx::NodeProto &node;
  const int64_t opset;
  const mlir::Location loc;
  mlir::OpBuilder &b;

  /// Starts an error "node 'N' (Op, opset K): ...".
  mlir::InFlightDiagnostic error();
  /// "node 'N' (Op)": how run-time errors name the node.
  std::string siteName() const;

  // Operands. Optional inputs are absent when past the end or named "".
  unsigned numInputs() const { return node.input_size(); }
  bool hasInput(unsigned i) const;
  mlir::Value input(unsigned i);
  mlir::RankedTensorType inputType(unsigned i);
  bool isUnsigned(unsigned i);
  /// Contents of an integer constant input, or nullopt if computed at run time.
  std::optional<llvm::SmallVector<int64_t>> constInts(unsigned i);
  /// Like constInts but an error when not constant (`what` names the input).
  mlir::FailureOr<llvm::SmallVector<int64_t>> requireConstInts(unsigned i,
                                                               llvm::StringRef what);
  /// Raw bytes of a constant input (initializer or Constant), if it is one;
  /// a constant whose data cannot be read is reported as an error.
  std::optional<std::vector<char>> constBytes(unsigned i);
  /// The initializer or Constant tensor behind input i, if any.
  const onnx::TensorProto *constTensor(unsigned i);
  /// A float constant input as doubles (scalars for Clip, Pad, ...).
  std::optional<std::vector<double>> constFloats(unsigned i);

  // Attributes. Every attribute read is marked used; the importer rejects a
  // node that carries an attribute its handler never read.
  bool hasAttr(llvm::StringRef name);
  int64_t intAttr(llvm::StringRef name, int64_t dflt);
  float floatAttr(llvm::StringRef name, float dflt);
  std::string stringAttr(llvm::StringRef name, llvm::StringRef dflt);
  std::optional<llvm::SmallVector<int64_t>> intsAttr(llvm::StringRef name);
  const onnx::TensorProto *tensorAttr(llvm::StringRef name);
  /// A graph attribute (If's branches, Loop's and Scan's body), or null.
  const onnx::GraphProto *graphAttr(llvm::StringRef name);
  const llvm::StringSet<> &usedAttrs() const { return used; }

  // Results.
  unsigned numOutputs() const { return node.output_size(); }
  bool hasOutput(unsigned i) const;
  void setOutput(unsigned i, mlir::Value v, bool isUnsigned = false);
  /// Records an integer constant result (kept foldable, materialised lazily).
  void setOutputInts(unsigned i, llvm::ArrayRef<int64_t> ints,
                     llvm::ArrayRef<int64_t> shape, mlir::Type elemType,
                     bool isUnsigned = false);
  /// Registers a constant tensor as output i (Constant nodes).
  mlir::LogicalResult setOutputTensor(unsigned i, const onnx::TensorProto &tensor);

  GraphImporter &importer;

private:
  const onnx::AttributeProto *attr(llvm::StringRef name);
  llvm::StringSet<> used;
};

using OpHandler = mlir::LogicalResult (*)(NodeContext &);

/// One row of the op table. Ops of a domain other than ONNX's are named
/// "domain::Op" ("com.microsoft::MatMulNBits") and take that domain's opset.
struct OpTableEntry {
  const char *opType;
  int64_t minOpset, maxOpset;
  OpHandler handler;
};

// Each op family contributes its rows.
void appendElementwiseOps(llvm::SmallVectorImpl<OpTableEntry> &table);
void appendShapeOps(llvm::SmallVectorImpl<OpTableEntry> &table);
void appendReductionOps(llvm::SmallVectorImpl<OpTableEntry> &table);
void appendLinearOps(llvm::SmallVectorImpl<OpTableEntry> &table);
void appendNNOps(llvm::SmallVectorImpl<OpTableEntry> &table);
void appendResizeOps(llvm::SmallVectorImpl<OpTableEntry> &table);
void appendSortOps(llvm::SmallVectorImpl<OpTableEntry> &table);
void appendNormalizationOps(llvm::SmallVectorImpl<OpTableEntry> &table);
void appendEinsumOps(llvm::SmallVectorImpl<OpTableEntry> &table);
void appendRecurrentOps(llvm::SmallVectorImpl<OpTableEntry> &table);
void appendLossOps(llvm::SmallVectorImpl<OpTableEntry> &table);
void appendOneHotOps(llvm::SmallVectorImpl<OpTableEntry> &table);
void appendShrinkBitShiftOps(llvm::SmallVectorImpl<OpTableEntry> &table);
void appendQuantizeOps(llvm::SmallVectorImpl<OpTableEntry> &table);
void appendControlFlowOps(llvm::SmallVectorImpl<OpTableEntry> &table);

/// The whole table, built once.
llvm::ArrayRef<OpTableEntry> opTable();

/// Maps an ONNX data type to the MLIR element type (signless integers).
mlir::Type onnxElementType(mlir::MLIRContext *ctx, int32_t dataType);
inline bool isUnsignedOnnxType(int32_t t) {
  return t == onnx::TensorProto::UINT8 || t == onnx::TensorProto::UINT16 ||
         t == onnx::TensorProto::UINT32 || t == onnx::TensorProto::UINT64;
}

/// Walks a graph, importing node by node. Owns the value table.
class GraphImporter {
public:
  GraphImporter(mlir::OpBuilder &builder, const OnnxModel &model)
      : builder(builder), model(model) {}
  /// The importer of a subgraph (If's branches, Loop's and Scan's body),
  /// whose ops go where `builder` points: it sees `parent`'s values (the
  /// outer scope), materialised and made constant at `parentPoint`, outside
  /// the control-flow op; `keyPrefix` keeps its constants' keys apart.
  GraphImporter(GraphImporter &parent, mlir::OpBuilder::InsertPoint parentPoint,
                std::string keyPrefix)
      : builder(parent.builder), model(parent.model), parent(&parent),
        parentPoint(parentPoint), keyPrefix(std::move(keyPrefix)) {}

  mlir::OpBuilder &builder;
  const OnnxModel &model;
  /// The values this graph defines; lookup() sees the outer scopes too.
  llvm::StringMap<ImportedValue> values;
  /// The value `name` of this scope or an outer one, null if none.
  ImportedValue *lookup(llvm::StringRef name);

  /// Materialises a value (creating constants on first use).
  mlir::FailureOr<mlir::Value> materialize(llvm::StringRef name,
                                           mlir::Location loc);
  /// Dense-resource constant of `type` holding `bytes`, shared by every
  /// request with the same `key`. The key must identify the contents
  /// exactly: an initializer's name, followed for derived constants by
  /// '|'-separated words naming each transformation and its parameters
  /// ("w|nk|alpha=0x3f000000"). The blob is named after the key with
  /// characters outside [A-Za-z0-9_.] replaced by '_'.
  mlir::Value createConstant(llvm::StringRef key, mlir::RankedTensorType type,
                             llvm::ArrayRef<char> bytes, mlir::Location loc);
  /// The bytes of a float or integer initializer too large to be inlined,
  /// without a copy where they can be mapped: a view of its external-data
  /// file (adopted by the context's weight store) when the context has a
  /// store, else a copy in `storage`.
  /// Done with them, hand them to releaseWeightPages.
  llvm::Expected<llvm::ArrayRef<char>> weightBytes(const onnx::TensorProto &tensor,
                                                  std::vector<char> &storage);
  mlir::LogicalResult importNode(const onnx::NodeProto &node);
  /// The constant tensor behind `name` (an initializer, a Constant, or the
  /// float tensor of a dequantized constant, made on first request); null
  /// when it is computed at run time.
  const onnx::TensorProto *constTensorOf(llvm::StringRef name);
  /// Records an initializer or Constant tensor under `name`; small integer
  /// tensors also keep their contents for folding.
  llvm::Error registerConstant(llvm::StringRef name, const onnx::TensorProto &tensor);

private:
  /// The constant for `key` (see createConstant) holding `attr`.
  mlir::Value createConstant(llvm::StringRef key, mlir::TypedAttr attr, mlir::Location loc);

  llvm::StringMap<mlir::Value> constantsByKey;
  GraphImporter *parent = nullptr;
  mlir::OpBuilder::InsertPoint parentPoint;
  std::string keyPrefix;
  /// Tensors the importer derived (dequantized constants); stable addresses.
  std::deque<onnx::TensorProto> derivedTensors;
};

} // namespace compress

#endif
