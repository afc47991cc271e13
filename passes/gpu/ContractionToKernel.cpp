// Float32 matrix products on device buffers become calls of the CUDA
// runtime's tiled GEMM, matched as the CPU target matches its microkernel's.
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
constexpr llvm::StringLiteral kCudaContractSymbol = "compress_cuda_contract_f32";

struct GpuContractionToKernelPass
    : compress::impl::GpuContractionToKernelPassBase<GpuContractionToKernelPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    compress::populateContractionToCallPatterns(patterns, kCudaContractSymbol,
                                                kCudaContractSymbol);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
