// The linalg form of a sparse linear layer: one linalg.generic over the
// stored entries of each output row, reading the input at each entry's
// column (a gather through tensor.extract), marked so that targets with a
// microkernel recognise it.
#ifndef COMPRESS_PASSES_CONVERSION_SPARSELINEARLOOP_H
#define COMPRESS_PASSES_CONVERSION_SPARSELINEARLOOP_H

#include "dialects/compress/IR/CompressOps.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"

namespace compress {

/// The layer a lowered sparse product computes, or null for other ops.
inline SparseProductAttr getSparseProduct(mlir::Operation *op) {
  return op->getAttrOfType<SparseProductAttr>(CompressDialect::kSparseProductAttrName);
}

/// The generic computing init + input * W^T for `op`'s sparse weight W: loops
/// (batch.., n, j) over output rows and stored entries, inputs values,
/// indices, counts (ELL), scales and zero points (codes) in that order, then,
/// for N:M 4-bit codes, a shape operand of one byte per stored entry.
mlir::linalg::GenericOp buildSparseLinearLoop(mlir::OpBuilder &b, SparseLinearOp op,
                                              mlir::Value init);

} // namespace compress

#endif
