// Matrix products on device buffers become calls of the CUDA runtime's
// kernels: float32 contractions (matched as the CPU target matches its
// microkernel's) and marked weight-only quantized products, each through
// the entry point of the precision asked for.
#include "passes/conversion/QuantizedLinearLoop.h"
#include "passes/cpu/RuntimeCalls.h"
#include "passes/gpu/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace compress {
#define GEN_PASS_DEF_GPUCONTRACTIONTOKERNELPASS
#include "passes/gpu/Passes.h.inc"
} // namespace compress

using namespace mlir;

namespace {

/// lib/runtime/cuda/DeviceRuntime.h; a constant B needs no other entry
/// point on the GPU (the weights are already in device memory).
constexpr llvm::StringLiteral kCudaContractF32Symbol = "compress_cuda_contract_f32";
constexpr llvm::StringLiteral kCudaContractF16Symbol = "compress_cuda_contract_f16";
constexpr llvm::StringLiteral kCudaQuantizedLinearF32Symbol = "compress_cuda_quantized_linear_f32";
constexpr llvm::StringLiteral kCudaQuantizedLinearF16Symbol = "compress_cuda_quantized_linear_f16";

/// A weight-only quantized product in the dialect's row-major layout: a
/// call with the CPU microkernel's arguments, of the float32 entry point or
/// of the one that may round inputs to fp16. Layers with int8 activations
/// are left to compress-gpu-prepare-loops, which refuses them.
struct QuantizedLinearToKernel : OpRewritePattern<linalg::GenericOp> {
  QuantizedLinearToKernel(MLIRContext *ctx, bool halfPrecision)
      : OpRewritePattern(ctx), halfPrecision(halfPrecision) {}
  bool halfPrecision;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    compress::QuantizedProductAttr product = compress::getQuantizedProduct(op);
    if (!product || product.getTiled() || product.getInt8Activations() ||
        !compress::isRowMajorQuantizedProduct(op) ||
        llvm::any_of(op->getOperands(), compress::isGlobalView))
      return failure();
    compress::replaceByRuntimeCall(
        rewriter, op, op.getDpsInitOperand(0)->get(),
        halfPrecision ? kCudaQuantizedLinearF16Symbol : kCudaQuantizedLinearF32Symbol,
        compress::quantizedLinearCallArgs(rewriter, op));
    return success();
  }
};

struct GpuContractionToKernelPass
    : compress::impl::GpuContractionToKernelPassBase<GpuContractionToKernelPass> {
  using GpuContractionToKernelPassBase::GpuContractionToKernelPassBase;

  void runOnOperation() override {
    if (precision != "f32" && precision != "f16") {
      getOperation().emitError() << "compress-gpu-contraction-to-kernel: precision must be f32 "
                                    "or f16, not '"
                                 << precision << "'";
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    StringRef contract = precision == "f16" ? kCudaContractF16Symbol : kCudaContractF32Symbol;
    compress::populateContractionToCallPatterns(patterns, contract, contract,
                                                /*globalsOnHost=*/true);
    patterns.add<QuantizedLinearToKernel>(&getContext(), precision == "f16");
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
