// The reports as one self-contained HTML page: inline CSS and SVG, no
// scripts, nothing fetched at view time.
#include "lib/report/Report.h"

#include "llvm/ADT/SetVector.h"
#include "llvm/Support/Format.h"

#include <algorithm>
#include <cmath>

using namespace compress;
using llvm::json::Object;

static std::string escape(llvm::StringRef text) {
  std::string out;
  for (char c : text)
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    default: out += c;
    }
  return out;
}

/// A number as the tables show it: integers exactly, others to 4 significant digits.
static std::string formatNumber(double v) {
  if (v == std::floor(v) && std::abs(v) < 1e15)
    return std::to_string(int64_t(v));
  return llvm::formatv("{0}", llvm::format("%.4g", v)).str();
}

static std::string formatValue(const llvm::json::Value &v) {
  if (std::optional<int64_t> i = v.getAsInteger())
    return std::to_string(*i);
  if (std::optional<double> d = v.getAsNumber())
    return formatNumber(*d);
  if (std::optional<llvm::StringRef> s = v.getAsString())
    return escape(*s);
  if (std::optional<bool> b = v.getAsBoolean())
    return *b ? "yes" : "no";
  if (const llvm::json::Array *a = v.getAsArray()) {
    std::string out;
    for (const llvm::json::Value &e : *a)
      out += (out.empty() ? "" : ", ") + formatValue(e);
    return out;
  }
  return v.getAsNull() ? "" : "&hellip;";
}

namespace {
struct Series {
  const char *key, *label, *color;
};
struct PlotSpec {
  const char *title;
  std::vector<Series> series;
  bool bytes = false;
};
} // namespace

// Each per-entry figure a pass may report, drawn when any entry has it.
static const std::vector<PlotSpec> &plotSpecs() {
  static const std::vector<PlotSpec> specs = {
      {"Bytes before and after", {{"bytes_before", "before", "#a9b8cc"}, {"bytes_after", "after", "#2b6cb0"}}, true},
      {"Parameters before and after", {{"parameters_before", "before", "#a9b8cc"}, {"parameters_after", "after", "#2b6cb0"}}},
      {"Output error on the calibration data (relative)",
       {{"output_relative_error_before", "before compensation", "#a9b8cc"}, {"output_relative_error", "error", "#c05621"}}},
      {"Output error of the shared weight (relative)",
       {{"shared_output_error", "shared", "#a9b8cc"}, {"scaled_output_error", "with scales", "#c05621"}}},
      {"Weight error (relative)", {{"weight_relative_error", "error", "#975a16"}}},
      {"Sparsity", {{"target_sparsity", "target", "#a9b8cc"}, {"sparsity", "achieved", "#2f855a"}}},
      {"Channels before and after", {{"channels_before", "before", "#a9b8cc"}, {"channels_after", "after", "#2f855a"}}},
      {"Rank", {{"rank", "rank", "#6b46c1"}}},
      {"Retained energy", {{"energy", "energy", "#805ad5"}}},
      {"Bits", {{"bits", "bits", "#a9b8cc"}, {"bits_per_weight", "stored bits per weight", "#2c7a7b"}}},
      {"Block Influence", {{"influence", "influence", "#2b6cb0"}}},
      {"Change when removed alone", {{"removal", "removal", "#c05621"}}},
      {"Skip rate on the calibration data", {{"skip_rate", "skip rate", "#2f855a"}}},
      {"Mean relative update", {{"mean_update", "update", "#975a16"}}},
  };
  return specs;
}

