// compress-report: renders the JSON reports of compression passes
// (report=FILE.json) as one self-contained HTML page, or prints their text
// summary.
#include "lib/report/Report.h"
#include "lib/support/AtomicOutput.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"

namespace cl = llvm::cl;

static cl::OptionCategory category("compress-report options");
static cl::list<std::string> inputs(cl::Positional, cl::OneOrMore,
                                    cl::desc("<report.json>... (in the order the passes ran)"),
                                    cl::cat(category));
static cl::opt<std::string> output("o", cl::desc("Write the HTML page here (default: print the "
                                                 "text summary on stdout)"),
                                   cl::value_desc("page.html"), cl::cat(category));
static cl::opt<std::string> title("title", cl::desc("The page's title (default: the reports' "
                                                    "file names)"),
                                  cl::cat(category));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "compress-report: error: " << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "CompressIR report renderer: one HTML page (-o) or a text "
                              "summary of compression passes' JSON reports\n");
  std::vector<llvm::json::Value> reports;
  std::string names;
  for (const std::string &path : inputs) {
    auto buffer = llvm::MemoryBuffer::getFile(path);
    if (!buffer)
      return fail("cannot read '" + path + "': " + buffer.getError().message());
    auto document = llvm::json::parse((*buffer)->getBuffer());
    if (!document)
      return fail("'" + path + "' is not valid JSON: " + llvm::toString(document.takeError()));
    if (llvm::Error e = compress::checkReport(*document, path))
      return fail(llvm::toString(std::move(e)));
    reports.push_back(std::move(*document));
    names += (names.empty() ? "" : ", ") + path;
  }
  if (output.empty()) {
    compress::printSummary(reports, /*seconds=*/-1, llvm::outs());
    return 0;
  }
  auto file = compress::AtomicFile::create(output);
  if (!file)
    return fail(llvm::toString(file.takeError()));
  compress::renderHtml(reports, title.empty() ? "Compression report: " + names : title,
                       file->os());
  if (llvm::Error e = file->commit())
    return fail(llvm::toString(std::move(e)));
  return 0;
}
