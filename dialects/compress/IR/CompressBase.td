// The `compress` dialect: the ops that compression passes rewrite.
#ifndef COMPRESS_BASE_TD
#define COMPRESS_BASE_TD

include "mlir/IR/OpBase.td"

def Compress_Dialect : Dialect {
  let name = "compress";
  let cppNamespace = "::compress";
  let summary = "Ops that model compression acts on, and their compressed forms";
  let description = [{
    The `compress` dialect holds the ops whose weights a compression pass may
    rewrite: dense linear layers, convolutions and embedding lookups. Every
    other ONNX op is imported straight into upstream dialects (linalg, tensor,
    arith, math), so that upstream lowerings serve them.

    Weights are ordinary SSA operands, normally produced by an
    `arith.constant dense_resource<...>` whose resource key is the ONNX
    initializer name: passes find a layer's weights by matching the operand
    to a constant, several layers may share one weight, and the blob is never
    copied by a pass that leaves it alone. A layer's ONNX node name is its
    location (`loc("name")`), which reports and per-layer options refer to.
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let extraClassDeclaration = [{
    /// The discardable attribute that marks a lowered quantized product
    /// (#compress.quantized_product on a linalg.generic).
    static constexpr ::llvm::StringLiteral kQuantizedProductAttrName = "compress.quantized_linear";
    /// ... and a lowered sparse product (#compress.sparse_product).
    static constexpr ::llvm::StringLiteral kSparseProductAttrName = "compress.sparse_linear";
    /// Adds the attributes of CompressAttrs.td (in CompressAttrs.cpp, where
    /// their storage is defined).
    void registerAttributes();
    /// Calibration data the running tool offers compression passes, per
    /// context (see passes/compression/Calibration.h); null without.
    CalibrationSource *calibrationSource = nullptr;
    /// Where passes' reports wait until the running tool's run succeeded,
    /// per context (see setPendingOutputs in
    /// passes/compression/LayerWeights.h); null: written at once.
    PendingOutputs *pendingOutputs = nullptr;
    /// The float weight each layer compressed during this tool's run stood
    /// for, keyed by the compressed op (see recordUncompressedWeight in
    /// passes/compression/LayerWeights.h): what error compensation fits.
    /// In memory only; never printed.
    struct UncompressedWeight {
      std::string layerName;
      ::mlir::ElementsAttr weight;
    };
    ::llvm::DenseMap<::mlir::Operation *, UncompressedWeight> uncompressedWeights;
    /// Where large weight blobs live (dialects/compress/IR/WeightStore.h),
    /// per context; null: on the heap.
    std::shared_ptr<WeightStore> weightStore;
  }];
}

class Compress_Op<string mnemonic, list<Trait> traits = []>
    : Op<Compress_Dialect, mnemonic, traits>;

#endif // COMPRESS_BASE_TD
