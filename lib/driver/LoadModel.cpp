// Loading models for the command-line tools.
#include "lib/driver/LoadModel.h"

#include "lib/calibration/Calibrator.h"
#include "lib/importer/onnx/OnnxModel.h"
#include "lib/engine/CpuEngine.h"
#include "passes/Registration.h"
#include "passes/gpu/Pipelines.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/SourceMgr.h"

#include <chrono>

using namespace compress;

std::unique_ptr<mlir::MLIRContext> compress::createToolContext(const PluginOptions &plugins) {
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  compress::registerCudaCodegenInterfaces(registry);
  registerOnnxImportDialects(registry);
  plugins.registerDialects(registry);
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

/// The sets in `dir` and, when their shapes are not those of `module`, a
/// module imported from `onnxPath` for their shapes (dimensions that differ
/// between sets stay dynamic).
static llvm::Expected<std::unique_ptr<Calibrator>>
openCalibration(mlir::ModuleOp module, llvm::StringRef dir, const EngineOptions &engine,
                llvm::StringRef onnxPath) {
  // The sets are checked against the model's inputs before any pass runs,
  // so that a mismatch fails before anything is compiled.
  auto signature = readEntrySignature(module);
  if (!signature)
    return signature.takeError();
  auto sets = readCalibrationSets(dir, signature->inputs);
  if (sets)
    return std::make_unique<Calibrator>(std::move(*sets), engine);
  if (onnxPath.empty())
    return sets.takeError();
  // Of the same inputs and types, and shapes the ONNX file allows: sizes it
  // declares symbolic may differ from the compiled ones.
  auto onnx = loadOnnxModel(onnxPath);
  if (!onnx) {
    llvm::consumeError(onnx.takeError());
    return sets.takeError();
  }
  std::vector<TensorSignature> anySize = signature->inputs;
  for (const onnx::ValueInfoProto &declared : (*onnx)->proto.graph().input())
    for (TensorSignature &input : anySize)
      if (input.name == declared.name() && declared.type().tensor_type().has_shape()) {
        const auto &dims = declared.type().tensor_type().shape().dim();
        for (int d = 0; d < dims.size() && d < int(input.shape.size()); ++d)
          if (!dims[d].has_dim_value())
            input.shape[d] = -1;
      }
  auto other = readCalibrationSets(dir, anySize);
  if (!other) {
    llvm::consumeError(other.takeError());
    return sets.takeError();
  }
  llvm::consumeError(sets.takeError());
  OnnxImportOptions options;
  for (size_t i = 0; i < anySize.size(); ++i) {
    llvm::SmallVector<int64_t> shape(other->front().inputs[i].shape.begin(),
                                     other->front().inputs[i].shape.end());
    for (const InputSet &set : *other)
      for (size_t d = 0; d < shape.size(); ++d)
        if (set.inputs[i].shape[d] != shape[d])
          shape[d] = -1;
    options.inputShapes[anySize[i].name] = shape;
  }
  auto calibrationModule = loadModel(*module.getContext(), onnxPath, options);
  if (!calibrationModule)
    return llvm::createStringError("importing the model for the calibration sets' shapes: " +
                                   llvm::toString(calibrationModule.takeError()));
  return std::make_unique<Calibrator>(std::move(*other), engine, std::move(*calibrationModule),
                                      module);
}

llvm::Error compress::runCompressionPasses(mlir::ModuleOp module, llvm::StringRef pipeline,
                                           llvm::StringRef calibrationDir,
                                           const EngineOptions &engine, llvm::StringRef modelPath) {
  std::unique_ptr<Calibrator> calibrator;
  mlir::MLIRContext *context = module.getContext();
  if (!calibrationDir.empty()) {
    llvm::StringRef onnxPath = modelPath.ends_with(".onnx") ? modelPath : "";
    auto opened = openCalibration(module, calibrationDir, engine, onnxPath);
    if (!opened)
      return opened.takeError();
    calibrator = std::move(*opened);
  }
  // The source lives exactly as long as the passes that may ask it.
  setCalibrationSource(context, calibrator.get());
  llvm::scope_exit reset([context] { setCalibrationSource(context, nullptr); });
  if (pipeline.empty())
    return llvm::Error::success();
  return runPassPipeline(module, pipeline);
}

llvm::Error compress::runReportedCompressionPasses(mlir::ModuleOp module,
                                                   const CompressionOptions &compression,
                                                   const ReportOptions &report,
                                                   const EngineOptions &engine,
                                                   llvm::StringRef modelPath,
                                                   PendingOutputs &pending, llvm::StringRef title) {
  auto start = std::chrono::steady_clock::now();
  if (llvm::Error e = runCompressionPasses(module, compression.passes, compression.calibration,
                                           engine, modelPath))
    return e;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report.finish(pending, seconds, title);
}
