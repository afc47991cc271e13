// compress-run: runs a model (.onnx or imported .mlir) on the CPU through the
// JIT, reading inputs from .npy files and writing outputs as .npy files.
#include "lib/engine/ArtifactRunner.h"
#include "lib/driver/LoadModel.h"
#include "lib/driver/ToolOptions.h"
#include "lib/engine/CpuEngine.h"
#include "lib/importer/onnx/Importer.h"
#include "lib/support/AtomicOutput.h"
#include "passes/compression/LayerWeights.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <chrono>
#include <functional>

using namespace compress;
namespace cl = llvm::cl;

static cl::opt<std::string> modelPath(
    cl::Positional, cl::Required,
    cl::desc("<model.onnx|model.mlir|lib<name>.so from compress-compile>"),
    cl::cat(toolOptionCategory()));
static cl::list<std::string> inputSpecs(
    "input", cl::desc("An input as NAME=FILE.npy (repeat for each input)"),
    cl::cat(toolOptionCategory()));
static cl::opt<std::string> outputDir(
    "output-dir", cl::Required,
    cl::desc("Folder for the outputs, one NAME.npy each (characters outside "
             "[A-Za-z0-9_.-] of NAME become '_')"),
    cl::cat(toolOptionCategory()));
static cl::opt<bool> keepDynamic(
    "keep-dynamic-shapes",
    cl::desc("Compile an ONNX model for its declared (possibly symbolic) "
             "shapes instead of the shapes of the given inputs"),
    cl::cat(toolOptionCategory()));
static cl::opt<unsigned> benchmarkRuns(
    "benchmark",
    cl::desc("After one warm-up run, time N runs and print the compile time "
             "and the median, minimum and maximum run time"),
    cl::init(0), cl::cat(toolOptionCategory()));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "compress-run: error: " << message << "\n";
  return 1;
}

static std::string outputFileName(llvm::StringRef name) {
  std::string s = name.str();
  for (char &c : s)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
      c = '_';
  return s + ".npy";
}

/// The values of a small int32/int64 tensor: those that may decide shapes.
static std::optional<llvm::SmallVector<int64_t>>
smallIntegerContents(const HostTensor &t) {
  constexpr int64_t kMaxElements = 64;
  if ((t.kind != ElementKind::I64 && t.kind != ElementKind::I32) ||
      t.numElements() > kMaxElements)
    return std::nullopt;
  llvm::SmallVector<int64_t> out;
  for (int64_t i = 0; i < t.numElements(); ++i) {
    if (t.kind == ElementKind::I64) {
      int64_t v;
      memcpy(&v, t.data.data() + 8 * i, 8);
      out.push_back(v);
    } else {
      int32_t v;
      memcpy(&v, t.data.data() + 4 * i, 4);
      out.push_back(v);
    }
  }
  return out;
}

/// The values of a small float32 tensor: Resize's scales decide shapes.
static std::optional<std::vector<double>> smallFloatContents(const HostTensor &t) {
  constexpr int64_t kMaxElements = 8;
  if (t.kind != ElementKind::F32 || t.numElements() > kMaxElements)
    return std::nullopt;
  std::vector<double> out;
  for (int64_t i = 0; i < t.numElements(); ++i) {
    float v;
    memcpy(&v, t.data.data() + 4 * i, 4);
    out.push_back(v);
  }
  return out;
}

/// What compress-run runs: the JIT engine or a compiled artifact.
struct Runnable {
  std::function<const std::vector<TensorSignature> &()> inputs, outputs;
  std::function<llvm::Expected<std::vector<HostTensor>>(llvm::ArrayRef<HostTensor>)> run;
};

