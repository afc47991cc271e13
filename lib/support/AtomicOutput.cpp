// Outputs that appear whole or not at all: temporary files and staging
// folders beside their destinations, renamed into place.
#include "lib/support/AtomicOutput.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Signals.h"

#include <utility>

using namespace compress;
namespace fs = llvm::sys::fs;

static llvm::Error cannotWrite(llvm::StringRef path, const llvm::Twine &why) {
  return llvm::createStringError("cannot write '" + path + "': " + why);
}

llvm::Expected<AtomicFile> AtomicFile::create(const llvm::Twine &path) {
  std::string target = path.str();
  // Not fs::createUniqueFile: it would take a '%' of the path (a folder
  // called "50%") for a placeholder.
  std::error_code ec;
  for (int attempt = 0; attempt < 128; ++attempt) {
    char suffix[16];
    snprintf(suffix, sizeof suffix, ".tmp-%06x", llvm::sys::Process::GetRandomNumber() & 0xffffff);
    std::string temporary = target + suffix;
    int fd;
    ec = fs::openFileForWrite(temporary, fd, fs::CD_CreateNew, fs::OF_None);
    if (ec == std::errc::file_exists)
      continue;
    if (ec)
      break;
    llvm::sys::RemoveFileOnSignal(temporary);
    return AtomicFile(std::move(target), std::move(temporary), fd);
  }
  return cannotWrite(target, ec.message());
}

AtomicFile::AtomicFile(std::string target, std::string temporary, int fd)
    : target(std::move(target)), temporary(std::move(temporary)),
      stream(std::make_unique<llvm::raw_fd_ostream>(fd, /*shouldClose=*/true)) {}

AtomicFile::AtomicFile(AtomicFile &&other)
    : target(std::move(other.target)), temporary(std::exchange(other.temporary, "")),
      stream(std::move(other.stream)) {}

AtomicFile::~AtomicFile() { discard(); }

/// Closes `stream`, returning its error (a stream destroyed with one aborts
/// the process).
static std::error_code closeStream(std::unique_ptr<llvm::raw_fd_ostream> &stream) {
  stream->close();
  std::error_code ec = stream->error();
  stream->clear_error();
  stream.reset();
  return ec;
}

void AtomicFile::discard() {
  if (stream)
    closeStream(stream);
  if (temporary.empty())
    return;
  fs::remove(temporary);
  llvm::sys::DontRemoveFileOnSignal(temporary);
  temporary.clear();
}

llvm::Error AtomicFile::close() {
  if (!stream)
    return llvm::Error::success();
  if (std::error_code ec = closeStream(stream)) {
    discard();
    return cannotWrite(target, ec.message());
  }
  return llvm::Error::success();
}

llvm::Error AtomicFile::commit() {
  if (temporary.empty())
    return cannotWrite(target, "the file was dropped");
  if (llvm::Error e = close())
    return e;
  if (std::error_code ec = fs::rename(temporary, target)) {
    discard();
    return cannotWrite(target, ec.message());
  }
  llvm::sys::DontRemoveFileOnSignal(temporary);
  temporary.clear();
  return llvm::Error::success();
}

llvm::Error compress::writeFileAtomically(const llvm::Twine &path, llvm::StringRef contents) {
  auto file = AtomicFile::create(path);
  if (!file)
    return file.takeError();
  file->os() << contents;
  return file->commit();
}

llvm::Error PendingOutputs::add(AtomicFile file) {
  if (llvm::Error e = file.close())
    return e;
  std::lock_guard<std::mutex> lock(mutex);
  files.push_back(std::move(file));
  return llvm::Error::success();
}

llvm::Error PendingOutputs::commitAll() {
  std::lock_guard<std::mutex> lock(mutex);
  std::vector<AtomicFile> taken = std::move(files);
  files.clear();
  for (AtomicFile &file : taken)
    if (llvm::Error e = file.commit())
      return e; // the rest are removed with `taken`
  return llvm::Error::success();
}

void PendingOutputs::addReport(llvm::json::Value report) {
  std::lock_guard<std::mutex> lock(mutex);
  passReports.push_back(std::move(report));
}

std::vector<llvm::json::Value> PendingOutputs::reports() {
  std::lock_guard<std::mutex> lock(mutex);
  return passReports;
}

