// Building blocks shared by the op handlers: broadcasting maps, reductions,
// reshapes and scalar casts on linalg and tensor ops.
#ifndef COMPRESS_LIB_IMPORTER_ONNX_BUILDERS_H
#define COMPRESS_LIB_IMPORTER_ONNX_BUILDERS_H

#include "lib/importer/onnx/NodeContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace compress {

/// Integer tensors of at most this many elements are kept as values at import
/// (shapes, indices) so that what depends on them folds; larger ones are
/// built as IR (a tiny file may ask for a Range of 2^40 elements).
inline constexpr int64_t kMaxFoldedInts = 4096;

/// Builds the scalar result of an elementwise op from its scalar operands.
using ScalarFn = llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location,
                                                mlir::ValueRange)>;

llvm::SmallVector<mlir::OpFoldResult> mixedSizes(mlir::OpBuilder &b,
                                                 mlir::Location loc, mlir::Value v);
mlir::Value emptyTensor(mlir::OpBuilder &b, mlir::Location loc,
                        llvm::ArrayRef<mlir::OpFoldResult> sizes, mlir::Type elemType);

/// numpy-style broadcasting map over `inputs`. A dynamic dimension facing a
/// static one takes the static size; two dynamic ones are assumed equal.
mlir::FailureOr<mlir::Value> broadcastMap(NodeContext &ctx,
                                          llvm::ArrayRef<mlir::Value> inputs,
                                          mlir::Type resultElemType, ScalarFn fn);

/// A tensor of `sizes` whose element at each index is `fn(indices)`: a
/// linalg.generic with no inputs (gathers, index-driven constants).
mlir::Value generateTensor(mlir::OpBuilder &b, mlir::Location loc,
                           llvm::ArrayRef<mlir::OpFoldResult> sizes, mlir::Type elemType,
                           ScalarFn fn);

/// Same-shape map of one tensor.
mlir::Value mapTensor(mlir::OpBuilder &b, mlir::Location loc, mlir::Value input,
                      mlir::Type resultElemType, ScalarFn fn);

/// Reduces `input` over the (non-negative, sorted) `axes` starting from
/// `init`; `combine(element, accumulator)` gives the new accumulator.
mlir::Value reduceAxes(mlir::OpBuilder &b, mlir::Location loc, mlir::Value input,
                       llvm::ArrayRef<int64_t> axes, bool keepDims,
                       mlir::TypedAttr init, ScalarFn combine);

/// Softmax (or, with `log`, LogSoftmax) of a floating-point `x` normalised
/// over `axes`; subtracts the maximum before exponentiating. Reports a
/// non-float input as an error of the node.
mlir::FailureOr<mlir::Value> softmax(NodeContext &ctx, mlir::Value x,
                                     llvm::ArrayRef<int64_t> axes, bool log);

/// Permutes dimensions: result dim i is input dim perm[i].
mlir::Value transposeTensor(mlir::OpBuilder &b, mlir::Location loc,
                            mlir::Value input, llvm::ArrayRef<int64_t> perm);

/// Reshapes to `sizes` (static where an attribute) with tensor.reshape.
mlir::Value reshapeTensor(mlir::OpBuilder &b, mlir::Location loc, mlir::Value input,
                          llvm::ArrayRef<mlir::OpFoldResult> sizes);

/// Broadcasts `input` (numpy rules) to `sizes`.
mlir::FailureOr<mlir::Value> broadcastTo(NodeContext &ctx, mlir::Value input,
                                         llvm::ArrayRef<mlir::OpFoldResult> sizes);

/// Scalar arithmetic on floats or integers (signed unless `isUnsigned`).
mlir::Value addScalars(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, mlir::Value y,
                       bool isUnsigned = false);
mlir::Value subScalars(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, mlir::Value y,
                       bool isUnsigned = false);
mlir::Value mulScalars(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, mlir::Value y,
                       bool isUnsigned = false);
mlir::Value divScalars(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, mlir::Value y,
                       bool isUnsigned = false);
/// Maximum and minimum; for floats, NaN wins.
mlir::Value maxScalars(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, mlir::Value y,
                       bool isUnsigned = false);
mlir::Value minScalars(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, mlir::Value y,
                       bool isUnsigned = false);

/// Converts one scalar between element types with ONNX Cast semantics.
mlir::Value castScalar(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v,
                       mlir::Type to, bool fromUnsigned, bool toUnsigned);

/// A scalar constant of `type` (float or integer).
mlir::Value scalarConstant(mlir::OpBuilder &b, mlir::Location loc, mlir::Type type,
                           double value);

/// The number of elements along `axes` of `input`, as a scalar of `type`
/// (folded to a constant when those dimensions are static).
mlir::Value reducedCount(mlir::OpBuilder &b, mlir::Location loc, mlir::Value input,
                         llvm::ArrayRef<int64_t> axes, mlir::Type type);
mlir::TypedAttr scalarAttr(mlir::OpBuilder &b, mlir::Type type, double value);

/// The most negative / positive value of a type (-inf / +inf for floats).
mlir::TypedAttr lowestAttr(mlir::OpBuilder &b, mlir::Type type, bool isUnsigned);
mlir::TypedAttr highestAttr(mlir::OpBuilder &b, mlir::Type type, bool isUnsigned);

/// Normalises a possibly negative axis; reports an error when out of range.
mlir::FailureOr<int64_t> normalizeAxis(NodeContext &ctx, int64_t axis, int64_t rank);

/// Product of integers (a shape's element count).
int64_t product(llvm::ArrayRef<int64_t> values);

} // namespace compress

#endif
