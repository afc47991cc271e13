// The CUDA lowering pipeline, written as text so that compress-opt users can
// replay it step by step with upstream flags.
#include "passes/gpu/Pipelines.h"

#include "passes/conversion/Passes.h"
#include "passes/gpu/Passes.h"

#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Pass/PassRegistry.h"

#include <mutex>

using namespace mlir;

// Stages: routed blocks' layers on their kept tokens; our ops to linalg
// (kept tokens listed by kernels, not a host scan); fuse elementwise chains; polynomial exp, erf,
// tanh and log (no libdevice needed); bufferize and free temporaries; copies
// of filled buffers to fills (which fold into what follows them); transposed
// copies read in place; float
// matrix products to the runtime's GEMM; index
// checks to a device status word; reductions over long rows to a block per
// output; copies and named ops to one-thread-per-output loops; the shapes
// host code reads kept in host memory; every loop that touches memory to a
// grid of kernels; kernel
// outlining; device code to NVVM; host code to LLVM, its buffers allocated
// on the device; kernels assembled by ptxas into a gpu.binary.
static const char kCudaLoweringHead[] =
    "compress-inline-blocks,compress-compact-tokens,"
    "convert-compress-to-linalg{parallel-token-lists=true},func.func(convert-elementwise-to-linalg)";
static const char kCudaLoweringTail[] =
    "func.func(canonicalize,cse,compress-cpu-fuse-elementwise,canonicalize,"
    "compress-cpu-approximate-math),"
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "func.func(buffer-hoisting),"
    "buffer-deallocation-pipeline,"
    "func.func(llvm-request-c-wrappers,compress-gpu-forward-fills,compress-gpu-fold-transposes),"
    // After the C wrappers are requested: runtime calls stay C calls.
    "compress-gpu-contraction-to-kernel{precision=%precision%},"
    "compress-gpu-lower-index-checks,"
    "convert-bufferization-to-memref,"
    "func.func(compress-gpu-prepare-loops,compress-gpu-block-reductions,"
    "convert-linalg-to-parallel-loops,canonicalize,"
    "compress-gpu-host-shapes,compress-gpu-map-loops,convert-parallel-loops-to-gpu),"
    "gpu-kernel-outlining,"
    // Structured control flow goes first: the NVVM conversion of atomics
    // makes blocks, which an scf.if region cannot hold.
    "lower-affine,expand-strided-metadata,lower-affine,convert-scf-to-cf,"
    "nvvm-attach-target{chip=%chip% O=3},"
    "gpu.module(compress-gpu-programmatic-launch,convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),"
    "finalize-memref-to-llvm{use-generic-functions},"
    "convert-math-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,"
    "convert-cf-to-llvm,convert-func-to-llvm,gpu-to-llvm,reconcile-unrealized-casts,"
    "compress-gpu-device-allocator,"
    "gpu-module-to-binary{format=%format% toolkit=%toolkit%}";

LogicalResult compress::buildCudaLoweringPipeline(OpPassManager &pm,
                                                  const CudaLoweringOptions &options,
                                                  const ExternalizeWeightsPassOptions *weights) {
  static std::once_flag registered;
  std::call_once(registered, [] {
    registerAllPasses();
    registerCompressConversionPasses();
    registerCompressCpuPasses();
    registerCompressGpuPasses();
  });
  if (failed(parsePassPipeline(kCudaLoweringHead, pm)))
    return failure();
  if (weights)
    pm.addPass(createExternalizeWeightsPass(*weights));
  std::string tail = kCudaLoweringTail;
  auto substitute = [&](llvm::StringRef key, llvm::StringRef value) {
    size_t at = tail.find(key.str());
    tail.replace(at, key.size(), value.str());
  };
  substitute("%chip%", options.chip);
  substitute("%format%", options.format);
  substitute("%precision%", options.precision);
  substitute("%toolkit%",
             options.toolkitPath.empty() ? COMPRESS_CUDA_TOOLKIT : options.toolkitPath);
  return parsePassPipeline(tail, pm);
}

void compress::registerCudaCodegenInterfaces(DialectRegistry &registry) {
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  registerBuiltinDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
  gpu::registerOffloadingLLVMTranslationInterfaceExternalModels(registry);
}

namespace {
struct CudaLoweringPipelineOptions : PassPipelineOptions<CudaLoweringPipelineOptions> {
  Option<std::string> chip{*this, "chip", llvm::cl::desc("GPU architecture"),
                           llvm::cl::init("sm_90")};
  Option<std::string> format{*this, "format",
                             llvm::cl::desc("bin (cubin), fatbin (cubin and PTX) or isa (PTX text)"),
                             llvm::cl::init("bin")};
  Option<std::string> toolkit{*this, "toolkit",
                              llvm::cl::desc("CUDA toolkit of ptxas (default: the configured one)"),
                              llvm::cl::init("")};
  Option<std::string> precision{*this, "precision",
                                llvm::cl::desc("f32, or f16: int4 layers on fp16 tensor cores"),
                                llvm::cl::init("f32")};
};
} // namespace

void compress::registerGpuPipelines() {
  registerCompressGpuPasses();
  PassPipelineRegistration<CudaLoweringPipelineOptions>(
      "compress-cuda-lowering",
      "Lower an imported module to host LLVM-dialect code launching CUDA kernels, "
      "the kernels assembled for `chip`",
      [](OpPassManager &pm, const CudaLoweringPipelineOptions &given) {
        CudaLoweringOptions options;
        options.chip = given.chip;
        options.format = given.format;
        options.toolkitPath = given.toolkit;
        options.precision = given.precision;
        if (failed(buildCudaLoweringPipeline(pm, options)))
          llvm::report_fatal_error("invalid built-in CUDA lowering pipeline");
      });
}
