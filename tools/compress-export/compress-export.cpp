// compress-export: compresses an ONNX model with a pass pipeline and writes
// it back as ONNX that onnxruntime runs (lib/export/OnnxExport.h says how
// each compressed layer is written).
#include "lib/driver/LoadModel.h"
#include "lib/driver/ToolOptions.h"
#include "lib/export/OnnxExport.h"
#include "lib/support/AtomicOutput.h"
#include "passes/compression/LayerWeights.h"

#include "llvm/Support/InitLLVM.h"

using namespace compress;
namespace cl = llvm::cl;

static cl::opt<std::string> modelPath(cl::Positional, cl::Required, cl::desc("<model.onnx>"),
                                      cl::cat(toolOptionCategory()));
static cl::opt<std::string> outputPath("o", cl::Required,
                                       cl::desc("The ONNX file to write (its external data, when "
                                                "any, goes beside it as <file>.data)"),
                                       cl::value_desc("file.onnx"), cl::cat(toolOptionCategory()));
static cl::opt<std::string> externalData(
    "external-data", cl::init("auto"),
    cl::desc("Where the weights go: auto (a <file>.data beside the model when the input had "
             "external data or the weights pass 1.5 GiB), always, or never (inside the .onnx)"),
    cl::cat(toolOptionCategory()));
static cl::opt<int64_t> accuracyLevel(
    "accuracy-level", cl::init(0),
    cl::desc("accuracy_level of the MatMulNBits nodes written: 0 computes in float32 as the "
             "compressed model does; 1 to 4 let onnxruntime compute in lower precision (4: int8 "
             "activations, faster on CPUs with int8 dot products)"),
    cl::cat(toolOptionCategory()));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "compress-export: error: " << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  InputShapeOption inputShapes;
  CompressionOptions compression;
  WeightMemoryOption weightMemory;
  ThreadsOption threads;
  PluginOptions plugins;
  ReportOptions report;
  parseToolCommandLine(argc, argv, "CompressIR: compress an ONNX model, write it back as ONNX\n");
  if (llvm::Error e = report.apply())
    return fail(llvm::toString(std::move(e)));
  if (llvm::Error e = threads.check())
    return fail(llvm::toString(std::move(e)));
  if (externalData != "auto" && externalData != "always" && externalData != "never")
    return fail("bad --external-data '" + externalData + "': expected auto, always or never");
  if (accuracyLevel < 0 || accuracyLevel > 4)
    return fail("bad --accuracy-level " + llvm::Twine(accuracyLevel.getValue()) +
                ": expected 0 to 4");
  if (!llvm::StringRef(modelPath).ends_with(".onnx"))
    return fail("'" + modelPath + "' is not an .onnx file: export rewrites the model's own graph");
  if (!llvm::StringRef(outputPath).ends_with(".onnx"))
    return fail("bad -o '" + outputPath + "': expected a file name ending in .onnx");
  if (llvm::Error e = plugins.load())
    return fail(llvm::toString(std::move(e)));

  OnnxImportOptions options;
  if (llvm::Error e = inputShapes.apply(options))
    return fail(llvm::toString(std::move(e)));
  // The model and the passes' reports go into place together, once all is
  // written: a failed run leaves existing files as they were.
  PendingOutputs outputs;
  auto context = createToolContext(plugins);
  if (llvm::Error e = weightMemory.attach(*context))
    return fail(llvm::toString(std::move(e)));
  setPendingOutputs(context.get(), &outputs);
  auto module = loadModel(*context, modelPath, options);
  if (!module)
    return fail(llvm::toString(module.takeError()));
  auto imported = ImportedGraph::take(**module);
  if (!imported)
    return fail(llvm::toString(imported.takeError()));
  EngineOptions calibrationEngine;
  calibrationEngine.numThreads = threads.numThreads;
  if (llvm::Error e = runReportedCompressionPasses(**module, compression, report, calibrationEngine,
                                                   modelPath, outputs,
                                                   "compress-export " + modelPath))
    return fail(llvm::toString(std::move(e)));
  OnnxExportOptions exportOptions;
  exportOptions.externalData = externalData;
  exportOptions.accuracyLevel = accuracyLevel;
  if (llvm::Error e = exportOnnxFile(modelPath, **module, *imported, outputPath, exportOptions, outputs))
    return fail(llvm::toString(std::move(e)));
  if (llvm::Error e = outputs.commitAll())
    return fail(llvm::toString(std::move(e)));
  return 0;
}
