// Unit tests of the .npz reader, on archives built byte by byte so that each
// ZIP feature numpy or other writers use is covered on its own.
#include "lib/support/HostTensor.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

// zlib declares a global function named compress, which would clash with
// this project's namespace.
#define compress zlib_compress
#include <zlib.h>
#undef compress

using namespace compress;

namespace {

std::string tempPath(const char *name, const char *suffix) {
  llvm::SmallString<128> path;
  llvm::sys::fs::createTemporaryFile(name, suffix, path);
  return std::string(path);
}

void writeFile(const std::string &path, const std::string &bytes) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  os << bytes;
}

HostTensor iota(int64_t rows, int64_t cols) {
  HostTensor t;
  t.kind = ElementKind::I32;
  t.shape = {rows, cols};
  t.data.resize(rows * cols * 4);
  for (int32_t i = 0; i < rows * cols; ++i)
    memcpy(t.data.data() + 4 * i, &i, 4);
  return t;
}

std::string npyBytes(const HostTensor &t) {
  std::string path = tempPath("member", "npy");
  EXPECT_FALSE(bool(writeNpy(path, t)));
  std::string bytes = (*llvm::MemoryBuffer::getFile(path))->getBuffer().str();
  llvm::sys::fs::remove(path);
  return bytes;
}

