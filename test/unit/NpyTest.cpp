// Unit tests of the .npy reader and writer.
#include "lib/support/HostTensor.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <unistd.h>

using namespace compress;

namespace {

/// A fresh temporary .npy path, removed when the test is done with it.
struct TempNpy {
  std::string path;
  explicit TempNpy(const char *name) {
    llvm::SmallString<128> created;
    llvm::sys::fs::createTemporaryFile(name, "npy", created);
    path = std::string(created);
  }
  ~TempNpy() { llvm::sys::fs::remove(path); }
};

TEST(Npy, RoundTripsEveryKind) {
  for (ElementKind kind : {ElementKind::F32, ElementKind::F64, ElementKind::I64,
                           ElementKind::I32, ElementKind::U8, ElementKind::Bool}) {
    HostTensor t;
    t.kind = kind;
    t.shape = {2, 3};
    t.data.resize(6 * elementSize(kind));
    for (size_t i = 0; i < t.data.size(); ++i)
      t.data[i] = uint8_t(kind == ElementKind::Bool ? i % 2 : i * 7);
    TempNpy file("roundtrip");
    const std::string &path = file.path;
    ASSERT_FALSE(bool(writeNpy(path, t)));
    auto back = readNpy(path);
    ASSERT_TRUE(bool(back)) << llvm::toString(back.takeError());
    EXPECT_EQ(back->kind, kind);
    EXPECT_EQ(back->shape, t.shape);
    EXPECT_EQ(back->data, t.data);
  }
}

TEST(Npy, RoundTripsScalarsAndVectors) {
  for (std::vector<int64_t> shape : {std::vector<int64_t>{}, std::vector<int64_t>{5}}) {
    HostTensor t;
    t.shape = shape;
    t.data.assign(t.numElements() * 4, 1);
    TempNpy file("shape");
    const std::string &path = file.path;
    ASSERT_FALSE(bool(writeNpy(path, t)));
    auto back = readNpy(path);
    ASSERT_TRUE(bool(back));
    EXPECT_EQ(back->shape, shape);
  }
}

TEST(Npy, RejectsTruncatedData) {
  HostTensor t;
  t.shape = {4, 4};
  t.data.assign(64, 0);
  TempNpy file("truncated");
  const std::string &path = file.path;
  ASSERT_FALSE(bool(writeNpy(path, t)));
  ASSERT_EQ(truncate(path.c_str(), 150), 0);
  auto back = readNpy(path);
  ASSERT_FALSE(bool(back));
  EXPECT_NE(llvm::toString(back.takeError()).find("truncated data"), std::string::npos);
}

TEST(Npy, RejectsOtherFiles) {
  TempNpy file("garbage");
  const std::string &path = file.path;
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    os << "not numpy at all";
  }
  auto back = readNpy(path);
  ASSERT_FALSE(bool(back));
  EXPECT_NE(llvm::toString(back.takeError()).find("not a .npy file"), std::string::npos);
}

TEST(Npy, RejectsAShapeWhoseSizeOverflows) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': "
                       "(4611686018427387904, 4), }\n";
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8) + char(header.size()) + '\0' +
                      header + std::string(16, '\0');
  auto parsed = parseNpy(bytes);
  ASSERT_FALSE(bool(parsed));
  EXPECT_EQ(llvm::toString(parsed.takeError()), "bad shape in header");
}

} // namespace
