// The pass pipeline that takes an imported module to host LLVM-dialect code
// launching CUDA kernels, the kernels assembled into a `gpu.binary`.
#ifndef COMPRESS_PASSES_GPU_PIPELINES_H
#define COMPRESS_PASSES_GPU_PIPELINES_H

#include "passes/cpu/Passes.h"

#include "mlir/Pass/PassManager.h"

#include <string>

namespace compress {

struct CudaLoweringOptions {
  /// The GPU architecture the cubin is assembled for.
  std::string chip = "sm_90";
  /// The CUDA toolkit whose ptxas assembles the kernels; empty for the one
  /// the build was configured with (COMPRESS_CUDA_TOOLKIT).
  std::string toolkitPath;
  /// "bin" (cubin: the JIT's form), "fatbin" (cubin and PTX, which newer
  /// GPUs compile on load: the artifacts' form) or "isa" (PTX text, what
  /// the compile-only tests read).
  std::string format = "bin";
  /// "f32", or "f16": int4 layers on fp16 tensor cores
  /// (compress-gpu-contraction-to-kernel).
  std::string precision = "f32";
};

/// compress + upstream dialects on tensors -> host code in the LLVM dialect
/// calling the CUDA runtime (`mgpu*` launches, `compress_cuda_*` memory),
/// with `_mlir_ciface_main` taking and returning device buffers. With
/// `weights`, large constants move to a weights file that the runtime
/// uploads to the device once.
mlir::LogicalResult
buildCudaLoweringPipeline(mlir::OpPassManager &pm, const CudaLoweringOptions &options,
                          const ExternalizeWeightsPassOptions *weights = nullptr);

/// What the pipeline's last steps need in a context: the NVVM target
/// attribute's serialization (ptxas) and the translations of the gpu, nvvm
/// and offloading ops to LLVM IR.
void registerCudaCodegenInterfaces(mlir::DialectRegistry &registry);

/// Registers the GPU passes and `--compress-cuda-lowering` for compress-opt.
void registerGpuPipelines();

} // namespace compress

#endif