/// A bar chart of `spec`'s figures per entry: one group of bars per entry,
/// each bar's value and entry in its tooltip.
static void renderPlot(const PlotSpec &spec, const std::vector<ReportEntry> &entries,
                       llvm::raw_ostream &os) {
  double top = 0;
  for (const ReportEntry &e : entries)
    for (const Series &s : spec.series)
      top = std::max(top, e.fields->getNumber(s.key).value_or(0));
  if (top <= 0)
    top = 1;
  double scale = spec.bytes && top >= 1024 * 1024 ? 1024 * 1024 : spec.bytes ? 1024 : 1;
  const char *unit = scale == 1 ? "" : scale == 1024 ? " KiB" : " MiB";
  const double width = 900, height = 200, left = 64, right = 8, plotTop = 10, bottom = 150;
  double slot = (width - left - right) / double(std::max<size_t>(1, entries.size()));
  double bar = slot * 0.8 / double(spec.series.size());
  os << "<figure><figcaption>" << spec.title;
  if (spec.series.size() > 1)
    for (const Series &s : spec.series)
      os << " <span class=\"key\" style=\"background:" << s.color << "\"></span>" << s.label;
  os << "</figcaption>\n<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " << width << " "
     << height << "\" role=\"img\" aria-label=\"" << spec.title << "\">\n";
  for (int tick = 0; tick <= 4; ++tick) {
    double v = top * tick / 4, y = bottom - (bottom - plotTop) * tick / 4;
    os << llvm::formatv("<line x1=\"{0}\" y1=\"{1:f1}\" x2=\"{2}\" y2=\"{1:f1}\" class=\"grid\"/>"
                        "<text x=\"{3}\" y=\"{4:f1}\" class=\"tick\">{5}</text>\n",
                        left, y, width - right, left - 4, y + 4,
                        formatNumber(std::round(v / scale * 1000) / 1000) + unit);
  }
  // Names under the bars when they fit, else every tenth index.
  bool names = slot >= 14;
  for (auto [i, e] : llvm::enumerate(entries)) {
    double x0 = left + slot * double(i) + slot * 0.1;
    for (auto [j, s] : llvm::enumerate(spec.series)) {
      std::optional<double> v = e.fields->getNumber(s.key);
      if (!v)
        continue;
      double h = (bottom - plotTop) * std::max(0.0, *v) / top;
      os << llvm::formatv("<rect x=\"{0:f2}\" y=\"{1:f2}\" width=\"{2:f2}\" height=\"{3:f2}\" "
                          "fill=\"{4}\"><title>{5}: {6} {7}</title></rect>\n",
                          x0 + bar * double(j), bottom - h, std::max(bar, 0.5), h, s.color,
                          escape(e.label), s.label, formatNumber(*v));
    }
    double cx = left + slot * (double(i) + 0.5);
    if (names)
      os << llvm::formatv("<text x=\"{0:f1}\" y=\"{1}\" class=\"name\" transform=\"rotate(-45 "
                          "{0:f1} {1})\">{2}</text>\n",
                          cx, bottom + 12, escape(llvm::StringRef(e.label).take_back(24)));
    else if (i % std::max<size_t>(1, entries.size() / 10) == 0)
      os << llvm::formatv("<text x=\"{0:f1}\" y=\"{1}\" class=\"tick-x\">{2}</text>\n", cx,
                          bottom + 14, i);
  }
  os << "</svg></figure>\n";
}

/// The keys of `objects` in a stable order (JSON objects have none): names
/// first, then alphabetical.
static std::vector<llvm::StringRef> sortedKeys(llvm::ArrayRef<const Object *> objects) {
  llvm::SetVector<llvm::StringRef> keys;
  for (const Object *object : objects)
    for (const auto &field : *object)
      keys.insert(field.first);
  std::vector<llvm::StringRef> sorted(keys.begin(), keys.end());
  auto rank = [](llvm::StringRef k) {
    return std::make_pair(k != "name" && k != "index" && k != "block", k);
  };
  llvm::sort(sorted, [&](llvm::StringRef a, llvm::StringRef b) { return rank(a) < rank(b); });
  return sorted;
}

/// Every entry with its fields, in a table folded away.
static void renderTable(const std::vector<ReportEntry> &entries, llvm::raw_ostream &os) {
  std::vector<const Object *> objects;
  for (const ReportEntry &e : entries)
    objects.push_back(e.fields);
  std::vector<llvm::StringRef> columns = sortedKeys(objects);
  os << "<details><summary>" << entries.size() << " entries</summary>\n<table><tr>";
  for (llvm::StringRef c : columns)
    os << "<th>" << escape(c) << "</th>";
  os << "</tr>\n";
  for (const ReportEntry &e : entries) {
    os << "<tr>";
    for (llvm::StringRef c : columns) {
      const llvm::json::Value *v = e.fields->get(c);
      os << "<td>" << (v ? formatValue(*v) : "") << "</td>";
    }
    os << "</tr>\n";
  }
  os << "</table></details>\n";
}

