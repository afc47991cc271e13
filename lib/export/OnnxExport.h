// Writing a compressed model back to ONNX for onnxruntime (compress-export).
//
// The exporter rewrites the model's own graph, layer by layer: a layer's
// name is its ONNX node's name (the importer's location), so each layer a
// pipeline changed replaces its node, and every other node, initializer and
// attribute stays as it was. Quantized layers become com.microsoft
// MatMulNBits, low-rank layers two MatMuls (or two MatMulNBits), pruned
// layers a MatMul by their dense weight; chains (a low-rank path whose
// addend is a quantized layer: EoRA, the outlier-aware plugin) become their
// nodes' sum. Nodes a pass removed whole (dropped blocks) go, an Identity
// standing for each value others read from them. Passes that change the
// graph otherwise (structured pruning, shared or outlined blocks, token
// routing) are refused before anything is written.
#ifndef COMPRESS_LIB_EXPORT_ONNXEXPORT_H
#define COMPRESS_LIB_EXPORT_ONNXEXPORT_H

#include "lib/export/ImportedGraph.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/Error.h"

#include <string>

namespace compress {

struct OnnxModel;
class PendingOutputs;

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
