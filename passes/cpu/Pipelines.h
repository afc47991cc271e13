// The pass pipelines that take an imported module to LLVM-dialect CPU code.
#ifndef COMPRESS_PASSES_CPU_PIPELINES_H
#define COMPRESS_PASSES_CPU_PIPELINES_H

#include "mlir/Pass/PassManager.h"

namespace compress {

/// compress + upstream dialects on tensors -> LLVM dialect, ready for the JIT
/// or for translation to an object file. The entry function gets a C
/// interface (`_mlir_ciface_main`) taking and returning memref descriptors.
mlir::LogicalResult buildCpuLoweringPipeline(mlir::OpPassManager &pm);

/// Registers `--compress-cpu-lowering` for compress-opt.
void registerCpuPipelines();

} // namespace compress

#endif
