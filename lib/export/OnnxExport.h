// Writing a compressed model back to ONNX for onnxruntime (compress-export).
//
// The exporter rewrites the model's own graph, layer by layer: a layer's
// name is its ONNX node's name (the importer's location), so each layer a
// pipeline changed replaces its node, and every other node, initializer and
// attribute stays as it was. Quantized layers become com.microsoft
// MatMulNBits, low-rank layers two MatMuls (or two MatMulNBits), pruned
// layers a MatMul by their dense weight; chains (a low-rank path whose
// addend is a quantized layer: EoRA, the outlier-aware plugin) become their
// nodes' sum. Passes that change the graph outside its layers (structured
// pruning, dropped, shared or outlined blocks, token routing) are refused
// before anything is written.
#ifndef COMPRESS_LIB_EXPORT_ONNXEXPORT_H
#define COMPRESS_LIB_EXPORT_ONNXEXPORT_H

#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace compress {

struct OnnxModel;
class PendingOutputs;

/// What @main looked like as imported, taken before the passes run: each
/// layer's signature (op, attributes, which constants it reads) by name,
/// and the graph around the layers (every other op but constants, with its
/// result types).
class ImportedGraph {
public:
  /// Fails naming the layer when two layers share a name (the exporter could
  /// not tell which node a rewritten one replaces).
  static llvm::Expected<ImportedGraph> take(mlir::ModuleOp module);

  /// Whether the layer called `name` is still the op the import made.
  bool unchanged(llvm::StringRef name, mlir::Operation *layer) const;
  /// The imported layers, by name.
  const llvm::StringMap<std::string> &layerSignatures() const { return layers; }
  /// Fails saying what differs when @main's ops around its layers are no
  /// longer those imported, or a layer has gone.
  llvm::Error checkOnlyLayersChanged(mlir::ModuleOp module) const;

private:
  llvm::StringMap<std::string> layers;
  std::vector<std::string> structure;
};

struct OnnxExportOptions {
  /// "auto" (external data when the model had some or would pass protobuf's
  /// 2 GiB), "always" or "never".
  std::string externalData = "auto";
  /// MatMulNBits' accuracy_level: 0 computes in float32 as our layers do;
  /// 4 lets onnxruntime quantize activations to int8 (faster, less exact).
  int64_t accuracyLevel = 0;
};

/// Writes `module` (imported from `model`, `imported` taken before its
/// passes ran) to `outputPath` as ONNX, its large tensors in
/// `<outputPath>.data` when external; both files join `outputs`, to go into
/// place with the tool's other outputs. Fails, writing nothing, naming the
/// layer and why when a layer cannot be expressed.
llvm::Error exportOnnx(const OnnxModel &model, mlir::ModuleOp module, const ImportedGraph &imported,
                       llvm::StringRef outputPath, const OnnxExportOptions &options,
                       PendingOutputs &outputs);

/// exportOnnx of the model read from `modelPath` (what `module` was
/// imported from).
llvm::Error exportOnnxFile(llvm::StringRef modelPath, mlir::ModuleOp module,
                           const ImportedGraph &imported, llvm::StringRef outputPath,
                           const OnnxExportOptions &options, PendingOutputs &outputs);

} // namespace compress

#endif
