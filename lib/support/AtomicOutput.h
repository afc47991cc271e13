// Outputs that appear whole or not at all. A file is written beside its
// destination and renamed onto it once complete; a folder's files are made
// in a staging folder beside it and moved in once every step succeeded. A
// failed or interrupted run leaves no half-written output and leaves
// existing outputs as they were. Temporaries are named `<destination>.tmp-XXXXXX`.
#ifndef COMPRESS_LIB_SUPPORT_ATOMICOUTPUT_H
#define COMPRESS_LIB_SUPPORT_ATOMICOUTPUT_H

#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace compress {

/// A file being written: to a temporary file beside `path()` (so the rename
/// stays on one filesystem), renamed onto it by commit(). Removed when
/// dropped uncommitted, and by a signal that ends the run.
class AtomicFile {
public:
  /// Errors say "cannot write '<path>': <why>".
  static llvm::Expected<AtomicFile> create(const llvm::Twine &path);
  AtomicFile(AtomicFile &&other);
  AtomicFile &operator=(AtomicFile &&) = delete;
  ~AtomicFile();

  llvm::StringRef path() const { return target; }
  /// Where the contents go until close(). Seekable: LLVM's object emitter
  /// patches what it wrote.
  llvm::raw_fd_ostream &os() { return *stream; }
  /// Flushes and closes the temporary file. A write error (a full disk)
  /// removes it and is returned.
  llvm::Error close();
  /// close(), then the rename onto path().
  llvm::Error commit();

private:
  AtomicFile(std::string target, std::string temporary, int fd);
  void discard();

  std::string target;
  std::string temporary; // empty once renamed or removed
  std::unique_ptr<llvm::raw_fd_ostream> stream; // null once closed
};

/// Writes `contents` to `path` through an AtomicFile.
llvm::Error writeFileAtomically(const llvm::Twine &path, llvm::StringRef contents);

/// Finished files that go into place together once the whole run that made
/// them succeeded (a tool's outputs and its passes' reports): a run that
/// fails after a pass wrote its report leaves the old report. Dropped
/// uncommitted, they are removed. It also keeps every report the passes
/// made, written to a file or not, for the tool's summary and HTML page.
class PendingOutputs {
public:
  /// Closes `file` (returning a write error) and holds it.
  llvm::Error add(AtomicFile file);
  /// Renames every file into place, in the order added.
  llvm::Error commitAll();
  /// Keeps a pass's report document.
  void addReport(llvm::json::Value report);
  /// The reports kept, in the order the passes made them.
  std::vector<llvm::json::Value> reports();

private:
  std::mutex mutex;
  std::vector<AtomicFile> files;
  std::vector<llvm::json::Value> passReports;
};

/// The files of a folder, made in a staging folder beside it (one
/// filesystem) and moved in by commit(). Dropped uncommitted, the staging
/// folder is removed with what it holds; a signal that ends the run removes
/// its files (LLVM's handlers remove files only: the empty folder stays).
class StagingFolder {
public:
  /// Creates the staging folder, and `folder`'s parents. Fails when `folder`
  /// exists and is not a folder.
  static llvm::Expected<StagingFolder> create(const llvm::Twine &folder);
  StagingFolder(StagingFolder &&other);
  StagingFolder &operator=(StagingFolder &&) = delete;
  ~StagingFolder();

  llvm::StringRef path() const { return staging; }
  /// The path of `name` in the staging folder (removed by a signal until
  /// commit()).
  std::string file(const llvm::Twine &name);
  /// Removes a file of the staging folder that the destination does not get
  /// (an intermediate object file).
  void remove(const llvm::Twine &name);
  /// Moves the files in, once every file() not remove()d is there. A folder
  /// that did not exist appears in one rename, whole. In an existing folder
  /// each file replaces its namesake in one rename (all checked first, so
  /// none fails half-way for a reason that can be seen) and files the
  /// staging folder lacks stay.
  llvm::Error commit();

private:
  StagingFolder(std::string target, std::string staging);
  void forgetOnSignal();

  std::string target;
  std::string staging; // empty once moved in or removed
  std::vector<std::string> files;
};

} // namespace compress

#endif
