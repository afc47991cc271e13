// Reading numpy .npz archives: ZIP files whose members are .npy files.
//
// The central directory, not the local headers, says where each member is and
// how large: numpy writes every local header with zip64 sizes of 0xFFFFFFFF
// (force_zip64), and streaming writers leave them zero and put the sizes in a
// data descriptor after the data.
#include "lib/support/HostTensor.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/MemoryBuffer.h"

// zlib declares a global function named compress (unused here), which would
// clash with this project's namespace.
#define compress zlib_compress
#include <zlib.h>
#undef compress

using namespace compress;
using llvm::StringRef;
namespace endian = llvm::support::endian;

namespace {
// Record signatures and fixed sizes, from PKWARE's APPNOTE.TXT.
constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint64_t kLocalHeaderSize = 30;
constexpr uint64_t kCentralHeaderSize = 46;
constexpr uint64_t kEndSize = 22;
constexpr uint64_t kZip64EndSize = 56;
constexpr uint64_t kZip64LocatorSize = 20;
constexpr uint64_t kMaxCommentSize = 0xffff;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint16_t kEncryptedFlag = 1;
constexpr uint16_t kStored = 0, kDeflated = 8;
// Deflate cannot compress better than 1032:1, so a larger recorded size is a
// forged one (and must not become an allocation).
constexpr uint64_t kMaxDeflateRatio = 1032;

/// Bounds-checked little-endian reads from the archive's bytes.
struct Bytes {
  StringRef data;
  bool has(uint64_t offset, uint64_t size) const {
    return offset <= data.size() && size <= data.size() - offset;
  }
  uint16_t u16(uint64_t offset) const { return endian::read16le(data.data() + offset); }
  uint32_t u32(uint64_t offset) const { return endian::read32le(data.data() + offset); }
  uint64_t u64(uint64_t offset) const { return endian::read64le(data.data() + offset); }
};

/// A member as the central directory describes it.
struct Member {
  std::string name;
  uint16_t flags, method;
  uint32_t crc;
  uint64_t compressedSize, size, localHeaderOffset;
};

llvm::Error npzError(StringRef path, const llvm::Twine &what) {
  return llvm::createStringError("'" + path + "': " + what);
}

// Where the central directory starts and how many entries it has, from the
// end of central directory record (and its zip64 counterpart when the
// 16/32-bit fields overflowed).
struct CentralDirectory {
  uint64_t offset, size, entries;
};

llvm::Expected<CentralDirectory> findCentralDirectory(const Bytes &b) {
  // The record ends the file, followed only by a comment of up to 64 KiB.
  if (b.data.size() < kEndSize)
    return llvm::createStringError("not a ZIP archive (is the file truncated?)");
  uint64_t end = b.data.size() - kEndSize;
  uint64_t lowest = end > kMaxCommentSize ? end - kMaxCommentSize : 0;
  while (b.u32(end) != kEndSig) {
    if (end == lowest)
      return llvm::createStringError(
          "not a ZIP archive: no end of central directory record (is the file truncated?)");
    --end;
  }
  if (b.u16(end + 4) != 0 || b.u16(end + 6) != 0)
    return llvm::createStringError("split (multi-disk) ZIP archives are not supported");
  CentralDirectory dir{b.u32(end + 16), b.u32(end + 12), b.u16(end + 10)};
  if (dir.entries != 0xffff && dir.size != 0xffffffff && dir.offset != 0xffffffff)
    return dir;
  // Zip64: a locator just before the record points at the zip64 record.
  if (end < kZip64LocatorSize || b.u32(end - kZip64LocatorSize) != kZip64LocatorSig)
    return llvm::createStringError("bad ZIP archive: zip64 sizes without a zip64 locator");
  uint64_t end64 = b.u64(end - kZip64LocatorSize + 8);
  if (!b.has(end64, kZip64EndSize) || b.u32(end64) != kZip64EndSig)
    return llvm::createStringError("bad ZIP archive: no zip64 end of central directory record");
  if (b.u32(end64 + 16) != 0 || b.u32(end64 + 20) != 0)
    return llvm::createStringError("split (multi-disk) ZIP archives are not supported");
  return CentralDirectory{b.u64(end64 + 48), b.u64(end64 + 40), b.u64(end64 + 32)};
}

// Replaces the fields of `m` that hold 0xFFFFFFFF by their 64-bit values in
// the zip64 extra field, which lists only those, in this order.
llvm::Error applyZip64Extra(StringRef extra, Member &m) {
  bool needed = m.size == 0xffffffff || m.compressedSize == 0xffffffff ||
                m.localHeaderOffset == 0xffffffff;
  Bytes e{extra};
  for (uint64_t at = 0; e.has(at, 4); at += 4 + e.u16(at + 2)) {
    uint16_t id = e.u16(at), length = e.u16(at + 2);
    if (!e.has(at + 4, length))
      return llvm::createStringError("member '" + m.name + "': truncated extra field");
    if (id != kZip64ExtraId)
      continue;
    uint64_t field = at + 4, fieldEnd = field + length;
    for (uint64_t *value : {&m.size, &m.compressedSize, &m.localHeaderOffset}) {
      if (*value != 0xffffffff)
        continue;
      if (field + 8 > fieldEnd)
        return llvm::createStringError("member '" + m.name + "': truncated zip64 extra field");
      *value = e.u64(field);
      field += 8;
    }
    return llvm::Error::success();
  }
  if (needed)
    return llvm::createStringError("member '" + m.name +
                                   "': zip64 sizes without a zip64 extra field");
  return llvm::Error::success();
}

llvm::Expected<std::vector<Member>> readCentralDirectory(const Bytes &b) {
  auto dir = findCentralDirectory(b);
  if (!dir)
    return dir.takeError();
  if (!b.has(dir->offset, dir->size))
    return llvm::createStringError(
        "the central directory lies past the end of the file (is the file truncated?)");
  Bytes cd{b.data.substr(dir->offset, dir->size)};
  std::vector<Member> members;
  uint64_t at = 0;
  for (uint64_t i = 0; i < dir->entries; ++i) {
    if (!cd.has(at, kCentralHeaderSize) || cd.u32(at) != kCentralHeaderSig)
      return llvm::createStringError("bad ZIP archive: central directory entry " +
                                     llvm::Twine(i) + " is damaged");
    uint16_t nameLength = cd.u16(at + 28), extraLength = cd.u16(at + 30),
             commentLength = cd.u16(at + 32);
    uint64_t recordSize = kCentralHeaderSize + nameLength + extraLength + commentLength;
    if (!cd.has(at, recordSize))
      return llvm::createStringError("bad ZIP archive: central directory entry " +
                                     llvm::Twine(i) + " is damaged");
    Member m;
    m.name = cd.data.substr(at + kCentralHeaderSize, nameLength).str();
    m.flags = cd.u16(at + 8);
    m.method = cd.u16(at + 10);
    m.crc = cd.u32(at + 16);
    m.compressedSize = cd.u32(at + 20);
    m.size = cd.u32(at + 24);
    m.localHeaderOffset = cd.u32(at + 42);
    if (llvm::Error e = applyZip64Extra(
            cd.data.substr(at + kCentralHeaderSize + nameLength, extraLength), m))
      return std::move(e);
    members.push_back(std::move(m));
    at += recordSize;
  }
  return members;
}

// Inflates the raw deflate stream `in` (ZIP members carry no zlib header)
// into exactly `size` bytes.
llvm::Expected<std::string> inflateRaw(StringRef in, uint64_t size) {
  if (size / kMaxDeflateRatio > in.size() + 1)
    return llvm::createStringError("recorded size " + llvm::Twine(size) +
                                   " is more than " + llvm::Twine(in.size()) +
                                   " deflated bytes can hold");
  std::string out(size, '\0');
  z_stream s = {};
  if (inflateInit2(&s, -MAX_WBITS) != Z_OK)
    return llvm::createStringError("cannot initialise zlib");
  llvm::scope_exit cleanup([&] { inflateEnd(&s); });
  // zlib counts bytes in uInt: feed and drain at most 1 GiB per call.
  constexpr uint64_t kChunk = uint64_t(1) << 30;
  uint64_t inAt = 0, outAt = 0;
  char noRoom; // zlib rejects a null output pointer even when it has no room
  int rc = Z_OK;
  while (rc == Z_OK) {
    uint64_t inChunk = std::min(in.size() - inAt, kChunk);
    uint64_t outChunk = std::min(out.size() - outAt, kChunk);
    s.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data() + inAt));
    s.avail_in = uInt(inChunk);
    s.next_out = reinterpret_cast<Bytef *>(outChunk ? &out[outAt] : &noRoom);
    s.avail_out = uInt(outChunk);
    rc = inflate(&s, Z_NO_FLUSH);
    inAt += inChunk - s.avail_in;
    outAt += outChunk - s.avail_out;
  }
  // Z_BUF_ERROR: no progress, so the input ended early or the output is full.
  if (rc == Z_BUF_ERROR)
    return llvm::createStringError("deflated data does not inflate to its recorded size " +
                                   llvm::Twine(size) + " (is the file truncated?)");
  if (rc != Z_STREAM_END)
    return llvm::createStringError(std::string("corrupt deflated data") +
                                   (s.msg ? std::string(": ") + s.msg : ""));
  if (outAt != size)
    return llvm::createStringError("deflated data inflates to " + llvm::Twine(outAt) +
                                   " bytes, not its recorded size " + llvm::Twine(size));
  return out;
}

