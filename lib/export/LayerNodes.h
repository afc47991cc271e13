// The ONNX nodes and initializers that stand for one compressed layer
// (lib/export's internals; OnnxExport.h is the interface).
#ifndef COMPRESS_LIB_EXPORT_LAYERNODES_H
#define COMPRESS_LIB_EXPORT_LAYERNODES_H

#include "onnx.pb.h"

#include "mlir/IR/Operation.h"

#include "llvm/Support/Error.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace compress {

/// Builds the nodes replacing one ONNX node from the layer ops that now
/// compute its output. As onnxruntime's quantizer names them, the first node
/// takes the replaced node's name and the initializers that of its weight
/// with a suffix (`_Q4`, `_scales`); other names derive from these, made
/// unique by `uniqueName`.
class LayerNodes {
public:
  /// `sharedWeights` maps a float weight constant (its attribute) to the
  /// initializer written for it, so layers sharing a weight (shared blocks)
  /// share the initializer.
  LayerNodes(std::string nodeName, std::string weightName,
             std::function<std::string(const std::string &)> uniqueName, int64_t accuracyLevel,
             std::map<const void *, std::string> &sharedWeights)
      : nodeName(std::move(nodeName)), weightName(std::move(weightName)),
        uniqueName(std::move(uniqueName)), accuracyLevel(accuracyLevel),
        sharedWeights(sharedWeights) {}

  /// Emits `layer` (a compress linear-family op) reading the ONNX value
  /// `input`, its output named `output`; an addend that is another layer
  /// op reading the same input is emitted first. Fails saying why the
  /// layer cannot be written (int8 activations, a group size MatMulNBits
  /// cannot express, a weight that is no constant).
  llvm::Error emit(mlir::Operation *layer, const std::string &input, const std::string &output);

  /// `output` = `input` * scales (+ bias), per output channel: the float
  /// constants [N] of compress-share-blocks' per-block scaling.
  llvm::Error emitScaling(const std::string &input, const std::string &output,
                          mlir::Value scales, mlir::Value bias);

  std::vector<onnx::NodeProto> nodes;
  /// Their bytes in raw_data.
  std::vector<onnx::TensorProto> initializers;
  /// Whether a node of the com.microsoft domain was emitted.
  bool usesMicrosoftDomain = false;

private:
  /// A MatMulNBits of `bits`-bit codes ([n, k], packed as the dialect packs
  /// them; signed unless `zeroPoints` is given), `scales` [n, groups] for
  /// groups of `group` along k; its initializers named `tensor` + suffix.
  llvm::Error emitQuantized(const std::string &tensor, const std::string &input,
                            const std::string &output,
                            mlir::Value codes, mlir::Value scales, mlir::Value zeroPoints,
                            mlir::Value bias, int64_t bits, int64_t group, int64_t n, int64_t k);
  /// A MatMul by the float [n, k] weight `weight` (stored as [k, n], named
  /// `tensor`).
  void emitFloat(const std::string &tensor, const std::string &input, const std::string &output,
                 const std::vector<float> &weight, int64_t n, int64_t k);
  /// `output` = Add(`input`, the float constant or value `bias`).
  llvm::Error emitBias(const std::string &input, const std::string &output, mlir::Value bias);
  std::string addInitializer(const std::string &name, int32_t dataType,
                             std::vector<int64_t> dims, const void *bytes, size_t size);
  onnx::NodeProto &addNode(const std::string &opType, std::vector<std::string> inputs,
                           const std::string &output);

  std::string nodeName, weightName;
  std::function<std::string(const std::string &)> uniqueName;
  int64_t accuracyLevel;
  std::map<const void *, std::string> &sharedWeights;
};

} // namespace compress

#endif
