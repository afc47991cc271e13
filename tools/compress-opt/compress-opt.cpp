// compress-opt: mlir-opt for CompressIR. Reads .onnx (imported on the fly) or
// .mlir, runs the passes named on the command line (upstream's flags, or
// --passes as the other tools take them), writes .mlir.
#include "lib/calibration/Calibrator.h"
#include "lib/driver/ToolOptions.h"
#include "lib/importer/onnx/Importer.h"
#include "lib/support/AtomicOutput.h"
#include "passes/Registration.h"
#include "passes/compression/LayerWeights.h"
#include "passes/gpu/Pipelines.h"

#include "mlir/Debug/Counter.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>

using namespace mlir;
namespace cl = llvm::cl;

static cl::opt<std::string> inputFilename(cl::Positional, cl::desc("<model.onnx|input.mlir>"),
                                          cl::init("-"),
                                          cl::cat(compress::toolOptionCategory()));
static cl::opt<std::string> outputFilename("o", cl::desc("Output filename"),
                                           cl::value_desc("filename"), cl::init("-"),
                                           cl::cat(compress::toolOptionCategory()));
static cl::opt<bool> printSupportedOps(
    "print-supported-onnx-ops",
    cl::desc("Print each ONNX op the importer accepts with its opset "
             "range ('Op MIN MAX'), then exit"),
    cl::cat(compress::toolOptionCategory()));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "compress-opt: error: " << message << "\n";
  return 1;
}

/// Writes the finished output, to stdout ("-") or beside `outputFilename`,
/// and puts it in place with the passes' reports and their page, after
/// their summary: only a run that succeeded replaces existing files.
/// `passesStart`: when the pass pipeline began.
static int writeOutput(llvm::StringRef text, compress::PendingOutputs &pending,
                       const compress::ReportOptions &report,
                       std::chrono::steady_clock::time_point passesStart) {
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - passesStart).count();
  if (llvm::Error e = report.finish(pending, seconds, "compress-opt " + inputFilename))
    return fail(llvm::toString(std::move(e)));
  if (outputFilename == "-") {
    llvm::outs() << text;
  } else {
    auto file = compress::AtomicFile::create(outputFilename);
    if (!file)
      return fail(llvm::toString(file.takeError()));
    file->os() << text;
    if (llvm::Error e = pending.add(std::move(*file)))
      return fail(llvm::toString(std::move(e)));
  }
  if (llvm::Error e = pending.commitAll())
    return fail(llvm::toString(std::move(e)));
  return 0;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  compress::registerAllCompressPasses();
  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  compress::registerCudaCodegenInterfaces(registry);
  compress::registerOnnxImportDialects(registry);

  // mlir-opt's options (upstream pass flags, debugging), then ours.
  MlirOptMainConfig::registerCLOptions(registry);
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  tracing::DebugCounter::registerCLOptions();
  compress::InputShapeOption inputShapes;
  compress::CompressionOptions compression;
  compress::WeightMemoryOption weightMemory;
  // MlirOptMain's own plugin flags ignore a library that fails to load
  // ("Request ignored"); ours, shared with the other tools, fail the run.
  for (llvm::StringRef flag : {"load-pass-plugin", "load-dialect-plugin"})
    if (cl::Option *upstreamFlag = cl::getRegisteredOptions().lookup(flag))
      upstreamFlag->removeArgument();
  compress::PluginOptions plugins;
  compress::ReportOptions report;
  compress::parseToolCommandLine(argc, argv, "CompressIR optimizer driver\n");
  if (llvm::Error e = report.apply())
    return fail(llvm::toString(std::move(e)));
  if (llvm::Error e = plugins.load())
    return fail(llvm::toString(std::move(e)));
  plugins.registerDialects(registry);
  if (printSupportedOps) {
    for (const compress::SupportedOnnxOp &op : compress::supportedOnnxOps())
      llvm::outs() << op.opType << " " << op.minOpset << " " << op.maxOpset << "\n";
    return 0;
  }

  // --passes first, then upstream's pass flags: compression rewrites the
  // imported layers, which a lowering flag (--compress-cuda-lowering, ...)
  // would otherwise have turned into loops and calls before it ran, leaving
  // it nothing to do (compress-run and compress-compile compress before they
  // lower, too). Calibration data, read against the module once a pass asks
  // for it, lives as long as them.
  std::unique_ptr<compress::Calibrator> calibrator;
  compress::PendingOutputs pending;
  auto passesStart = std::chrono::steady_clock::now();
  if (!compression.calibration.empty())
    calibrator = compress::Calibrator::fromFolder(compression.calibration);
  MlirOptMainConfig config = MlirOptMainConfig::createFromCLOptions();
  MlirOptMainConfig upstream = config;
  config.setPassPipelineSetupFn([&](PassManager &pm) -> LogicalResult {
    if (!compression.passes.empty()) {
      std::string errors;
      llvm::raw_string_ostream os(errors);
      if (failed(parsePassPipeline(compression.passes, pm, os))) {
        llvm::errs() << "compress-opt: error: bad --passes '" << compression.passes
                     << "': " << errors << "\n";
        return failure();
      }
    }
    if (failed(upstream.setupPassPipeline(pm)))
      return failure();
    compress::setCalibrationSource(pm.getContext(), calibrator.get());
    compress::setPendingOutputs(pm.getContext(), &pending);
    passesStart = std::chrono::steady_clock::now();
    return success();
  });

  if (!llvm::StringRef(inputFilename).ends_with(".onnx")) {
    if (!inputShapes.specs.empty())
      return fail("--input-shape applies only to .onnx input");
    std::string error;
    auto file = openInputFile(inputFilename, &error);
    if (!file)
      return fail(error);
    std::string text;
    llvm::raw_string_ostream os(text);
    if (failed(MlirOptMain(os, std::move(file), registry, config)))
      return 1;
    return writeOutput(text, pending, report, passesStart);
  }

  compress::OnnxImportOptions options;
  if (llvm::Error e = inputShapes.apply(options))
    return fail(llvm::toString(std::move(e)));
  MLIRContext context(registry);
  if (llvm::Error e = weightMemory.attach(context))
    return fail(llvm::toString(std::move(e)));
  // One line per diagnostic, without the location prefix: messages name the
  // node.
  ScopedDiagnosticHandler handler(&context, [](Diagnostic &d) {
    if (d.getSeverity() == DiagnosticSeverity::Error)
      llvm::errs() << "compress-opt: error: " << d.str() << "\n";
    if (d.getSeverity() == DiagnosticSeverity::Warning)
      llvm::errs() << "compress-opt: warning: " << d.str() << "\n";
    return success();
  });
  OwningOpRef<ModuleOp> module = compress::importOnnxFile(context, inputFilename, options);
  if (!module)
    return 1;
  PassManager pm(&context);
  if (failed(applyPassManagerCLOptions(pm)) || failed(config.setupPassPipeline(pm)) ||
      failed(pm.run(*module)))
    return 1;
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os, OpPrintingFlags());
  os << "\n";
  return writeOutput(text, pending, report, passesStart);
}
