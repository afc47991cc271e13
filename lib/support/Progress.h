// Progress of long work (a pass over many layers, calibration): a bar
// redrawn in place on a terminal, occasional plain lines elsewhere (CI
// logs), as the tools' --progress says.
#ifndef COMPRESS_LIB_SUPPORT_PROGRESS_H
#define COMPRESS_LIB_SUPPORT_PROGRESS_H

#include "llvm/ADT/StringRef.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace compress {

/// How progress is shown on stderr.
enum class ProgressStyle {
  None,  // nothing
  Auto,  // Bar when stderr is a terminal, else Plain once work lasts 5 s
  Bar,   // one line redrawn in place
  Plain, // a line at the start, at every tenth of the work and at the end
};

/// Sets the style of every Progress from now on in this process (stderr is
/// the process's): a tool's --progress. Library users that set none see
/// nothing.
void setProgressStyle(ProgressStyle style);

/// The style `--progress=` names (none, auto, bar, plain), or nullopt.
std::optional<ProgressStyle> parseProgressStyle(llvm::StringRef name);

/// The progress of `total` items of one task, e.g. "compress-quantize" over
/// "layers". Shows nothing when `quiet` (a pass that prints its own line per
/// layer, progress=true).
class Progress {
public:
  Progress(llvm::StringRef task, llvm::StringRef unit, int64_t total, bool quiet = false);
  Progress(const Progress &) = delete;
  Progress &operator=(const Progress &) = delete;
  /// Clears a bar left on the terminal (a failed run's error follows).
  ~Progress();

  /// Starts the next item, named `item`; the ones before it are done.
  void next(llvm::StringRef item);
  /// Every item is done: a bar shows its full line, plain output a last one.
  void finish();

private:
  void draw(int64_t done, llvm::StringRef item);
  void printLine(int64_t done, llvm::StringRef item);
  double seconds() const;

  std::string task, unit;
  int64_t total, started = 0;
  ProgressStyle style;
  int lastTenth = -1;     // Plain: the tenth of the work last printed
  bool barShown = false;  // Bar: a line waits to be cleared or ended
  std::chrono::steady_clock::time_point start;
};

} // namespace compress

#endif
