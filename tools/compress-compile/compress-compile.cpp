// compress-compile: compiles a model (.onnx or imported .mlir) ahead of time
// into a deployable artifact (see lib/aot/CpuArtifact.h for its files).
#include "lib/aot/CpuArtifact.h"
#include "lib/driver/LoadModel.h"
#include "lib/importer/onnx/Importer.h"


#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"

using namespace compress;
namespace cl = llvm::cl;

static cl::opt<std::string> modelPath(cl::Positional, cl::Required,
                                      cl::desc("<model.onnx|model.mlir>"));
static cl::opt<std::string> outputDir("o", cl::Required, cl::desc("Output folder"),
                                      cl::value_desc("dir"));
static cl::opt<std::string> target("target", cl::init("cpu"),
                                   cl::desc("Target to compile for (cpu)"));
static cl::opt<std::string> artifactName(
    "name", cl::desc("Artifact name, a C identifier (default: the model file's stem)"));
static cl::list<std::string> inputShapes(
    "input-shape", cl::desc("Fix a graph input's shape: NAME=D0xD1x... ('?' stays dynamic)"));

static cl::opt<std::string> passes(
    "passes",
    cl::desc("Passes to run on the imported model before compiling it, in pass-pipeline "
             "syntax, e.g. compress-quantize{bits=4 group-size=128}"));

static cl::opt<std::string> calibration(
    "calibration",
    cl::desc("Folder of calibration input sets for passes that need statistics, such as "
             "compress-quantize{method=gptq}: subfolders of NAME.npy files (one per model "
             "input NAME), .npz files (numpy.savez or savez_compressed), or ONNX "
             "test_data_set_N subfolders of input_K.pb TensorProtos; one set each"));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "compress-compile: error: " << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(argc, argv, "CompressIR ahead-of-time compiler\n");
  if (target != "cpu")
    return fail("unsupported --target '" + target + "' (supported: cpu)");
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
  for (const std::string &spec : inputShapes)
    if (failed(parseInputShape(spec, options)))
      return fail("bad --input-shape '" + spec + "': expected NAME=D0xD1x...");
  auto context = createToolContext();
  auto module = loadModel(*context, modelPath, options);
  if (!module)
    return fail(llvm::toString(module.takeError()));
  if (llvm::Error e = runCompressionPasses(**module, passes, calibration))
    return fail(llvm::toString(std::move(e)));
  if (llvm::Error e = compileCpuArtifact(**module, {name, outputDir}))
    return fail(llvm::toString(std::move(e)));
  return 0;
}
