// Registration of every CompressIR pass and pipeline.
#include "passes/Registration.h"

#include "passes/compression/Passes.h"
#include "passes/conversion/Passes.h"
#include "passes/cpu/Passes.h"
#include "passes/cpu/Pipelines.h"
#include "passes/gpu/Pipelines.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <mutex>

using namespace mlir;

void compress::registerAllCompressPasses() {
  static std::once_flag registered;
  std::call_once(registered, [] {
    registerAllPasses();
    registerCompressCompressionPasses();
    registerCompressConversionPasses();
    registerCpuPipelines();
    registerGpuPipelines();
  });
}

llvm::ArrayRef<llvm::StringRef> compress::compressionPassNames() {
  // Each compression pass adds its flag here when it lands.
  static const llvm::StringRef names[] = {"compress-quantize", "compress-prune",
                                          "compress-factorize", "compress-find-blocks",
                                          "compress-drop-blocks", "compress-share-blocks",
                                          "compress-outline-blocks", "compress-token-skip"};
  return names;
}

llvm::Error compress::runPassPipeline(ModuleOp module, llvm::StringRef pipeline) {
  registerAllCompressPasses();
  std::string parseErrors;
  llvm::raw_string_ostream errors(parseErrors);
  PassManager pm(module.getContext());
  if (failed(parsePassPipeline(pipeline, pm, errors)))
    return llvm::createStringError("bad pass pipeline '" + pipeline + "': " + parseErrors);
  std::string diagnostics;
  ScopedDiagnosticHandler handler(module.getContext(), [&](Diagnostic &d) {
    if (d.getSeverity() == DiagnosticSeverity::Error)
      diagnostics += (diagnostics.empty() ? "" : "; ") + d.str();
    // A pass's warnings (a layer left as it is) reach the user at once.
    if (d.getSeverity() == DiagnosticSeverity::Warning)
      llvm::errs() << "warning: " << d.str() << "\n";
    return success();
  });
  if (failed(pm.run(module)))
    return llvm::createStringError(diagnostics.empty() ? "pass pipeline '" + pipeline + "' failed"
                                                        : diagnostics);
  return llvm::Error::success();
}