// The bytes of member `m`, inflated if need be and checked against its CRC.
llvm::Expected<std::string> memberBytes(const Bytes &b, const Member &m) {
  if (m.flags & kEncryptedFlag)
    return llvm::createStringError("encrypted members are not supported");
  uint64_t header = m.localHeaderOffset;
  if (!b.has(header, kLocalHeaderSize) || b.u32(header) != kLocalHeaderSig)
    return llvm::createStringError("no local header at offset " + llvm::Twine(header) +
                                   " (is the file truncated?)");
  // The local header's name and extra field may differ in length from the
  // central directory's copies.
  uint64_t start = header + kLocalHeaderSize + b.u16(header + 26) + b.u16(header + 28);
  if (!b.has(start, m.compressedSize))
    return llvm::createStringError("data runs past the end of the file (is it truncated?)");
  StringRef stored = b.data.substr(start, m.compressedSize);
  std::string bytes;
  if (m.method == kStored) {
    if (m.compressedSize != m.size)
      return llvm::createStringError("stored member with a compressed size " +
                                     llvm::Twine(m.compressedSize) + " and a size " +
                                     llvm::Twine(m.size));
    bytes = stored.str();
  } else if (m.method == kDeflated) {
    auto inflated = inflateRaw(stored, m.size);
    if (!inflated)
      return inflated.takeError();
    bytes = std::move(*inflated);
  } else {
    return llvm::createStringError("compression method " + llvm::Twine(m.method) +
                                   " is not supported (only stored and deflate are)");
  }
  if (crc32_z(crc32_z(0, nullptr, 0), reinterpret_cast<const Bytef *>(bytes.data()),
              bytes.size()) != m.crc)
    return llvm::createStringError("CRC mismatch (the file is corrupt)");
  return bytes;
}
} // namespace

llvm::Expected<std::vector<NamedTensor>> compress::readNpz(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return npzError(path, buffer.getError().message());
  Bytes b{(*buffer)->getBuffer()};
  auto members = readCentralDirectory(b);
  if (!members)
    return npzError(path, llvm::toString(members.takeError()));
  std::vector<NamedTensor> arrays;
  llvm::StringSet<> seen;
  for (const Member &m : *members) {
    StringRef name = m.name;
    if (!name.consume_back(".npy") || name.empty())
      return npzError(path, "member '" + m.name + "' is not a .npy array");
    if (!seen.insert(name).second)
      return npzError(path, "holds array '" + name + "' twice");
    auto bytes = memberBytes(b, m);
    if (!bytes)
      return npzError(path, "member '" + m.name + "': " + llvm::toString(bytes.takeError()));
    auto tensor = parseNpy(*bytes);
    if (!tensor)
      return npzError(path, "member '" + m.name + "': " + llvm::toString(tensor.takeError()));
    arrays.push_back({name.str(), std::move(*tensor)});
  }
  return arrays;
}
