// Compiles an imported module for the host CPU with the JIT and runs it on
// host tensors. Later stages (calibration) reuse one engine for many runs.
#ifndef COMPRESS_LIB_ENGINE_CPUENGINE_H
#define COMPRESS_LIB_ENGINE_CPUENGINE_H

#include "lib/support/HostTensor.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/Error.h"

#include <memory>

namespace llvm {
class MemoryBuffer;
}
namespace mlir {
class ExecutionEngine;
}

namespace compress {

/// The arguments and results of `func.func @main`, named by `compress.name`.
struct EntrySignature {
  std::vector<TensorSignature> inputs, outputs;
};
llvm::Expected<EntrySignature> readEntrySignature(mlir::ModuleOp module);

class Target;
class DeviceMemory;

/// How the JIT compiles a module.
struct EngineOptions {
  /// A registered target whose code runs in this process (lib/target).
  std::string target = "cpu";
  unsigned optLevel = 3;
  /// Constants of 256 bytes or more leave the code for a weights buffer the
  /// engine holds (compress-cpu-externalize-weights, as AOT artifacts do):
  /// LLVM never handles the weights, so compile time does not grow with
  /// them.
  bool externalWeights = true;
  /// OpenMP threads of compiled code and the microkernels (0: all cores).
  int numThreads = 0;
  /// As LoweringOptions::precision (--gpu-precision).
  std::string precision = "f32";
};

/// The JIT: compiles a module for a target whose code runs in this process
/// (the CPU, or the CUDA target's host code launching kernels) and runs it
/// on host tensors, moving them through the target's device memory if it
/// has one.
class CpuEngine {
public:
  /// Lowers `module` (consumed: it is rewritten in place) with the target's
  /// pipeline and JIT-compiles it.
  /// The module must hold `func.func @main` over ranked tensors.
  static llvm::Expected<std::unique_ptr<CpuEngine>> compile(mlir::ModuleOp module,
                                                            const EngineOptions &options = {});
  ~CpuEngine();

  const std::vector<TensorSignature> &inputs() const { return inputSigs; }
  const std::vector<TensorSignature> &outputs() const { return outputSigs; }

  /// Runs the entry function. Inputs are matched by position and checked
  /// against the signature (element type, rank, static dimensions).
  llvm::Expected<std::vector<HostTensor>> run(llvm::ArrayRef<HostTensor> inputs);

private:
  CpuEngine() = default;
  const Target *target = nullptr;
  std::unique_ptr<mlir::ExecutionEngine> engine;
  /// The weights file's contents (mapped), when the weights left the code.
  std::unique_ptr<llvm::MemoryBuffer> weights;
  /// For a target whose code works in device memory (CUDA): that memory,
  /// and the weights uploaded to it once.
  const DeviceMemory *device = nullptr;
  void *deviceWeights = nullptr;
  /// What each run-time index check guards, by number.
  std::vector<std::string> indexSites;
  std::vector<TensorSignature> inputSigs, outputSigs;
};

} // namespace compress

#endif
