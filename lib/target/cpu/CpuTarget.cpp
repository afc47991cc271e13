// The CPU target's hooks: its lowering pipeline, the runtime symbols its code
// calls, and its artifacts.
#include "lib/target/cpu/CpuTarget.h"

#include "lib/aot/Artifact.h"
#include "lib/runtime/cpu/Allocator.h"
#include "lib/runtime/cpu/Contraction.h"
#include "lib/runtime/cpu/SparseLinear.h"
#include "lib/runtime/cpu/RunChecks.h"
#include "lib/target/Target.h"
#include "passes/cpu/Pipelines.h"

#include <mutex>

using namespace compress;

namespace {

class CpuTarget : public Target {
public:
  llvm::StringRef getName() const override { return "cpu"; }
  llvm::StringRef getDescription() const override {
    return "the host CPU: LLVM code calling oneDNN and the quantized microkernels";
  }
  mlir::LogicalResult buildLoweringPipeline(mlir::OpPassManager &pm,
                                            const LoweringOptions &options) const override {
    if (options.weightsFile.empty())
      return buildCpuLoweringPipeline(pm);
    ExternalizeWeightsPassOptions weights;
    weights.weightsFile = options.weightsFile;
    return buildCpuLoweringPipeline(pm, &weights);
  }
  bool runsInProcess() const override { return true; }
  void addRuntimeSymbols(llvm::StringMap<void *> &symbols) const override {
    symbols[kContractF32Symbol] = reinterpret_cast<void *>(&compress_rt_contract_f32);
    symbols[kContractF32ConstantBSymbol] =
        reinterpret_cast<void *>(&compress_rt_contract_f32_constant_b);
    symbols[kQuantizedLinearF32Symbol] = reinterpret_cast<void *>(&compress_rt_quantized_linear_f32);
    symbols[kTiledQuantizedLinearF32Symbol] =
        reinterpret_cast<void *>(&compress_rt_quantized_linear_tiled_f32);
    symbols[kNmSparseLinearF32Symbol] =
        reinterpret_cast<void *>(&compress_rt_nm_sparse_linear_f32);
    symbols[kEllSparseLinearF32Symbol] =
        reinterpret_cast<void *>(&compress_rt_ell_sparse_linear_f32);
    symbols[kIndexOutOfRangeSymbol] = reinterpret_cast<void *>(&compress_rt_index_out_of_range);
    symbols[kCheckCountSymbol] = reinterpret_cast<void *>(&compress_rt_check_count);
    symbols["_mlir_memref_to_llvm_alloc"] = reinterpret_cast<void *>(&_mlir_memref_to_llvm_alloc);
    symbols["_mlir_memref_to_llvm_aligned_alloc"] =
        reinterpret_cast<void *>(&_mlir_memref_to_llvm_aligned_alloc);
    symbols["_mlir_memref_to_llvm_free"] = reinterpret_cast<void *>(&_mlir_memref_to_llvm_free);
    symbols["memrefCopy"] = reinterpret_cast<void *>(&memrefCopy);
  }
  // Weights packed from an engine's constants must not outlive them.
  void forgetEngineState() const override { compress_rt_forget_packed_weights(); }
  llvm::Error packageArtifact(mlir::ModuleOp module,
                              const ArtifactOptions &options) const override {
    return compileArtifact(module, {options.name, options.outputDir}, cpuArtifactRecipe());
  }
};

} // namespace

void compress::registerCpuTarget() {
  static std::once_flag registered;
  std::call_once(registered, [] { llvm::cantFail(registerTarget(std::make_unique<CpuTarget>())); });
}
