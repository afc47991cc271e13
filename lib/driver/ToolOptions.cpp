// The options the tools share, and what --help and --version print.
#include "lib/driver/ToolOptions.h"

#include "lib/driver/Version.h"
#include "lib/report/Report.h"
#include "lib/support/AtomicOutput.h"
#include "lib/support/Progress.h"
#include "lib/target/Target.h"
#include "lib/target/cpu/CpuTarget.h"
#include "lib/target/cuda/CudaTarget.h"
#include "passes/Registration.h"

#include "dialects/compress/IR/WeightStore.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Tools/Plugins/PassPlugin.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <dlfcn.h>
#include <unistd.h>

using namespace compress;
namespace cl = llvm::cl;

cl::OptionCategory &compress::toolOptionCategory() {
  static cl::OptionCategory category("CompressIR options");
  return category;
}

llvm::Error InputShapeOption::apply(OnnxImportOptions &options) const {
  for (const std::string &spec : specs)
    if (failed(parseInputShape(spec, options)))
      return llvm::createStringError("bad --input-shape '" + spec +
                                     "': expected NAME=D0xD1x... ('?' for a dynamic dimension)");
  return llvm::Error::success();
}

llvm::Error ReportOptions::apply() const {
  std::optional<ProgressStyle> style = parseProgressStyle(progress);
  if (!style)
    return llvm::createStringError("bad --progress '" + progress +
                                   "': expected auto, bar, plain or none");
  setProgressStyle(*style);
  return llvm::Error::success();
}

llvm::Error ReportOptions::finish(PendingOutputs &pending, double seconds,
                                  llvm::StringRef title) const {
  std::vector<llvm::json::Value> reports = pending.reports();
  if (reports.empty()) {
    if (!reportHtml.empty())
      return llvm::createStringError("--report-html '" + reportHtml +
                                     "': no compression pass ran, so there is nothing to report");
    return llvm::Error::success();
  }
  printSummary(reports, seconds, llvm::errs());
  if (reportHtml.empty())
    return llvm::Error::success();
  // As a pass's report=: the page's folder is made if missing.
  llvm::StringRef folder = llvm::sys::path::parent_path(reportHtml.getValue());
  if (!folder.empty())
    if (std::error_code ec = llvm::sys::fs::create_directories(folder))
      return llvm::createStringError("--report-html '" + reportHtml + "': cannot create '" +
                                     folder + "': " + ec.message());
  auto page = AtomicFile::create(reportHtml);
  if (!page)
    return page.takeError();
  renderHtml(reports, title, page->os());
  return pending.add(std::move(*page));
}

llvm::Error ThreadsOption::check() const {
  if (numThreads < 0)
    return llvm::createStringError("bad --num-threads " + llvm::Twine(numThreads.getValue()) +
                                   ": expected 0 (all cores) or more");
  return llvm::Error::success();
}

llvm::Error TargetOptions::check() const {
  if (auto found = lookupTarget(target); !found)
    return found.takeError();
  if (gpuPrecision != "f32" && gpuPrecision != "f16")
    return llvm::createStringError("bad --gpu-precision '" + gpuPrecision +
                                   "': expected f32 or f16");
  if (gpuPrecision != "f32" && target != "cuda")
    return llvm::createStringError("--gpu-precision=" + gpuPrecision +
                                   " needs --target=cuda (the " + target +
                                   " target computes in f32)");
  return llvm::Error::success();
}

llvm::Error WeightMemoryOption::attach(mlir::MLIRContext &context) const {
  if (limitMiB < -1)
    return llvm::createStringError("bad --weight-memory-limit " +
                                   llvm::Twine(limitMiB.getValue()) +
                                   ": expected 0 or more MiB");
  uint64_t budget = limitMiB >= 0 ? uint64_t(limitMiB.getValue()) << 20
                                  : uint64_t(sysconf(_SC_PHYS_PAGES)) *
                                        uint64_t(sysconf(_SC_PAGESIZE)) / 4;
  llvm::SmallString<256> directory;
  llvm::sys::path::system_temp_directory(/*ErasedOnReboot=*/true, directory);
  auto store = std::make_shared<WeightStore>();
  store->enableSpilling(directory, budget, /*minBytes=*/size_t(1) << 20);
  setWeightStore(&context, std::move(store));
  return llvm::Error::success();
}

