// The CUDA target's hooks: its lowering pipeline, the runtime symbols its
// host code calls, and the device memory its code works in.
#include "lib/target/cuda/CudaTarget.h"

#include "lib/aot/Artifact.h"
#include "lib/runtime/cpu/RunChecks.h"
#include "lib/runtime/cuda/DeviceRuntime.h"
#include "lib/target/Target.h"
#include "passes/gpu/Pipelines.h"

#include <mutex>

using namespace compress;

namespace {

llvm::Error asError(const std::string &message) {
  return message.empty() ? llvm::Error::success() : llvm::createStringError(message);
}

class CudaMemory : public DeviceMemory {
public:
  llvm::Expected<void *> upload(const void *host, size_t bytes) const override {
    void *device = nullptr;
    if (llvm::Error e = asError(cuda::upload(&device, host, bytes)))
      return std::move(e);
    return device;
  }
  llvm::Error download(void *host, const void *device, size_t bytes) const override {
    return asError(cuda::download(host, device, bytes));
  }
  void release(void *device) const override { cuda::release(device); }
  llvm::Error finishRun() const override { return asError(cuda::finishRun()); }
};

class CudaTarget : public Target {
public:
  llvm::StringRef getName() const override { return "cuda"; }
  llvm::StringRef getDescription() const override {
    return "an NVIDIA GPU (sm_90): kernels through the gpu and nvvm dialects, a cubin by ptxas";
  }
  mlir::LogicalResult buildLoweringPipeline(mlir::OpPassManager &pm,
                                            const LoweringOptions &options) const override {
    CudaLoweringOptions cuda;
    cuda.precision = options.precision;
    if (options.weightsFile.empty())
      return buildCudaLoweringPipeline(pm, cuda);
    ExternalizeWeightsPassOptions weights;
    weights.weightsFile = options.weightsFile;
    return buildCudaLoweringPipeline(pm, cuda, &weights);
  }
  bool runsInProcess() const override { return true; }
  void addRuntimeSymbols(llvm::StringMap<void *> &symbols) const override {
    symbols["compress_cuda_alloc"] = reinterpret_cast<void *>(&compress_cuda_alloc);
    symbols["compress_cuda_aligned_alloc"] =
        reinterpret_cast<void *>(&compress_cuda_aligned_alloc);
    symbols["compress_cuda_free"] = reinterpret_cast<void *>(&compress_cuda_free);
    symbols["compress_cuda_index_status"] = reinterpret_cast<void *>(&compress_cuda_index_status);
    symbols["compress_cuda_copy_to_host"] = reinterpret_cast<void *>(&compress_cuda_copy_to_host);
    symbols[kCheckCountSymbol] = reinterpret_cast<void *>(&compress_rt_check_count);
    symbols["compress_cuda_contract_f32"] = reinterpret_cast<void *>(&compress_cuda_contract_f32);
    symbols["compress_cuda_contract_f16"] = reinterpret_cast<void *>(&compress_cuda_contract_f16);
    symbols["compress_cuda_quantized_linear_f32"] =
        reinterpret_cast<void *>(&compress_cuda_quantized_linear_f32);
    symbols["compress_cuda_quantized_linear_f16"] =
        reinterpret_cast<void *>(&compress_cuda_quantized_linear_f16);
    symbols["mgpuModuleLoad"] = reinterpret_cast<void *>(&mgpuModuleLoad);
    symbols["mgpuModuleUnload"] = reinterpret_cast<void *>(&mgpuModuleUnload);
    symbols["mgpuModuleGetFunction"] = reinterpret_cast<void *>(&mgpuModuleGetFunction);
    symbols["mgpuLaunchKernel"] = reinterpret_cast<void *>(&mgpuLaunchKernel);
    symbols["mgpuStreamCreate"] = reinterpret_cast<void *>(&mgpuStreamCreate);
    symbols["mgpuStreamDestroy"] = reinterpret_cast<void *>(&mgpuStreamDestroy);
    symbols["mgpuStreamSynchronize"] = reinterpret_cast<void *>(&mgpuStreamSynchronize);
  }
  const DeviceMemory *getDeviceMemory() const override { return &memory; }
  // The CPU's artifact with the CUDA runtime in front: sessions (in the CPU
  // runtime) move tensors through compress_cuda_device_memory.
  llvm::Error packageArtifact(mlir::ModuleOp module,
                              const ArtifactOptions &options) const override {
    ArtifactRecipe recipe = cpuArtifactRecipe();
    CudaLoweringOptions cuda;
    cuda.precision = options.precision;
    // An artifact may run on a newer GPU than it was compiled for: its
    // kernels carry their PTX beside the sm_90 cubin, which the driver
    // compiles for such a GPU when it loads them.
    cuda.format = "fatbin";
    recipe.buildPipeline = [cuda](mlir::OpPassManager &pm,
                                  const ExternalizeWeightsPassOptions &weights) {
      return buildCudaLoweringPipeline(pm, cuda, &weights);
    };
    recipe.runtimeArchives.insert(recipe.runtimeArchives.begin(), COMPRESS_CUDA_RUNTIME_ARCHIVE);
    // The quantized kernels' CUDA runtime, static (it loads libcuda itself).
    recipe.linkFlags.insert(recipe.linkFlags.end(),
                            {COMPRESS_CUDART_STATIC, "-lrt", "-lpthread", "-ldl"});
    recipe.deviceMemorySymbol = "compress_cuda_device_memory";
    return compileArtifact(module, {options.name, options.outputDir}, recipe);
  }

private:
  CudaMemory memory;
};

} // namespace

void compress::registerCudaTarget() {
  static std::once_flag registered;
  std::call_once(registered,
                 [] { llvm::cantFail(registerTarget(std::make_unique<CudaTarget>())); });
}
