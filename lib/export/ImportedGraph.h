// What @main looked like as imported, and what the passes changed since:
// the record compress-export compares against to know which ONNX nodes a
// pass rewrote, removed or rewired.
#ifndef COMPRESS_LIB_EXPORT_IMPORTEDGRAPH_H
#define COMPRESS_LIB_EXPORT_IMPORTEDGRAPH_H

#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace compress {

/// Where an operand of @main comes from, in ONNX terms: a graph input (by
/// name) or an output of a node (by node name); empty for constants and
/// values inside an op's regions.
struct Producer {
  bool graphInput = false;
  std::string name;
  bool operator==(const Producer &o) const { return graphInput == o.graphInput && name == o.name; }
  bool operator!=(const Producer &o) const { return !(*this == o); }
};

/// What the passes did to the graph around its layers, in ONNX terms.
struct GraphChanges {
  /// Nodes none of whose ops is left (compress-drop-blocks' blocks).
  llvm::StringSet<> removedNodes;
  /// Values a removed node produced that surviving ops now read from
  /// elsewhere: (the removed producer node, the new producer).
  std::vector<std::pair<std::string, Producer>> rewired;
  /// Ops a pass added after a layer, by the layer's node (they carry its
  /// name): compress-share-blocks' per-channel scaling and the tensor.dim
  /// and tensor.empty it needs. The exporter writes those it knows.
  llvm::StringMap<llvm::SmallVector<mlir::Operation *>> layerEpilogues;
  /// compress-token-skip's routers and selects (compress.route_tokens,
  /// compress.select_tokens) in @main.
  std::vector<mlir::Operation *> tokenRouting;
  /// Nodes whose ops now compute other shapes (structured pruning's
  /// smaller channels flowing through them): written unchanged when ONNX
  /// infers their shapes from their inputs, which the exporter checks.
  llvm::StringSet<> reshapedNodes;
  /// Graph inputs and outputs @main no longer has.
  std::vector<std::string> removedInputs, removedOutputs;
};

class ImportedGraph {
public:
  /// Records @main of a module just imported. Fails naming the layer when
  /// two layers share a name (the exporter could not tell which node a
  /// rewritten one replaces).
  static llvm::Expected<ImportedGraph> take(mlir::ModuleOp module);

  /// Whether the layer called `name` is still the op the import made (its
  /// op, attributes, result type and the constants it reads).
  bool unchanged(llvm::StringRef name, mlir::Operation *layer) const;
  /// The imported layers' names.
  std::vector<std::string> layerNames() const;
  /// Whether `name` is an imported layer's.
  bool isLayer(llvm::StringRef name) const { return layers.count(name) != 0; }
  /// Compares `module` (after the passes) with the record: nodes removed
  /// whole, what now reads in their place and ops added after a layer are
  /// changes the exporter writes, as are ops whose result types changed (it
  /// checks their nodes); other ops added and readers rewired away from a
  /// kept node (token routing, outlined blocks) fail, saying which op.
  llvm::Expected<GraphChanges> compare(mlir::ModuleOp module) const;

private:
  struct OpRecord {
    std::string node;
    std::string form; // op name and result types
    std::vector<Producer> operands;
  };
  llvm::StringMap<std::string> layers;
  llvm::DenseMap<mlir::Operation *, OpRecord> ops;
  std::vector<std::string> inputs, outputs;
};

} // namespace compress

#endif
