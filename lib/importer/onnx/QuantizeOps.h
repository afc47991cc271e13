// Quantized tensors at import: constants DequantizeLinear keeps as integer
// codes, and the compress.quantized_linear a product by one becomes.
#ifndef COMPRESS_LIB_IMPORTER_ONNX_QUANTIZEOPS_H
#define COMPRESS_LIB_IMPORTER_ONNX_QUANTIZEOPS_H

#include "lib/importer/onnx/NodeContext.h"

namespace compress {

/// DequantizeLinear of a constant: `(codes - zero_points) * scales` with one
/// parameter for the tensor, one per index of `axis`, or one per block of
/// `blockSize` along `axis` (the parameters then have the codes' rank).
struct DequantizedConstant {
  std::string name;        // the DequantizeLinear's output, for keys
  int32_t codeType;        // ONNX INT8, UINT8 or INT32
  std::vector<char> codes; // one byte per code (four for INT32)
  llvm::SmallVector<int64_t> shape;
  std::vector<float> scales;
  llvm::SmallVector<int64_t> paramShape; // [] per tensor
  std::vector<int64_t> zeroPoints;       // empty: all zero
  int64_t axis = 0, blockSize = 0;

  /// Index into scales / zeroPoints of element `i` (row-major) of the codes.
  int64_t paramIndex(int64_t i) const;
};

/// The float32 tensor a DequantizedConstant stands for.
onnx::TensorProto dequantizedTensor(const DequantizedConstant &c);

/// `x * W (+ bias)` as compress.quantized_linear when input `weightInput` of
/// the node is a dequantized 2-D constant whose codes and parameters the op
/// holds exactly: 8-bit codes, one scale per output channel or per group of
/// input features. W is [K, N] when `transposeFromKN`, else [N, K]. Null when
/// it is not; the caller then multiplies by the float tensor.
mlir::Value quantizedLinear(NodeContext &ctx, mlir::Value x, unsigned weightInput,
                            bool transposeFromKN, mlir::Value bias,
                            mlir::RankedTensorType resultType);

/// numpy matmul of two tensors of one element type (LinearOps.cpp).
mlir::FailureOr<mlir::Value> batchedMatmul(NodeContext &ctx, mlir::Value a, mlir::Value b);

} // namespace compress

#endif