/// Opens the plugin `path` given to `--flag` with every symbol resolved now
/// (MLIR's loader binds lazily, so a symbol the tool lacks would otherwise
/// end the run when first called) and checks that it defines `entry`.
/// Returns the absolute path, which the loader then opens again.
static llvm::Expected<std::string> openPlugin(llvm::StringRef flag, llvm::StringRef path,
                                              llvm::StringRef entry, llvm::StringRef kind) {
  auto bad = [&](const llvm::Twine &why) {
    return llvm::createStringError("--" + flag + " '" + path + "': " + why);
  };
  llvm::SmallString<256> absolute(path);
  if (!llvm::sys::fs::exists(absolute))
    return bad("no such file");
  if (llvm::sys::fs::is_directory(absolute))
    return bad("a folder, not a library");
  // dlopen searches the library path for a name without a slash.
  if (std::error_code ec = llvm::sys::fs::make_absolute(absolute))
    return bad(ec.message());
  void *handle = dlopen(absolute.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    return bad("cannot load it: " + llvm::Twine(dlerror()));
  if (!dlsym(handle, entry.str().c_str()))
    return bad("not an MLIR " + kind + " plugin: it defines no " + entry + "()");
  // The handle stays open (MLIR's loader makes it global): a plugin's code
  // lives as long as the process.
  return absolute.str().str();
}

llvm::Error PluginOptions::load() {
  for (const std::string &path : passPlugins) {
    auto absolute = openPlugin("load-pass-plugin", path, "mlirGetPassPluginInfo", "pass");
    if (!absolute)
      return absolute.takeError();
    auto plugin = mlir::PassPlugin::load(*absolute);
    if (!plugin)
      return llvm::createStringError("--load-pass-plugin '" + path +
                                     "': " + llvm::toString(plugin.takeError()));
    plugin->registerPassRegistryCallbacks();
  }
  for (const std::string &path : dialectPlugins) {
    auto absolute =
        openPlugin("load-dialect-plugin", path, "mlirGetDialectPluginInfo", "dialect");
    if (!absolute)
      return absolute.takeError();
    auto plugin = mlir::DialectPlugin::load(*absolute);
    if (!plugin)
      return llvm::createStringError("--load-dialect-plugin '" + path +
                                     "': " + llvm::toString(plugin.takeError()));
    dialects.push_back(std::move(*plugin));
  }
  return llvm::Error::success();
}

void PluginOptions::registerDialects(mlir::DialectRegistry &registry) const {
  for (const mlir::DialectPlugin &plugin : dialects)
    plugin.registerDialectRegistryCallbacks(registry);
}

namespace {

/// --list-compression-passes: prints the compression passes with their options and
/// exits; --help lists them in its place.
/// Where the descriptions of pass options start when listed at `indent`:
/// past the longest option of any compression pass (LLVM pads each option
/// to the column, so a column inside an option would wrap the padding).
size_t passOptionColumn(size_t indent) {
  registerAllCompressPasses();
  size_t width = 0;
  for (llvm::StringRef name : compressionPassNames())
    if (const mlir::PassInfo *pass = mlir::PassInfo::lookup(name))
      width = std::max(width, pass->getOptionWidth());
  return indent + 6 + width;
}

class ListPassesOption : public cl::Option {
public:
  ListPassesOption() : Option(cl::Optional, cl::NotHidden) {
    setArgStr("list-compression-passes");
    setDescription("Print the compression passes and their options (for --passes), then exit");
    addCategory(toolOptionCategory());
    addArgument();
  }

private:
  static void printPasses(size_t indent, size_t descIndent) {
    registerAllCompressPasses();
    for (llvm::StringRef name : compressionPassNames())
      if (const mlir::PassInfo *pass = mlir::PassInfo::lookup(name))
        pass->printHelpStr(indent, descIndent);
  }
  bool handleOccurrence(unsigned, llvm::StringRef, llvm::StringRef) override {
    printPasses(2, passOptionColumn(2));
    exit(0);
  }
  enum cl::ValueExpected getValueExpectedFlagDefault() const override {
    return cl::ValueDisallowed;
  }
  size_t getOptionWidth() const override { return ArgStr.size() + 6; }
  void printOptionInfo(size_t globalWidth) const override {
    llvm::outs().indent(2) << "--" << ArgStr;
    llvm::outs().indent(globalWidth - 4 - ArgStr.size()) << " - " << HelpStr << ":\n";
    printPasses(6, std::max(globalWidth, passOptionColumn(6)));
  }
  void printOptionValue(size_t, bool) const override {}
  void setDefault() override {}
};

void printVersion(llvm::raw_ostream &os) {
  os << "CompressIR " << kCompressVersion << " (git " << kCompressGitHash << "), on LLVM/MLIR "
     << LLVM_VERSION_STRING << "\n";
}

} // namespace

void compress::prepareToolHelp() {
  registerCpuTarget();
  registerCudaTarget();
  static ListPassesOption listPasses;
  cl::SetVersionPrinter(printVersion);
  // LLVM's and MLIR's own options stay usable, listed by --help-hidden.
  for (auto &entry : cl::getRegisteredOptions()) {
    cl::Option *option = entry.second;
    bool ours = llvm::is_contained(option->Categories, &toolOptionCategory());
    bool generic = option->ArgStr == "help" || option->ArgStr == "help-hidden" ||
                   option->ArgStr == "version";
    if (!ours && !generic && option->getOptionHiddenFlag() == cl::NotHidden)
      option->setHiddenFlag(cl::Hidden);
  }
}

void compress::parseToolCommandLine(int argc, char **argv, llvm::StringRef overview) {
  prepareToolHelp();
  cl::ParseCommandLineOptions(argc, argv, overview);
}
