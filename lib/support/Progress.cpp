// Progress bars on a terminal, occasional plain lines elsewhere.
#include "lib/support/Progress.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

using namespace compress;

// Process-wide like the stderr it draws on; set once by the tool.
static ProgressStyle processStyle = ProgressStyle::None;

void compress::setProgressStyle(ProgressStyle style) { processStyle = style; }

std::optional<ProgressStyle> compress::parseProgressStyle(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<ProgressStyle>>(name)
      .Case("none", ProgressStyle::None)
      .Case("auto", ProgressStyle::Auto)
      .Case("bar", ProgressStyle::Bar)
      .Case("plain", ProgressStyle::Plain)
      .Default(std::nullopt);
}

// Auto on a non-terminal: short work (a test, a small model) prints nothing.
static constexpr double kAutoPlainAfterSeconds = 5;

Progress::Progress(llvm::StringRef task, llvm::StringRef unit, int64_t total, bool quiet)
    : task(task), unit(unit), total(total), style(quiet ? ProgressStyle::None : processStyle),
      start(std::chrono::steady_clock::now()) {
  if (style == ProgressStyle::Auto)
    style = llvm::sys::Process::StandardErrIsDisplayed() ? ProgressStyle::Bar
                                                         : ProgressStyle::Auto;
}

Progress::~Progress() {
  if (barShown)
    llvm::errs() << "\r\x1b[K";
}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void Progress::next(llvm::StringRef item) {
  int64_t done = started++;
  if (style == ProgressStyle::Bar)
    return draw(done, item);
  if (style == ProgressStyle::None || total <= 0)
    return;
  if (style == ProgressStyle::Auto && seconds() < kAutoPlainAfterSeconds)
    return;
  int tenth = int(10 * done / total);
  if (tenth > lastTenth) {
    lastTenth = tenth;
    printLine(done, item);
  }
}

void Progress::finish() {
  if (style == ProgressStyle::Bar) {
    draw(total, "");
    llvm::errs() << "\n";
    barShown = false;
  } else if (style == ProgressStyle::Plain || (style == ProgressStyle::Auto && lastTenth >= 0)) {
    printLine(total, "");
  }
}

void Progress::printLine(int64_t done, llvm::StringRef item) {
  llvm::errs() << task << ": " << done << "/" << total << " " << unit << " done, "
               << llvm::format("%.1f s", seconds());
  if (!item.empty())
    llvm::errs() << "; now " << item;
  llvm::errs() << "\n";
}

void Progress::draw(int64_t done, llvm::StringRef item) {
  constexpr int64_t width = 24;
  int64_t filled = total > 0 ? width * done / total : width;
  double s = seconds();
  llvm::errs() << "\r" << task << " [" << std::string(filled, '#')
               << std::string(width - filled, '.') << "] " << done << "/" << total << " "
               << unit << llvm::format(" %d:%02d ", int(s) / 60, int(s) % 60)
               << (item.size() > 32 ? item.take_back(32) : item) << "\x1b[K";
  llvm::errs().flush();
  barShown = true;
}
