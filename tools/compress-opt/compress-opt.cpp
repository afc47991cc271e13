// compress-opt: mlir-opt for CompressIR. Reads .onnx (imported on the fly) or
// .mlir, runs the passes named on the command line, writes .mlir.
#include "dialects/compress/IR/CompressDialect.h"
#include "lib/importer/onnx/Importer.h"
#include "passes/Registration.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

static llvm::cl::opt<bool> printSupportedOps(
    "print-supported-onnx-ops",
    llvm::cl::desc("Print each ONNX op the importer accepts with its opset "
                   "range ('Op MIN MAX'), then exit"));
static llvm::cl::list<std::string> inputShapes(
    "input-shape",
    llvm::cl::desc("Fix a graph input's shape when importing ONNX: "
                   "NAME=D0xD1x... ('?' keeps a dimension dynamic)"));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "compress-opt: error: " << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  compress::registerAllCompressPasses();
  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  compress::registerOnnxImportDialects(registry);

  auto [inputFilename, outputFilename] = registerAndParseCLIOptions(
      argc, argv, "CompressIR optimizer driver\n", registry);
  if (printSupportedOps) {
    for (const compress::SupportedOnnxOp &op : compress::supportedOnnxOps())
      llvm::outs() << op.opType << " " << op.minOpset << " " << op.maxOpset << "\n";
    return 0;
  }
  MlirOptMainConfig config = MlirOptMainConfig::createFromCLOptions();

  if (!llvm::StringRef(inputFilename).ends_with(".onnx")) {
    if (!inputShapes.empty())
      return fail("--input-shape applies only to .onnx input");
    std::string error;
    auto file = openInputFile(inputFilename, &error);
    if (!file)
      return fail(error);
    auto output = openOutputFile(outputFilename, &error);
    if (!output)
      return fail(error);
    if (failed(MlirOptMain(output->os(), std::move(file), registry, config)))
      return 1;
    output->keep();
    return 0;
  }

  compress::OnnxImportOptions options;
  for (const std::string &spec : inputShapes)
    if (failed(compress::parseInputShape(spec, options)))
      return fail("bad --input-shape '" + spec + "': expected NAME=D0xD1x...");
  MLIRContext context(registry);
  // One line per error, without the location prefix: messages name the node.
  ScopedDiagnosticHandler handler(&context, [](Diagnostic &d) {
    if (d.getSeverity() == DiagnosticSeverity::Error)
      llvm::errs() << "compress-opt: error: " << d.str() << "\n";
    return success();
  });
  OwningOpRef<ModuleOp> module =
      compress::importOnnxFile(context, inputFilename, options);
  if (!module)
    return 1;
  PassManager pm(&context);
  if (failed(applyPassManagerCLOptions(pm)) ||
      failed(config.setupPassPipeline(pm)) || failed(pm.run(*module)))
    return 1;
  std::string error;
  auto output = openOutputFile(outputFilename, &error);
  if (!output)
    return fail(error);
  OpPrintingFlags flags;
  module->print(output->os(), flags);
  output->os() << "\n";
  output->keep();
  return 0;
}
