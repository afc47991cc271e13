// The CPU lowering pipeline, written once as text so that compress-opt users
// can read and replay it step by step with upstream flags.
#include "passes/cpu/Pipelines.h"

#include "passes/conversion/Passes.h"
#include "passes/cpu/Passes.h"

#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassRegistry.h"

#include <mutex>

using namespace mlir;

// Stages: block functions inlined; routed blocks' layers on their kept
// tokens; our ops and elementwise arith on tensors
// to linalg; constant quantized weights into the kernels
// tiles (before the weights leave the module, so the weights file holds the
// tiles); convolutions as im2col products; fuse elementwise chains;
// bufferize with identity-layout function boundaries; free temporaries;
// matrix products to the runtime's microkernels; index checks to calls
// of the runtime; the rest to loops, the
// outer ones shared by OpenMP threads; LLVM, allocating through the
// runtime's caching allocator.
static const char kCpuLoweringHead[] =
    "compress-inline-blocks,compress-compact-tokens,convert-compress-to-linalg,"
    "func.func(convert-elementwise-to-linalg,compress-cpu-tile-quantized-weights)";
static const char kCpuLoweringTail[] =
    "func.func(compress-cpu-conv-to-im2col),"
    "func.func(canonicalize,cse,compress-cpu-fuse-elementwise,canonicalize,"
    "compress-cpu-approximate-math,compress-cpu-reassociate-reductions,"
    "compress-cpu-privatize-inits),"
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "func.func(buffer-hoisting),"
    "buffer-deallocation-pipeline,"
    "func.func(llvm-request-c-wrappers),"
    "compress-cpu-contraction-to-microkernel,"
    // After the C wrappers are requested: runtime calls stay plain C calls.
    "compress-cpu-lower-index-checks,"
    "convert-bufferization-to-memref,"
    "func.func(convert-linalg-to-parallel-loops,compress-cpu-parallelize-outer-loops),"
    "convert-scf-to-openmp,"
    // Memref lowering goes before the scf one: it removes the alloca scopes
    // that the OpenMP conversion wraps loop bodies in.
    "lower-affine,expand-strided-metadata,lower-affine,"
    "finalize-memref-to-llvm{use-generic-functions},convert-scf-to-cf,"
    "convert-math-to-llvm,convert-math-to-libm,convert-arith-to-llvm,convert-index-to-llvm,"
    "convert-cf-to-llvm,convert-func-to-llvm,convert-openmp-to-llvm,reconcile-unrealized-casts";

LogicalResult
compress::buildCpuLoweringPipeline(OpPassManager &pm,
                                   const ExternalizeWeightsPassOptions *weights) {
  // The textual pipeline names upstream and our passes: register them once.
  static std::once_flag registered;
  std::call_once(registered, [] {
    registerAllPasses();
    registerCompressConversionPasses();
    registerCompressCpuPasses();
  });
  if (failed(parsePassPipeline(kCpuLoweringHead, pm)))
    return failure();
  if (weights)
    pm.addPass(createExternalizeWeightsPass(*weights));
  return parsePassPipeline(kCpuLoweringTail, pm);
}

void compress::registerCpuPipelines() {
  registerCompressCpuPasses();
  PassPipelineRegistration<>(
      "compress-cpu-lowering",
      "Lower an imported module to LLVM-dialect code for the CPU",
      [](OpPassManager &pm) {
        if (failed(buildCpuLoweringPipeline(pm)))
          llvm::report_fatal_error("invalid built-in CPU lowering pipeline");
      });
}
