// Interfaces of the `compress` dialect.
#ifndef COMPRESS_INTERFACES_TD
#define COMPRESS_INTERFACES_TD

include "mlir/IR/OpBase.td"

def Compress_CompressibleLayerInterface : OpInterface<"CompressibleLayer"> {
  let cppNamespace = "::compress";
  let description = [{
    A layer whose weights a compression pass may rewrite: dense linear
    layers, convolutions, embedding tables and their compressed forms. Every
    compression pass matches layers through this interface, so that a pass
    sees the layers it cannot handle too, and says why in its report
    instead of skipping them silently.

    The layer's activation (`getLayerInput`) is what calibration measures:
    the rows reaching a linear layer, the image reaching a convolution, the
    indices reaching an embedding lookup.
  }];
  let methods = [
    InterfaceMethod<"The kind of layer, as reports name it (\"linear\", ...)",
      "::llvm::StringRef", "getLayerKind">,
    InterfaceMethod<"The activation the layer reads (what calibration measures)",
      "::mlir::Value", "getLayerInput">,
    InterfaceMethod<"The layer's main weight: float for dense layers, integer "
                    "codes for quantized ones",
      "::mlir::Value", "getLayerWeight">,
    InterfaceMethod<"Features each output reads: K of a linear layer, "
                    "C / groups * KH * KW of a convolution, V of an embedding",
      "int64_t", "getLayerInFeatures">,
    InterfaceMethod<"Output features: N, F or D",
      "int64_t", "getLayerOutFeatures">,
    InterfaceMethod<"Whether the layer is already in a compressed form",
      "bool", "isCompressedLayer", (ins), [{}], [{ return false; }]>,
    InterfaceMethod<"The layer's name: its ONNX node name (the location), or "
                    "`fallback` when it has none",
      "std::string", "getLayerName", (ins "::llvm::StringRef":$fallback), [{}], [{
        if (auto name = ::llvm::dyn_cast<::mlir::NameLoc>($_op->getLoc()))
          return name.getName().str();
        return fallback.str();
      }]>,
  ];
}

#endif // COMPRESS_INTERFACES_TD