/// The totals of a pass or of the run as a definition list; exact bytes,
/// then for people.
static void renderTotals(const ReportTotals &t, llvm::raw_ostream &os) {
  os << "<dl class=\"totals\">";
  auto item = [&](llvm::StringRef term, const llvm::Twine &value) {
    os << "<div><dt>" << term << "</dt><dd>" << value << "</dd></div>";
  };
  if (t.bytesBefore && t.bytesAfter) {
    item("bytes before", llvm::Twine(*t.bytesBefore) + " <small>(" + formatBytes(*t.bytesBefore) +
                             ")</small>");
    item("bytes after", llvm::Twine(*t.bytesAfter) + " <small>(" + formatBytes(*t.bytesAfter) +
                            ")</small>");
    if (*t.bytesAfter > 0)
      item("smaller by", llvm::formatv("{0:f2}x", double(*t.bytesBefore) / double(*t.bytesAfter)));
  }
  item("changed", llvm::Twine(t.changed));
  item("left as they were", llvm::Twine(t.skipped));
  if (t.worstError)
    item(t.outputError ? "worst output error" : "worst weight error",
         formatNumber(*t.worstError) + " <small>(" + escape(t.worstLayer) + ")</small>");
  os << "</dl>\n";
}

static const char *kStyle = R"(<style>
body{font:14px/1.4 sans-serif;margin:24px auto;max-width:960px;color:#1a202c;padding:0 12px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #cbd5e0}
dl.totals{display:flex;flex-wrap:wrap;gap:8px 24px;margin:8px 0}
dl.totals div{background:#edf2f7;padding:6px 10px;border-radius:4px}
dt{font-size:12px;color:#4a5568}dd{margin:0;font-weight:bold}small{font-weight:normal}
figure{margin:16px 0}figcaption{font-weight:bold;margin-bottom:4px}
.key{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
svg{width:100%;height:auto;background:#fff}
.grid{stroke:#e2e8f0}.tick{font-size:11px;text-anchor:end;fill:#4a5568}
.tick-x{font-size:11px;text-anchor:middle;fill:#4a5568}
.name{font-size:10px;text-anchor:end;fill:#4a5568}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #e2e8f0;padding:2px 6px}
th{background:#edf2f7;position:sticky;top:0}p.settings{color:#4a5568}
</style>
)";

void compress::renderHtml(llvm::ArrayRef<llvm::json::Value> reports, llvm::StringRef title,
                          llvm::raw_ostream &os) {
  os << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
     << "<title>" << escape(title) << "</title>\n"
     << kStyle << "</head><body>\n<h1>" << escape(title) << "</h1>\n";
  os << "<section id=\"model\"><h2>Model</h2>\n";
  renderTotals(runTotals(reports), os);
  os << "</section>\n";
  for (auto [index, value] : llvm::enumerate(reports)) {
    const Object &report = *value.getAsObject();
    llvm::StringRef pass = report.getString("pass").value_or("?");
    os << "<section class=\"pass\" id=\"pass-" << index << "\"><h2>" << escape(pass) << "</h2>\n";
    // The pass's own settings (a metric, a skip rate, a merge rule).
    std::string settings;
    for (llvm::StringRef key : sortedKeys({&report})) {
      const llvm::json::Value &field = *report.get(key);
      if (key != "pass" && !field.getAsObject() && !field.getAsArray())
        settings += (settings.empty() ? "" : "; ") + escape(key) + " " + formatValue(field);
    }
    if (!settings.empty())
      os << "<p class=\"settings\">" << settings << "</p>\n";
    renderTotals(passTotals(report), os);
    std::vector<ReportEntry> entries = reportEntries(report);
    // Plots show what the pass changed; the table lists every entry, with
    // why the others were left alone.
    std::vector<ReportEntry> changed;
    llvm::copy_if(entries, std::back_inserter(changed),
                  [](const ReportEntry &e) { return !e.fields->get("skipped"); });
    for (const PlotSpec &spec : plotSpecs())
      if (llvm::any_of(changed, [&](const ReportEntry &e) {
            return llvm::any_of(spec.series, [&](const Series &s) {
              return e.fields->getNumber(s.key).has_value();
            });
          }))
        renderPlot(spec, changed, os);
    if (!entries.empty())
      renderTable(entries, os);
    os << "</section>\n";
  }
  os << "</body></html>\n";
}
