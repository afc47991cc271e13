// The linalg form of a quantized linear layer: one linalg.generic whose
// body dequantises each weight element as it multiplies it, marked so that
// targets with a microkernel recognise it. Built here for both weight
// layouts, so that the dialect conversion and the CPU re-layout of constant
// weights (compress-cpu-tile-quantized-weights) produce the same loop.
#ifndef COMPRESS_PASSES_CONVERSION_QUANTIZEDLINEARLOOP_H
#define COMPRESS_PASSES_CONVERSION_QUANTIZEDLINEARLOOP_H

#include "dialects/compress/IR/CompressDialect.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"

namespace compress {

/// How the weight, scales and zero points are laid out.
enum class QuantizedWeightLayout {
  /// The dialect's: weight [N, ceil(K / per byte)], tables [N, groups]
  /// (groups = ceil(K / group size): the last group may be partial).
  RowMajor,
  /// lib/runtime/cpu/QuantizedLayout.h's: weight [N/16, K/depth, 16, 4]
  /// (depth 8 at 4 bits or fewer, else 4), tables [N/16, groups, 16].
  Tiled,
};
llvm::StringRef stringifyLayout(QuantizedWeightLayout layout);

/// The layer a lowered quantized product computes, or null for other ops.
inline QuantizedProductAttr getQuantizedProduct(mlir::Operation *op) {
  return op->getAttrOfType<QuantizedProductAttr>(CompressDialect::kQuantizedProductAttrName);
}

struct QuantizedLinearLoop {
  mlir::Value input, weight, scales, zeroPoints; // zeroPoints null: symmetric
  mlir::Value init;                              // [.., N] accumulator
  int64_t n, k, bits, groupSize;
  /// Inputs quantized per row to int8 before the product (W8A8, W4A8).
  bool int8Activations;
  QuantizedWeightLayout layout;
};

/// The generic computing init + input * deq(weight)^T, marked with the
/// #compress.quantized_product that describes it.
mlir::linalg::GenericOp buildQuantizedLinearLoop(mlir::OpBuilder &b, mlir::Location loc,
                                                 const QuantizedLinearLoop &loop);

} // namespace compress

#endif
