// Targets as plugins of the pipeline. A target registers how it lowers a
// compressed module, what runtime functions its code calls (for the JIT)
// and how it packages an artifact; the tools, the JIT engine and the
// calibrator pick one by --target. Compressed ops reach the target's own
// lowering as ops of the `compress` dialect.
#ifndef COMPRESS_LIB_TARGET_TARGET_H
#define COMPRESS_LIB_TARGET_TARGET_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <string>
#include <vector>

namespace compress {

/// How a module is lowered.
struct LoweringOptions {
  /// When not empty, large constants leave the code for this weights file,
  /// which compiled code receives as a buffer argument (so that compile time
  /// and code size do not grow with the model).
  std::string weightsFile;
  /// The precision of matrix products on a target that offers a lower one
  /// than f32 (the CUDA target: f16, --gpu-precision).
  std::string precision = "f32";
};

/// Where and under which name an artifact is written.
struct ArtifactOptions {
  /// A C identifier: symbols are <name>_model, files lib<name>.so, ...
  std::string name;
  /// The folder the artifact goes to; written only when everything succeeded.
  std::string outputDir;
  /// As LoweringOptions::precision.
  std::string precision = "f32";
};

/// Memory of a device that a target's compiled code works in: the JIT moves
/// inputs, weights and results through it.
class DeviceMemory {
public:
  virtual ~DeviceMemory();
  virtual llvm::Expected<void *> upload(const void *host, size_t bytes) const = 0;
  /// Copies after all work issued so far.
  virtual llvm::Error download(void *host, const void *device, size_t bytes) const = 0;
  /// Frees upload()'s memory or a result of compiled code.
  virtual void release(void *device) const = 0;
  /// Waits for a run's work; its first failure.
  virtual llvm::Error finishRun() const = 0;
};

class Target {
public:
  virtual ~Target();
  /// What --target calls it ("cpu").
  virtual llvm::StringRef getName() const = 0;
  virtual llvm::StringRef getDescription() const = 0;
  /// Adds the passes that take an imported (and compressed) module to code
  /// the target's code generator emits; for JIT targets, the LLVM dialect
  /// with `_mlir_ciface_main`.
  virtual mlir::LogicalResult buildLoweringPipeline(mlir::OpPassManager &pm,
                                                    const LoweringOptions &options) const = 0;
  /// Whether the JIT engine can run its code in this process.
  virtual bool runsInProcess() const = 0;
  /// The runtime functions its code calls, by symbol, for the JIT to bind.
  virtual void addRuntimeSymbols(llvm::StringMap<void *> &symbols) const = 0;
  /// Where compiled code takes its inputs and weights and leaves its results:
  /// null for host memory (the CPU).
  virtual const DeviceMemory *getDeviceMemory() const { return nullptr; }
  /// Called when a JIT engine holding this target's code goes away (caches
  /// of the runtime that point into its weights).
  virtual void forgetEngineState() const {}
  /// Lowers `module` (rewritten in place) and writes its artifact.
  virtual llvm::Error packageArtifact(mlir::ModuleOp module,
                                      const ArtifactOptions &options) const = 0;
};

/// Adds `target`; a second target of one name is an error.
llvm::Error registerTarget(std::unique_ptr<Target> target);
/// The target called `name`, or an error listing the registered ones.
llvm::Expected<const Target &> lookupTarget(llvm::StringRef name);
/// The registered targets' names, sorted.
std::vector<std::string> registeredTargetNames();

} // namespace compress

#endif
