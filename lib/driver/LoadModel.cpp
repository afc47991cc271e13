// Loading models for the command-line tools.
#include "lib/driver/LoadModel.h"

#include "lib/calibration/Calibrator.h"
#include "lib/engine/CpuEngine.h"
#include "passes/Registration.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/SourceMgr.h"

using namespace compress;

std::unique_ptr<mlir::MLIRContext> compress::createToolContext() {
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registerOnnxImportDialects(registry);
  return std::make_unique<mlir::MLIRContext>(registry);
}

llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
compress::loadModel(mlir::MLIRContext &context, llvm::StringRef path,
                    const OnnxImportOptions &options) {
  std::string firstError;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    if (d.getSeverity() == mlir::DiagnosticSeverity::Error && firstError.empty())
      firstError = d.str();
    return mlir::success();
  });
  mlir::OwningOpRef<mlir::ModuleOp> module;
  if (path.ends_with(".onnx")) {
    module = importOnnxFile(context, path, options);
  } else {
    if (!options.inputShapes.empty())
      return llvm::createStringError("--input-shape applies only to .onnx input");
    llvm::SourceMgr sourceMgr;
    module = mlir::parseSourceFile<mlir::ModuleOp>(path, sourceMgr, mlir::ParserConfig(&context));
  }
  if (!module)
    return llvm::createStringError(firstError.empty() ? "cannot read '" + path.str() + "'"
                                                      : firstError);
  return std::move(module);
}

llvm::Error compress::runCompressionPasses(mlir::ModuleOp module, llvm::StringRef pipeline,
                                           llvm::StringRef calibrationDir,
                                           const EngineOptions &engine) {
  std::unique_ptr<Calibrator> calibrator;
  mlir::MLIRContext *context = module.getContext();
  if (!calibrationDir.empty()) {
    // The sets are checked against the model's inputs before any pass runs,
    // so that a mismatch fails before anything is compiled.
    auto signature = readEntrySignature(module);
    if (!signature)
      return signature.takeError();
    auto sets = readCalibrationSets(calibrationDir, signature->inputs);
    if (!sets)
      return sets.takeError();
    calibrator = std::make_unique<Calibrator>(std::move(*sets), engine);
  }
  // The source lives exactly as long as the passes that may ask it.
  setCalibrationSource(context, calibrator.get());
  llvm::scope_exit reset([context] { setCalibrationSource(context, nullptr); });
  if (pipeline.empty())
    return llvm::Error::success();
  return runPassPipeline(module, pipeline);
}
