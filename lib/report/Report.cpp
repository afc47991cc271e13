// The reports' entries and totals, and the text summary of a run.
#include "lib/report/Report.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Format.h"

using namespace compress;
using llvm::json::Object;

std::vector<ReportEntry> compress::reportEntries(const Object &report) {
  std::vector<ReportEntry> entries;
  if (const llvm::json::Array *layers = report.getArray("layers")) {
    for (const llvm::json::Value &v : *layers)
      if (const Object *o = v.getAsObject())
        entries.push_back({o->getString("name").value_or("?").str(), o});
  } else if (const llvm::json::Array *blocks = report.getArray("blocks")) {
    for (const llvm::json::Value &v : *blocks)
      if (const Object *o = v.getAsObject()) {
        std::optional<int64_t> index = o->getInteger("index");
        if (!index)
          index = o->getInteger("block");
        entries.push_back({"block " + (index ? std::to_string(*index) : "?"), o});
      }
  } else if (const llvm::json::Array *groups = report.getArray("groups")) {
    // compress-share-blocks: groups of layer positions of layers.
    for (const llvm::json::Value &group : *groups)
      if (const Object *g = group.getAsObject())
        if (const llvm::json::Array *positions = g->getArray("layers"))
          for (const llvm::json::Value &position : *positions)
            if (const llvm::json::Array *members = position.getAsArray())
              for (const llvm::json::Value &v : *members)
                if (const Object *o = v.getAsObject())
                  entries.push_back({o->getString("name").value_or("?").str(), o});
  }
  return entries;
}

/// A layer's error: on the outputs when measured (after sharing's scales,
/// or compensation), else on the weights.
static std::optional<std::pair<double, bool>> entryError(const Object &entry) {
  for (llvm::StringRef key :
       {"output_relative_error", "scaled_output_error", "shared_output_error"})
    if (std::optional<double> e = entry.getNumber(key))
      return std::make_pair(*e, true);
  if (std::optional<double> e = entry.getNumber("weight_relative_error"))
    return std::make_pair(*e, false);
  return std::nullopt;
}

static void noteError(ReportTotals &totals, const Object &entry, llvm::StringRef label,
                      llvm::StringRef pass) {
  auto error = entryError(entry);
  if (!error)
    return;
  // An output error outranks any weight error: they are different figures.
  if (totals.worstError && (totals.outputError > error->second ||
                            (totals.outputError == error->second && *totals.worstError >= error->first)))
    return;
  totals.worstError = error->first;
  totals.outputError = error->second;
  totals.worstLayer = label.str();
  totals.worstPass = pass.str();
}

ReportTotals compress::passTotals(const Object &report) {
  ReportTotals totals;
  totals.passes = 1;
  llvm::StringRef pass = report.getString("pass").value_or("?");
  for (const ReportEntry &entry : reportEntries(report)) {
    if (entry.fields->get("skipped"))
      ++totals.skipped;
    else if (const llvm::json::Array *perLayer = entry.fields->getArray("layer_bytes"))
      totals.changed += int64_t(perLayer->size()); // a structure of several layers
    else if (!report.getArray("blocks") || entry.fields->getBoolean("dropped").value_or(false))
      ++totals.changed;
    noteError(totals, *entry.fields, entry.label, pass);
  }
  if (const Object *t = report.getObject("totals")) {
    totals.bytesBefore = t->getInteger("bytes_before");
    totals.bytesAfter = t->getInteger("bytes_after");
  }
  return totals;
}

