// Helpers of the patterns that replace lowered products on buffers by calls
// of a runtime's microkernels (every argument a 64-bit integer): the CPU's,
// and the CUDA target's matrix product.
#ifndef COMPRESS_PASSES_CPU_RUNTIMECALLS_H
#define COMPRESS_PASSES_CPU_RUNTIMECALLS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

namespace compress {

/// The address of `buffer`'s first element (aligned pointer plus offset
/// times `elementBytes`), as an index.
mlir::Value bufferAddress(mlir::OpBuilder &b, mlir::Location loc, mlir::Value buffer,
                          int64_t elementBytes);

/// The private declaration of the runtime function `symbol` in `module`,
/// added (of `type`) on first use.
mlir::func::FuncOp declareRuntimeFunction(mlir::ModuleOp module, llvm::StringRef symbol,
                                          mlir::FunctionType type);

/// Calls the runtime function `symbol` with index arguments, declaring it in
/// the module on first use.
void callRuntime(mlir::OpBuilder &b, mlir::Location loc, mlir::Operation *inModule,
                 llvm::StringRef symbol, mlir::ValueRange args);

/// The linalg.fill that initialises `out` just before `op` (only ops without
/// memory effects, or allocations, between them), or null.
mlir::linalg::FillOp fillBefore(mlir::Operation *op, mlir::Value out);

/// fillBefore() when it fills with 0, else null. A kernel that overwrites
/// its result can take the fill's place.
mlir::linalg::FillOp zeroFillBefore(mlir::Operation *op, mlir::Value out);

/// Replaces the product `op` writing `out` by a call of `symbol` with `args`
/// plus a last one, whether to add to `out`: 0 when a zero fill initialises
/// `out` just before `op` (the fill goes and the kernel overwrites), else 1.
void replaceByRuntimeCall(mlir::PatternRewriter &rewriter, mlir::Operation *op, mlir::Value out,
                          llvm::StringRef symbol, llvm::SmallVector<mlir::Value> args);

/// A pattern replacing float32 linalg contractions on buffers (up to three
/// batch dimensions, plain or broadcast indexing) by calls of `symbol`, or
/// of `constantBSymbol` when an operand is constant (a weight, passed as B),
/// with the arguments of compress_rt_contract_f32 (lib/runtime/cpu/
/// Contraction.h): C[b, m, n] += sum_k A[b, m, k] * B[b, k, n]. With
/// `globalsOnHost` (a device's runtime, whose kernels cannot read the host
/// code's globals), products reading a global stay loops.
void populateContractionToCallPatterns(mlir::RewritePatternSet &patterns, llvm::StringRef symbol,
                                       llvm::StringRef constantBSymbol,
                                       bool globalsOnHost = false);

/// Whether `buffer` is a view of a memref.global (small constants that
/// compress-cpu-externalize-weights left in the code).
bool isGlobalView(mlir::Value buffer);

/// Whether `op` is a marked quantized product (QuantizedLinearLoop.h) on
/// buffers whose activations and result are dense row-major float32, with
/// static in and out features: what the quantized kernels take.
bool isRowMajorQuantizedProduct(mlir::linalg::GenericOp op);

/// The arguments of compress_rt_quantized_linear_f32 (lib/runtime/cpu/
/// Contraction.h) but the last, `accumulate`, for a product
/// isRowMajorQuantizedProduct() accepts: rows, n, k, x and its row stride,
/// codes, scales, zero points (0 when symmetric), out and its row stride,
/// bits, group size, int8 activations.
llvm::SmallVector<mlir::Value> quantizedLinearCallArgs(mlir::OpBuilder &b,
                                                       mlir::linalg::GenericOp op);

/// Patterns replacing marked sparse products (SparseLinearLoop.h) by calls
/// of the sparse microkernels (lib/runtime/cpu/SparseLinear.h).
void populateSparseProductToCallPatterns(mlir::RewritePatternSet &patterns);

} // namespace compress

#endif
