// The command-line options CompressIR's tools share, declared once: one
// spelling, one description, one parser for each, in one category so that
// --help shows them (and the compression passes with their options) while
// LLVM's own options wait under --help-hidden.
#ifndef COMPRESS_LIB_DRIVER_TOOLOPTIONS_H
#define COMPRESS_LIB_DRIVER_TOOLOPTIONS_H

#include "lib/importer/onnx/Importer.h"

#include "mlir/Tools/Plugins/DialectPlugin.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Error.h"

#include <vector>

namespace mlir {
class MLIRContext;
} // namespace mlir

namespace compress {

class PendingOutputs;

/// The category of every CompressIR option.
llvm::cl::OptionCategory &toolOptionCategory();

/// --input-shape NAME=D0xD1x... (repeatable).
struct InputShapeOption {
  llvm::cl::list<std::string> specs{
      "input-shape", llvm::cl::cat(toolOptionCategory()),
      llvm::cl::desc("Fix a graph input's shape when importing ONNX: NAME=D0xD1x... ('?' keeps "
                     "a dimension dynamic); repeat for each input")};
  /// Adds the shapes to `options`; fails naming the bad spec.
  llvm::Error apply(OnnxImportOptions &options) const;
};

/// --passes PIPELINE and --calibration DIR: compression between import and
/// compilation.
struct CompressionOptions {
  llvm::cl::opt<std::string> passes{
      "passes", llvm::cl::cat(toolOptionCategory()),
      llvm::cl::desc("Passes to run on the imported model, in MLIR's textual pass-pipeline "
                     "syntax without the builtin.module() wrapper, e.g. "
                     "\"compress-quantize{bits=4 group-size=128}\" (in compress-opt, before "
                     "the other pass flags)")};
  llvm::cl::opt<std::string> calibration{
      "calibration", llvm::cl::cat(toolOptionCategory()),
      llvm::cl::desc("Folder of calibration input sets for passes that need statistics "
                     "(compress-quantize{method=gptq}): subfolders of NAME.npy files, one per "
                     "model input NAME; .npz files; or ONNX test_data_set_N subfolders of "
                     "input_K.pb TensorProtos; one set each"),
      llvm::cl::value_desc("dir")};
};

/// --progress and --report-html: how a compression run shows its work.
/// Every run whose passes made reports ends with their summary on stderr.
struct ReportOptions {
  llvm::cl::opt<std::string> progress{
      "progress", llvm::cl::cat(toolOptionCategory()), llvm::cl::init("auto"),
      llvm::cl::desc("Progress of long work (passes over many layers, calibration) on stderr: "
                     "auto (a bar on a terminal; elsewhere plain, once work lasts 5 s), bar, "
                     "plain (a line at each tenth of the work) or none. A pass's progress=true "
                     "prints its own line per layer instead")};
  llvm::cl::opt<std::string> reportHtml{
      "report-html", llvm::cl::cat(toolOptionCategory()),
      llvm::cl::desc("Write the compression passes' reports as one self-contained HTML page "
                     "(plots per layer, the model's totals; docs/reports.md)"),
      llvm::cl::value_desc("file.html")};
  /// Sets the progress style (lib/support/Progress.h); fails naming the
  /// flag when it is unknown.
  llvm::Error apply() const;
  /// At the end of a run, before its outputs go into place: when passes
  /// made reports, prints their summary on stderr (`seconds`: what the
  /// passes took) and with --report-html adds the page, titled `title`, to
  /// `pending`. Fails when --report-html is given and no pass made a report.
  llvm::Error finish(PendingOutputs &pending, double seconds, llvm::StringRef title) const;
};

/// --num-threads: how many threads compiled code and calibration use.
struct ThreadsOption {
  llvm::cl::opt<int> numThreads{
      "num-threads", llvm::cl::cat(toolOptionCategory()), llvm::cl::init(0),
      llvm::cl::desc("Threads compiled code, kernels and calibration may use (0: all cores)")};
  /// Fails naming the flag when the count is negative.
  llvm::Error check() const;
};

/// --target and --gpu-precision: where compiled code runs.
struct TargetOptions {
  llvm::cl::opt<std::string> target{
      "target", llvm::cl::cat(toolOptionCategory()), llvm::cl::init("cpu"),
      llvm::cl::desc("Target to compile for, one registered in lib/target (cpu)")};
  llvm::cl::opt<std::string> gpuPrecision{
      "gpu-precision", llvm::cl::cat(toolOptionCategory()), llvm::cl::init("f32"),
      llvm::cl::desc("Precision of matrix products on --target=cuda: f32, or f16 (int4 layers "
                     "in groups of 128 on fp16 tensor cores, fp32 sums)")};
  /// Fails naming the flag when the target is unknown or the precision
  /// unknown or not the target's.
  llvm::Error check() const;
};

/// --weight-memory-limit MiB: how much of the weights a tool makes (a
/// transposed weight at import, a pass's compressed weight) stays in memory.
struct WeightMemoryOption {
  llvm::cl::opt<int64_t> limitMiB{
      "weight-memory-limit", llvm::cl::cat(toolOptionCategory()), llvm::cl::init(-1),
      llvm::cl::desc("MiB of new weights (transposed at import, compressed by a pass) kept in "
                     "memory; further weights of 1 MiB or more go to a temporary file in "
                     "$TMPDIR, mapped back, so that models larger than memory compress layer by "
                     "layer (default: a quarter of physical memory; 0: spill every large weight)"),
      llvm::cl::value_desc("MiB")};
  /// Attaches a weight store (dialects/compress/IR/WeightStore.h) to
  /// `context`: external data mapped rather than copied, new weights
  /// spilled past the limit. Fails naming the flag when it is bad.
  llvm::Error attach(mlir::MLIRContext &context) const;
};

/// --load-pass-plugin LIB.so and --load-dialect-plugin LIB.so (repeatable):
/// passes and dialects from shared libraries built against the installed
/// SDK with MLIR's plugin API (mlirGetPassPluginInfo,
/// mlirGetDialectPluginInfo; examples/outlier-quantize). A plugin resolves
/// CompressIR's and MLIR's symbols against the tool that loads it, so its
/// passes see the same dialect, layers and calibration service as ours.
/// Listed by --help-hidden: --help stays within two screens.
struct PluginOptions {
  llvm::cl::list<std::string> passPlugins{
      "load-pass-plugin", llvm::cl::cat(toolOptionCategory()), llvm::cl::Hidden,
      llvm::cl::desc("Load passes from a plugin library (MLIR's pass plugin API); --passes "
                     "can then name them; repeat for each library"),
      llvm::cl::value_desc("lib.so")};
  llvm::cl::list<std::string> dialectPlugins{
      "load-dialect-plugin", llvm::cl::cat(toolOptionCategory()), llvm::cl::Hidden,
      llvm::cl::desc("Load dialects from a plugin library (MLIR's dialect plugin API); "
                     "repeat for each library"),
      llvm::cl::value_desc("lib.so")};

  /// Loads every library named: pass plugins register their passes, dialect
  /// plugins are kept for registerDialects. Fails naming the flag and the
  /// file when one is missing, cannot be loaded (unresolved symbols
  /// included) or has no entry point of its kind.
  llvm::Error load();
  /// Adds the loaded dialect plugins' dialects to `registry`.
  void registerDialects(mlir::DialectRegistry &registry) const;

private:
  std::vector<mlir::DialectPlugin> dialects;
};

/// Parses the command line of a tool (after registering the built-in
/// targets): --version prints the project's
/// version and git hash; --help lists the options of toolOptionCategory()
/// and every compression pass with its options; all other options (LLVM's
/// back end, MLIR's debugging flags, upstream passes) are listed by
/// --help-hidden only.
void parseToolCommandLine(int argc, char **argv, llvm::StringRef overview);

/// Hides every option outside toolOptionCategory() from --help (they stay
/// usable and listed by --help-hidden) and installs the --version printer
/// and the compression passes' help: what parseToolCommandLine does before
/// parsing, for tools (compress-opt) that parse through another driver.
void prepareToolHelp();

} // namespace compress

#endif