ReportTotals compress::runTotals(llvm::ArrayRef<llvm::json::Value> reports) {
  ReportTotals run;
  // Per layer: bytes before the first pass that changed it, after the last.
  llvm::StringMap<std::pair<int64_t, int64_t>> layerBytes;
  llvm::StringMap<bool> changed; // per layer name: whether a pass changed it
  for (const llvm::json::Value &value : reports) {
    const Object &report = *value.getAsObject();
    ReportTotals pass = passTotals(report);
    ++run.passes;
    bool bytesPerEntry = false;
    // Blocks are not layers: dropping them shows in the passes' lines.
    bool layers = !report.getArray("blocks");
    for (const ReportEntry &entry : reportEntries(report)) {
      if (layers)
        changed[entry.label] |= !entry.fields->get("skipped");
      // Bytes per layer: the entry's, or, for an entry standing for several
      // layers (a structure structured pruning shrank), its "layer_bytes".
      std::vector<std::pair<std::string, const Object *>> sized{{entry.label, entry.fields}};
      if (const llvm::json::Array *perLayer = entry.fields->getArray("layer_bytes")) {
        sized.clear();
        for (const llvm::json::Value &v : *perLayer)
          if (const Object *o = v.getAsObject())
            sized.emplace_back(o->getString("name").value_or("?").str(), o);
      }
      for (const auto &[label, fields] : sized) {
        std::optional<int64_t> before = fields->getInteger("bytes_before");
        std::optional<int64_t> after = fields->getInteger("bytes_after");
        if (!before || !after)
          continue;
        bytesPerEntry = true;
        auto [it, inserted] = layerBytes.try_emplace(label, *before, *after);
        if (!inserted)
          it->second.second = *after;
      }
    }
    // A pass that counts bytes only in its totals (shared blocks).
    if (!bytesPerEntry && pass.bytesBefore && pass.bytesAfter)
      layerBytes.try_emplace(report.getString("pass").value_or("?"), *pass.bytesBefore,
                             *pass.bytesAfter);
    if (pass.worstError) {
      Object worst{{pass.outputError ? "output_relative_error" : "weight_relative_error",
                    *pass.worstError}};
      noteError(run, worst, pass.worstLayer, pass.worstPass);
    }
  }
  for (const auto &layer : changed)
    ++(layer.second ? run.changed : run.skipped);
  if (!layerBytes.empty()) {
    run.bytesBefore = run.bytesAfter = 0;
    for (const auto &entry : layerBytes) {
      *run.bytesBefore += entry.second.first;
      *run.bytesAfter += entry.second.second;
    }
  }
  return run;
}

llvm::Error compress::checkReport(const llvm::json::Value &document, llvm::StringRef origin) {
  const Object *report = document.getAsObject();
  if (!report || !report->getString("pass"))
    return llvm::createStringError("'" + origin +
                                   "' is not a compression pass's report: expected a JSON "
                                   "object with a \"pass\" name");
  return llvm::Error::success();
}

std::string compress::formatBytes(int64_t bytes) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = double(bytes);
  int unit = 0;
  while (std::abs(value) >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0)
    return std::to_string(bytes) + " B";
  return llvm::formatv("{0:f2} {1}", value, units[unit]).str();
}

/// " 1.50 MiB -> 412.00 KiB (3.73x smaller), 14 layers changed, ..."
static void printTotals(const ReportTotals &t, bool blocks, llvm::raw_ostream &os) {
  os << t.changed << (blocks ? " blocks dropped" : " layers changed");
  if (t.skipped)
    os << ", " << t.skipped << " left as they were";
  if (t.bytesBefore && t.bytesAfter) {
    os << ", " << formatBytes(*t.bytesBefore) << " -> " << formatBytes(*t.bytesAfter);
    if (*t.bytesAfter > 0)
      os << llvm::format(" (%.2fx smaller)", double(*t.bytesBefore) / double(*t.bytesAfter));
  }
  if (t.worstError)
    os << ", worst " << (t.outputError ? "output" : "weight") << " error "
       << llvm::format("%.4f", *t.worstError) << " (" << t.worstLayer << ")";
  os << "\n";
}

void compress::printSummary(llvm::ArrayRef<llvm::json::Value> reports, double seconds,
                            llvm::raw_ostream &os) {
  os << "compression summary: " << reports.size() << (reports.size() == 1 ? " pass" : " passes");
  if (seconds >= 0)
    os << llvm::format(", %.1f s", seconds);
  os << "\n";
  for (const llvm::json::Value &value : reports) {
    const Object &report = *value.getAsObject();
    llvm::StringRef pass = report.getString("pass").value_or("?");
    os << llvm::format("  %-22s ", pass.str().c_str());
    if (pass == "compress-find-blocks" || pass == "compress-token-skip") {
      // Nothing removed: how many blocks were found or routed.
      os << reportEntries(report).size()
         << (pass == "compress-find-blocks" ? " blocks found\n" : " blocks routed\n");
      continue;
    }
    printTotals(passTotals(report), report.getArray("blocks") != nullptr, os);
  }
  os << llvm::format("  %-22s ", "model");
  printTotals(runTotals(reports), false, os);
}