llvm::Expected<StagingFolder> StagingFolder::create(const llvm::Twine &folder) {
  std::string target = folder.str();
  // "out/" would put the staging folder inside "out".
  while (target.size() > 1 && llvm::sys::path::is_separator(target.back()))
    target.pop_back();
  if (fs::exists(target) && !fs::is_directory(target))
    return llvm::createStringError("cannot write '" + target + "': it exists and is not a folder");
  llvm::StringRef parent = llvm::sys::path::parent_path(target);
  if (!parent.empty())
    if (std::error_code ec = fs::create_directories(parent))
      return llvm::createStringError("cannot create '" + parent + "': " + ec.message());
  // Made beside the target, on its filesystem, and not by
  // fs::createUniqueDirectory, which takes a '%' of the path for a
  // placeholder.
  llvm::SmallString<256> absolute(target);
  if (std::error_code ec = fs::make_absolute(absolute))
    return llvm::createStringError("cannot create a staging folder beside '" + target +
                                   "': " + ec.message());
  std::string staging;
  std::error_code ec;
  for (int attempt = 0; attempt < 128; ++attempt) {
    char suffix[16];
    snprintf(suffix, sizeof suffix, ".tmp-%06x", llvm::sys::Process::GetRandomNumber() & 0xffffff);
    staging = (absolute + suffix).str();
    ec = fs::create_directory(staging, /*IgnoreExisting=*/false);
    if (ec != std::errc::file_exists)
      break;
  }
  if (ec)
    return llvm::createStringError("cannot create a staging folder beside '" + target +
                                   "': " + ec.message());
  return StagingFolder(std::move(target), std::move(staging));
}

StagingFolder::StagingFolder(std::string target, std::string staging)
    : target(std::move(target)), staging(std::move(staging)) {}

StagingFolder::StagingFolder(StagingFolder &&other)
    : target(std::move(other.target)), staging(std::exchange(other.staging, "")),
      files(std::move(other.files)) {}

StagingFolder::~StagingFolder() {
  if (staging.empty())
    return;
  forgetOnSignal();
  fs::remove_directories(staging);
}

void StagingFolder::forgetOnSignal() {
  for (const std::string &file : files)
    llvm::sys::DontRemoveFileOnSignal(file);
  files.clear();
}

std::string StagingFolder::file(const llvm::Twine &name) {
  llvm::SmallString<256> path(staging);
  llvm::sys::path::append(path, name);
  std::string file(path);
  if (!llvm::is_contained(files, file)) {
    llvm::sys::RemoveFileOnSignal(file);
    files.push_back(file);
  }
  return file;
}

void StagingFolder::remove(const llvm::Twine &name) {
  std::string path = file(name);
  fs::remove(path);
  llvm::sys::DontRemoveFileOnSignal(path);
  llvm::erase(files, path);
}

llvm::Error StagingFolder::commit() {
  // A signal that was ignored (nohup's SIGHUP) still runs LLVM's handler,
  // which removes the files and lets the run go on: an artifact missing
  // them must not move in.
  for (const std::string &file : files)
    if (!fs::exists(file))
      return llvm::createStringError("'" + file + "' disappeared before it could move into '" +
                                     target + "' (removed on a signal?)");
  forgetOnSignal();
  if (!fs::exists(target) && !fs::rename(staging, target)) {
    staging.clear();
    return llvm::Error::success();
  }
  // The folder exists (or appeared meanwhile): move file by file.
  if (std::error_code ec = fs::create_directories(target))
    return llvm::createStringError("cannot create '" + target + "': " + ec.message());
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(staging, ec), end; it != end && !ec; it.increment(ec))
    names.push_back(llvm::sys::path::filename(it->path()).str());
  if (ec)
    return llvm::createStringError("cannot read '" + staging + "': " + ec.message());
  auto into = [](llvm::StringRef folder, llvm::StringRef name) {
    llvm::SmallString<256> path(folder);
    llvm::sys::path::append(path, name);
    return std::string(path);
  };
  for (const std::string &name : names)
    if (fs::is_directory(into(target, name)))
      return llvm::createStringError("cannot replace '" + into(target, name) +
                                     "': it is a folder");
  for (const std::string &name : names)
    if (std::error_code mv = fs::rename(into(staging, name), into(target, name)))
      return llvm::createStringError("cannot move '" + name + "' into '" + target +
                                     "': " + mv.message());
  fs::remove(staging);
  staging.clear();
  return llvm::Error::success();
}
