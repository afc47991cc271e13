// Reading the JSON reports compression passes write (per pass: {"pass",
// "layers" | "blocks" | "groups", "totals"}), and rendering them: a text
// summary of a run and a self-contained HTML page.
#ifndef COMPRESS_LIB_REPORT_REPORT_H
#define COMPRESS_LIB_REPORT_REPORT_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>
#include <string>
#include <vector>

namespace compress {

/// One layer or block of a pass's report, with its label in plots.
struct ReportEntry {
  std::string label;
  const llvm::json::Object *fields;
};

/// The layers of a report ("layers"), its blocks ("blocks", labelled
/// "block N") or the layers of its groups (compress-share-blocks).
std::vector<ReportEntry> reportEntries(const llvm::json::Object &report);

/// What a pass, or a run of passes, did to the model.
struct ReportTotals {
  int64_t passes = 0;
  int64_t changed = 0, skipped = 0; // layers (block passes: blocks dropped)
  std::optional<int64_t> bytesBefore, bytesAfter;
  std::optional<double> worstError; // a layer's relative error, largest
  bool outputError = false;         // measured on the outputs (else the weights)
  std::string worstLayer, worstPass;
};

/// The totals of one report.
ReportTotals passTotals(const llvm::json::Object &report);
/// The totals of a run: layers counted once, each layer's bytes before the
/// first pass that changed it and after the last.
ReportTotals runTotals(llvm::ArrayRef<llvm::json::Value> reports);

/// Fails unless `document` is a pass's report (an object with a string
/// "pass"), naming `origin` (the file it came from).
llvm::Error checkReport(const llvm::json::Value &document, llvm::StringRef origin);

/// "1.50 MiB": bytes for people.
std::string formatBytes(int64_t bytes);

/// The summary a tool prints at the end of a compression run: a line per
/// pass and one for the whole run, `seconds` the passes took (negative:
/// not known, not printed).
void printSummary(llvm::ArrayRef<llvm::json::Value> reports, double seconds,
                  llvm::raw_ostream &os);

/// One HTML page holding every report: the run's totals, then per pass its
/// totals, a plot of each per-layer figure (inline SVG) and a table of its
/// entries. Needs nothing at view time: no scripts, styles or fonts from
/// elsewhere.
void renderHtml(llvm::ArrayRef<llvm::json::Value> reports, llvm::StringRef title,
                llvm::raw_ostream &os);

} // namespace compress

#endif
