// The pass pipelines that take an imported module to LLVM-dialect CPU code.
#ifndef COMPRESS_PASSES_CPU_PIPELINES_H
#define COMPRESS_PASSES_CPU_PIPELINES_H

#include "passes/cpu/Passes.h"

#include "mlir/Pass/PassManager.h"

namespace compress {

/// compress + upstream dialects on tensors -> LLVM dialect, ready for the JIT
/// or for translation to an object file. The entry function gets a C
/// interface (`_mlir_ciface_main`) taking and returning memref descriptors.
/// With `weights`, large constants move to a weights file
/// (compress-cpu-externalize-weights) once they are in their final layout.
mlir::LogicalResult
buildCpuLoweringPipeline(mlir::OpPassManager &pm,
                         const ExternalizeWeightsPassOptions *weights = nullptr);

/// Registers `--compress-cpu-lowering` for compress-opt.
void registerCpuPipelines();

} // namespace compress

#endif
