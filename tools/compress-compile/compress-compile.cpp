// compress-compile: compiles a model (.onnx or imported .mlir) ahead of time
// into a deployable artifact (see lib/aot/Artifact.h for its files).
#include "lib/aot/Artifact.h"
#include "lib/driver/LoadModel.h"
#include "lib/driver/ToolOptions.h"
#include "lib/support/AtomicOutput.h"
#include "lib/target/Target.h"
#include "passes/compression/LayerWeights.h"

#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"

using namespace compress;
namespace cl = llvm::cl;

static cl::opt<std::string> modelPath(cl::Positional, cl::Required,
                                      cl::desc("<model.onnx|model.mlir>"),
                                      cl::cat(toolOptionCategory()));
static cl::opt<std::string> outputDir("o", cl::Required, cl::desc("Output folder"),
                                      cl::value_desc("dir"), cl::cat(toolOptionCategory()));
static cl::opt<std::string> artifactName(
    "name", cl::desc("Artifact name, a C identifier (default: the model file's stem)"),
    cl::cat(toolOptionCategory()));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "compress-compile: error: " << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  InputShapeOption inputShapes;
  CompressionOptions compression;
  WeightMemoryOption weightMemory;
  TargetOptions target;
  ThreadsOption threads;
  PluginOptions plugins;
  ReportOptions report;
  parseToolCommandLine(argc, argv, "CompressIR ahead-of-time compiler\n");
  if (llvm::Error e = report.apply())
    return fail(llvm::toString(std::move(e)));
  if (llvm::Error e = target.check())
    return fail(llvm::toString(std::move(e)));
  if (llvm::Error e = threads.check())
    return fail(llvm::toString(std::move(e)));
  if (llvm::Error e = plugins.load())
    return fail(llvm::toString(std::move(e)));
  std::string name = artifactName;
  if (name.empty()) {
    name = llvm::sys::path::stem(modelPath).str();
    for (char &c : name)
      if (!isalnum(static_cast<unsigned char>(c)))
        c = '_';
    if (!name.empty() && isdigit(static_cast<unsigned char>(name[0])))
      name = "m" + name;
  }
  if (!isValidArtifactName(name))
    return fail("bad --name '" + name + "': expected a C identifier");

  OnnxImportOptions options;
  if (llvm::Error e = inputShapes.apply(options))
    return fail(llvm::toString(std::move(e)));
  // The passes' reports go into place once the artifact is in place: a
  // failed run leaves existing ones as they were.
  PendingOutputs reports;
  auto context = createToolContext(plugins);
  if (llvm::Error e = weightMemory.attach(*context))
    return fail(llvm::toString(std::move(e)));
  setPendingOutputs(context.get(), &reports);
  auto module = loadModel(*context, modelPath, options);
  if (!module)
    return fail(llvm::toString(module.takeError()));
  // Calibration runs in this process, on the CPU, whatever the target.
  EngineOptions calibrationEngine;
  calibrationEngine.numThreads = threads.numThreads;
  if (llvm::Error e = runReportedCompressionPasses(**module, compression, report, calibrationEngine,
                                                   modelPath, reports,
                                                   "compress-compile " + modelPath))
    return fail(llvm::toString(std::move(e)));
  const Target &backend = llvm::cantFail(lookupTarget(target.target)); // checked above
  if (llvm::Error e = backend.packageArtifact(**module, {name, outputDir, target.gpuPrecision}))
    return fail(llvm::toString(std::move(e)));
  if (llvm::Error e = reports.commitAll())
    return fail(llvm::toString(std::move(e)));
  return 0;
}