std::string deflateRaw(const std::string &in) {
  z_stream s = {};
  EXPECT_EQ(deflateInit2(&s, Z_BEST_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8,
                         Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&s, in.size()), '\0');
  s.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
  s.avail_in = in.size();
  s.next_out = reinterpret_cast<Bytef *>(out.data());
  s.avail_out = out.size();
  EXPECT_EQ(deflate(&s, Z_FINISH), Z_STREAM_END);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

struct Member {
  std::string name, data;
  bool deflated = false;
  // Sizes after the data (local header sizes zero), as streaming writers do.
  bool dataDescriptor = false;
  // Sizes and offset in the central directory's zip64 extra field.
  bool zip64 = false;
};

void put16(std::string &s, uint16_t v) { s.append({char(v), char(v >> 8)}); }
void put32(std::string &s, uint32_t v) {
  put16(s, uint16_t(v));
  put16(s, uint16_t(v >> 16));
}
void put64(std::string &s, uint64_t v) {
  put32(s, uint32_t(v));
  put32(s, uint32_t(v >> 32));
}

/// A ZIP archive of `members`; with `zip64End`, the end of central directory
/// record defers to zip64 records.
std::string makeZip(const std::vector<Member> &members, bool zip64End = false) {
  std::string zip, central;
  for (const Member &m : members) {
    std::string stored = m.deflated ? deflateRaw(m.data) : m.data;
    uint32_t crc = crc32(0, reinterpret_cast<const Bytef *>(m.data.data()), m.data.size());
    uint16_t flags = m.dataDescriptor ? 8 : 0, method = m.deflated ? 8 : 0;
    uint64_t offset = zip.size();
    put32(zip, 0x04034b50);
    put16(zip, 45);
    put16(zip, flags);
    put16(zip, method);
    put32(zip, 0); // time and date
    put32(zip, m.dataDescriptor ? 0 : crc);
    put32(zip, m.dataDescriptor ? 0 : stored.size());
    put32(zip, m.dataDescriptor ? 0 : m.data.size());
    put16(zip, m.name.size());
    put16(zip, 0);
    zip += m.name + stored;
    if (m.dataDescriptor) {
      put32(zip, 0x08074b50);
      put32(zip, crc);
      put32(zip, stored.size());
      put32(zip, m.data.size());
    }
    put32(central, 0x02014b50);
    put16(central, 45);
    put16(central, 45);
    put16(central, flags);
    put16(central, method);
    put32(central, 0);
    put32(central, crc);
    put32(central, m.zip64 ? 0xffffffff : stored.size());
    put32(central, m.zip64 ? 0xffffffff : m.data.size());
    put16(central, m.name.size());
    put16(central, m.zip64 ? 28 : 0);
    put16(central, 0); // comment
    put16(central, 0); // disk
    put16(central, 0); // internal attributes
    put32(central, 0); // external attributes
    put32(central, m.zip64 ? 0xffffffff : offset);
    central += m.name;
    if (m.zip64) {
      put16(central, 1);
      put16(central, 24);
      put64(central, m.data.size());
      put64(central, stored.size());
      put64(central, offset);
    }
  }
  uint64_t centralOffset = zip.size();
  zip += central;
  if (zip64End) {
    uint64_t end64 = zip.size();
    put32(zip, 0x06064b50);
    put64(zip, 44);
    put16(zip, 45);
    put16(zip, 45);
    put32(zip, 0);
    put32(zip, 0);
    put64(zip, members.size());
    put64(zip, members.size());
    put64(zip, central.size());
    put64(zip, centralOffset);
    put32(zip, 0x07064b50);
    put32(zip, 0);
    put64(zip, end64);
    put32(zip, 1);
  }
  put32(zip, 0x06054b50);
  put32(zip, 0); // disks
  put16(zip, zip64End ? 0xffff : members.size());
  put16(zip, zip64End ? 0xffff : members.size());
  put32(zip, zip64End ? 0xffffffff : central.size());
  put32(zip, zip64End ? 0xffffffff : centralOffset);
  put16(zip, 0);
  return zip;
}

llvm::Expected<std::vector<NamedTensor>> readZip(const std::string &zip) {
  std::string path = tempPath("archive", "npz");
  writeFile(path, zip);
  auto arrays = readNpz(path);
  llvm::sys::fs::remove(path);
  return arrays;
}

std::string readError(const std::string &zip) {
  auto arrays = readZip(zip);
  return arrays ? "" : llvm::toString(arrays.takeError());
}

TEST(Npz, ReadsStoredAndDeflatedMembers) {
  HostTensor a = iota(2, 3), b = iota(4, 5);
  auto arrays = readZip(makeZip({{"a.npy", npyBytes(a)}, {"b.npy", npyBytes(b), true}}));
  ASSERT_TRUE(bool(arrays)) << llvm::toString(arrays.takeError());
  ASSERT_EQ(arrays->size(), 2u);
  EXPECT_EQ((*arrays)[0].name, "a");
  EXPECT_EQ((*arrays)[0].tensor.shape, a.shape);
  EXPECT_EQ((*arrays)[0].tensor.data, a.data);
  EXPECT_EQ((*arrays)[1].name, "b");
  EXPECT_EQ((*arrays)[1].tensor.kind, ElementKind::I32);
  EXPECT_EQ((*arrays)[1].tensor.data, b.data);
}

TEST(Npz, ReadsDataDescriptorsAndZip64) {
  HostTensor a = iota(3, 3);
  Member member{"a.npy", npyBytes(a), true, /*dataDescriptor=*/true, /*zip64=*/true};
  auto arrays = readZip(makeZip({member}, /*zip64End=*/true));
  ASSERT_TRUE(bool(arrays)) << llvm::toString(arrays.takeError());
  ASSERT_EQ(arrays->size(), 1u);
  EXPECT_EQ((*arrays)[0].tensor.data, a.data);
}

TEST(Npz, RejectsATruncatedFile) {
  std::string zip = makeZip({{"a.npy", npyBytes(iota(8, 8)), true}});
  EXPECT_NE(readError(zip.substr(0, zip.size() / 2)).find("is the file truncated?"),
            std::string::npos);
}

TEST(Npz, RejectsTruncatedDeflatedData) {
  // The central directory agrees with the cut stream: only inflating it shows.
  std::string npy = npyBytes(iota(8, 8));
  std::string zip = makeZip({{"a.npy", npy, true}});
  std::string deflated = deflateRaw(npy);
  size_t at = zip.find(deflated);
  ASSERT_NE(at, std::string::npos);
  std::string cut = deflated.substr(0, deflated.size() / 2);
  zip.replace(at, deflated.size(), cut);
  // Fix up the compressed size (local header at 18, central directory after
  // the data at 20) and the central directory's offset in the end record.
  auto patch32 = [&](size_t offset, uint32_t v) {
    std::string bytes;
    put32(bytes, v);
    zip.replace(offset, 4, bytes);
  };
  patch32(18, cut.size());
  size_t central = zip.find("PK\x01\x02");
  patch32(central + 20, cut.size());
  patch32(zip.size() - 6, central);
  EXPECT_NE(readError(zip).find("member 'a.npy': deflated data does not inflate to its "
                                "recorded size"),
            std::string::npos)
      << readError(zip);
}

TEST(Npz, RejectsACorruptMember) {
  std::string npy = npyBytes(iota(2, 2));
  std::string zip = makeZip({{"a.npy", npy}});
  zip[30 + 5 + npy.size() - 1] ^= 1; // the last data byte
  EXPECT_NE(readError(zip).find("member 'a.npy': CRC mismatch"), std::string::npos);
}

TEST(Npz, RejectsMembersThatAreNoArrays) {
  EXPECT_NE(readError(makeZip({{"notes.txt", "hello"}}))
                .find("member 'notes.txt' is not a .npy array"),
            std::string::npos);
  std::string npy = npyBytes(iota(1, 1));
  EXPECT_NE(readError(makeZip({{"a.npy", npy}, {"a.npy", npy}})).find("holds array 'a' twice"),
            std::string::npos);
}

} // namespace