template <typename Model>
static Runnable wrap(Model &model) {
  return {[&]() -> const std::vector<TensorSignature> & { return model.inputs(); },
          [&]() -> const std::vector<TensorSignature> & { return model.outputs(); },
          [&](llvm::ArrayRef<HostTensor> in) { return model.run(in); }};
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
  parseToolCommandLine(argc, argv, "CompressIR CPU runner\n");
  if (llvm::Error e = report.apply())
    return fail(llvm::toString(std::move(e)));
  if (llvm::Error e = target.check())
    return fail(llvm::toString(std::move(e)));
  if (llvm::Error e = threads.check())
    return fail(llvm::toString(std::move(e)));
  if (llvm::Error e = plugins.load())
    return fail(llvm::toString(std::move(e)));
  int numThreads = threads.numThreads;

  // Inputs first: their shapes specialise the compiled model.
  llvm::StringMap<HostTensor> given;
  for (const std::string &spec : inputSpecs) {
    auto [name, file] = llvm::StringRef(spec).split('=');
    if (name.empty() || file.empty())
      return fail("bad --input '" + spec + "': expected NAME=FILE.npy");
    auto tensor = readNpy(file);
    if (!tensor)
      return fail("input '" + name + "': " + llvm::toString(tensor.takeError()));
    if (!given.try_emplace(name, std::move(*tensor)).second)
      return fail("input '" + name + "' given twice");
  }

  // The outputs and the passes' reports go into place together, once all
  // are written; a failed run leaves every existing one as it was.
  PendingOutputs pending;
  auto context = createToolContext(plugins);
  if (llvm::Error e = weightMemory.attach(*context))
    return fail(llvm::toString(std::move(e)));
  setPendingOutputs(context.get(), &pending);

  Runnable model;
  std::unique_ptr<CpuEngine> engine;
  std::unique_ptr<ArtifactRunner> artifact;
  auto compileStart = std::chrono::steady_clock::now();
  if (llvm::StringRef(modelPath).ends_with(".so")) {
    if (!compression.passes.empty() || !compression.calibration.empty() ||
        !inputShapes.specs.empty())
      return fail("--passes, --calibration and --input-shape apply to models, not to compiled "
                  "artifacts");
    auto loaded = ArtifactRunner::load(modelPath, numThreads);
    if (!loaded)
      return fail(llvm::toString(loaded.takeError()));
    artifact = std::move(*loaded);
    model = wrap(*artifact);
  } else {
    OnnxImportOptions options;
    if (llvm::Error e = inputShapes.apply(options))
      return fail(llvm::toString(std::move(e)));
    if (!keepDynamic)
      for (auto &kv : given) {
        if (options.inputShapes.count(kv.getKey()))
          continue; // --input-shape decides
        const HostTensor &t = kv.second;
        options.inputShapes[kv.getKey()] =
            llvm::SmallVector<int64_t>(t.shape.begin(), t.shape.end());
        if (auto ints = smallIntegerContents(t))
          options.inputValues[kv.getKey()] = *ints;
        if (auto floats = smallFloatContents(t))
          options.inputFloatValues[kv.getKey()] = *floats;
      }
    // Shapes and values specialise ONNX imports only.
    if (!llvm::StringRef(modelPath).ends_with(".onnx"))
      options = OnnxImportOptions();
    auto module = loadModel(*context, modelPath, options);
    if (!module)
      return fail(llvm::toString(module.takeError()));
    EngineOptions engineOptions;
    engineOptions.target = target.target;
    engineOptions.precision = target.gpuPrecision;
    engineOptions.numThreads = numThreads;
    if (llvm::Error e = runReportedCompressionPasses(**module, compression, report, engineOptions,
                                                     modelPath, pending,
                                                     "compress-run " + modelPath))
      return fail(llvm::toString(std::move(e)));
    auto compiled = CpuEngine::compile(**module, engineOptions);
    if (!compiled)
      return fail(llvm::toString(compiled.takeError()));
    engine = std::move(*compiled);
    model = wrap(*engine);
  }
  double compileSeconds = std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - compileStart)
                              .count();

  std::vector<HostTensor> inputs;
  for (const TensorSignature &sig : model.inputs()) {
    auto it = given.find(sig.name);
    if (it == given.end())
      return fail("missing --input for model input '" + sig.name + "'");
    inputs.push_back(std::move(it->second));
    given.erase(it);
  }
  if (!given.empty())
    return fail("--input '" + given.begin()->getKey() +
                "' is not an input of the model");

  auto outputs = model.run(inputs);
  if (!outputs)
    return fail(llvm::toString(outputs.takeError()));
  if (benchmarkRuns > 0) {
    std::vector<double> ms;
    for (unsigned i = 0; i < benchmarkRuns; ++i) {
      auto start = std::chrono::steady_clock::now();
      auto again = model.run(inputs);
      if (!again)
        return fail(llvm::toString(again.takeError()));
      ms.push_back(std::chrono::duration<double, std::milli>(
                       std::chrono::steady_clock::now() - start)
                       .count());
    }
    std::sort(ms.begin(), ms.end());
    llvm::outs() << llvm::format("%s %.1f ms; run median %.3f ms, min %.3f ms, "
                                 "max %.3f ms over %u runs\n",
                                 artifact ? "load" : "compile", compileSeconds * 1e3,
                                 ms[ms.size() / 2], ms.front(),
                                 ms.back(), unsigned(benchmarkRuns));
  }
  if (std::error_code ec = llvm::sys::fs::create_directories(outputDir))
    return fail("cannot create '" + outputDir + "': " + ec.message());
  for (size_t i = 0; i < outputs->size(); ++i) {
    llvm::SmallString<256> path(outputDir);
    llvm::sys::path::append(path, outputFileName(model.outputs()[i].name));
    if (llvm::sys::fs::is_directory(path))
      return fail("cannot write output '" + model.outputs()[i].name + "': '" + path.str().str() +
                  "' is a directory");
    auto file = writeNpyTemp(path, (*outputs)[i]);
    if (!file)
      return fail(llvm::toString(file.takeError()));
    if (llvm::Error e = pending.add(std::move(*file)))
      return fail(llvm::toString(std::move(e)));
  }
  if (llvm::Error e = pending.commitAll())
    return fail(llvm::toString(std::move(e)));
  return 0;
}
