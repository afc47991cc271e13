// Unit tests of outputs that appear whole or not at all: what a folder holds
// after a file or a staging folder is committed, or dropped half-way.
#include "lib/support/AtomicOutput.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace compress;
namespace fs = llvm::sys::fs;

namespace {

/// A fresh folder, removed with its contents when the test is done.
struct TempFolder {
  std::string path;
  TempFolder() {
    llvm::SmallString<128> created;
    fs::createUniqueDirectory("atomic-output", created);
    path = std::string(created);
  }
  ~TempFolder() { fs::remove_directories(path); }
  std::string operator/(llvm::StringRef name) const {
    llvm::SmallString<128> p(path);
    llvm::sys::path::append(p, name);
    return std::string(p);
  }
};

std::vector<std::string> listing(llvm::StringRef folder) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; it != end && !ec; it.increment(ec))
    names.push_back(llvm::sys::path::filename(it->path()).str());
  std::sort(names.begin(), names.end());
  return names;
}

std::string contents(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  return buffer ? (*buffer)->getBuffer().str() : "<unreadable>";
}

void write(llvm::StringRef path, llvm::StringRef text) {
  ASSERT_FALSE(bool(writeFileAtomically(path, text)));
}

TEST(AtomicOutput, DroppedFileLeavesTheOldOne) {
  TempFolder dir;
  write(dir / "out.txt", "old");
  {
    auto file = AtomicFile::create(dir / "out.txt");
    ASSERT_TRUE(bool(file)) << llvm::toString(file.takeError());
    file->os() << "half of the new";
    EXPECT_EQ(listing(dir.path).size(), 2u); // out.txt and its temporary
  }
  EXPECT_EQ(listing(dir.path), std::vector<std::string>{"out.txt"});
  EXPECT_EQ(contents(dir / "out.txt"), "old");
  write(dir / "out.txt", "new");
  EXPECT_EQ(contents(dir / "out.txt"), "new");
}

TEST(AtomicOutput, CommitOntoAFolderFailsAndCleansUp) {
  TempFolder dir;
  ASSERT_FALSE(fs::create_directory(dir / "taken"));
  llvm::Error e = writeFileAtomically(dir / "taken", "x");
  ASSERT_TRUE(bool(e));
  EXPECT_NE(llvm::toString(std::move(e)).find("cannot write '"), std::string::npos);
  EXPECT_EQ(listing(dir.path), std::vector<std::string>{"taken"});
}

TEST(AtomicOutput, PendingOutputsGoInTogetherOrNotAtAll) {
  TempFolder dir;
  write(dir / "a", "old a");
  // "new a" and "new b", written and held by `pending`.
  auto addNew = [&](PendingOutputs &pending) {
    for (const char *name : {"a", "b"}) {
      auto file = AtomicFile::create(dir / name);
      ASSERT_TRUE(bool(file));
      file->os() << "new " << name;
      ASSERT_FALSE(bool(pending.add(std::move(*file))));
    }
  };
  {
    PendingOutputs pending;
    addNew(pending);
    // Dropped: the run failed.
  }
  EXPECT_EQ(listing(dir.path), std::vector<std::string>{"a"});
  EXPECT_EQ(contents(dir / "a"), "old a");

  PendingOutputs pending;
  addNew(pending);
  ASSERT_FALSE(bool(pending.commitAll()));
  EXPECT_EQ(listing(dir.path), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(contents(dir / "a"), "new a");
}

TEST(AtomicOutput, StagingFolderAppearsWholeOrNotAtAll) {
  TempFolder dir;
  {
    auto staging = StagingFolder::create(dir / "art/");
    ASSERT_TRUE(bool(staging)) << llvm::toString(staging.takeError());
    write(staging->file("x.h"), "x");
    // Dropped half-way: nothing remains.
  }
  EXPECT_TRUE(listing(dir.path).empty());

  auto staging = StagingFolder::create(dir / "nested/art");
  ASSERT_TRUE(bool(staging));
  write(staging->file("x.h"), "x");
  write(staging->file("y.so"), "y");
  ASSERT_FALSE(bool(staging->commit()));
  EXPECT_EQ(listing(dir.path), std::vector<std::string>{"nested"});
  EXPECT_EQ(listing(dir / "nested"), std::vector<std::string>{"art"});
  EXPECT_EQ(listing(dir / "nested/art"), (std::vector<std::string>{"x.h", "y.so"}));
}

TEST(AtomicOutput, StagingFolderUpdatesAnExistingFolder) {
  TempFolder dir;
  ASSERT_FALSE(fs::create_directory(dir / "art"));
  write(dir / "art/x.h", "old x");
  write(dir / "art/other", "kept");
  {
    // A namesake folder is seen before anything moves.
    ASSERT_FALSE(fs::create_directory(dir / "art/y.so"));
    auto staging = StagingFolder::create(dir / "art");
    ASSERT_TRUE(bool(staging));
    write(staging->file("x.h"), "new x");
    write(staging->file("y.so"), "y");
    llvm::Error e = staging->commit();
    ASSERT_TRUE(bool(e));
    EXPECT_NE(llvm::toString(std::move(e)).find("it is a folder"), std::string::npos);
    EXPECT_EQ(contents(dir / "art/x.h"), "old x");
    ASSERT_FALSE(fs::remove(dir / "art/y.so"));
  }
  EXPECT_EQ(listing(dir.path), std::vector<std::string>{"art"});

  auto staging = StagingFolder::create(dir / "art");
  ASSERT_TRUE(bool(staging));
  write(staging->file("x.h"), "new x");
  write(staging->file("y.so"), "y");
  ASSERT_FALSE(bool(staging->commit()));
  EXPECT_EQ(listing(dir.path), std::vector<std::string>{"art"});
  EXPECT_EQ(listing(dir / "art"), (std::vector<std::string>{"other", "x.h", "y.so"}));
  EXPECT_EQ(contents(dir / "art/x.h"), "new x");
  EXPECT_EQ(contents(dir / "art/other"), "kept");
}

TEST(AtomicOutput, StagingFolderWithAFileGoneDoesNotMoveIn) {
  TempFolder dir;
  {
    // As LLVM's handler leaves it after a signal the process ignores.
    auto staging = StagingFolder::create(dir / "art");
    ASSERT_TRUE(bool(staging));
    write(staging->file("x.h"), "x");
    write(staging->file("y.so"), "y");
    ASSERT_FALSE(fs::remove(staging->file("y.so")));
    llvm::Error e = staging->commit();
    ASSERT_TRUE(bool(e));
    EXPECT_NE(llvm::toString(std::move(e)).find("disappeared"), std::string::npos);
  }
  EXPECT_TRUE(listing(dir.path).empty());

  // An intermediate file the destination does not get.
  auto staging = StagingFolder::create(dir / "art");
  ASSERT_TRUE(bool(staging));
  write(staging->file("x.h"), "x");
  write(staging->file("x.o"), "object");
  staging->remove("x.o");
  ASSERT_FALSE(bool(staging->commit()));
  EXPECT_EQ(listing(dir / "art"), std::vector<std::string>{"x.h"});
}

TEST(AtomicOutput, StagingFolderRefusesAFile) {
  TempFolder dir;
  write(dir / "art", "a file");
  auto staging = StagingFolder::create(dir / "art");
  ASSERT_FALSE(bool(staging));
  EXPECT_NE(llvm::toString(staging.takeError()).find("is not a folder"), std::string::npos);
  EXPECT_EQ(listing(dir.path), std::vector<std::string>{"art"});
}

} // namespace
