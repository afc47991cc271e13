// Reading and writing numpy .npy files.
#include "lib/support/HostTensor.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace compress;
using llvm::StringRef;

namespace {
struct KindInfo {
  ElementKind kind;
  size_t size;
  const char *descr;
  const char *name;
};
constexpr KindInfo kKinds[] = {
    {ElementKind::F16, 2, "<f2", "float16"},   {ElementKind::BF16, 2, "<V2", "bfloat16"},
    {ElementKind::F32, 4, "<f4", "float32"},   {ElementKind::F64, 8, "<f8", "float64"},
    {ElementKind::I8, 1, "|i1", "int8"},       {ElementKind::I16, 2, "<i2", "int16"},
    {ElementKind::I32, 4, "<i4", "int32"},     {ElementKind::I64, 8, "<i8", "int64"},
    {ElementKind::U8, 1, "|u1", "uint8"},      {ElementKind::U16, 2, "<u2", "uint16"},
    {ElementKind::U32, 4, "<u4", "uint32"},    {ElementKind::U64, 8, "<u8", "uint64"},
    {ElementKind::Bool, 1, "|b1", "bool"},
};
const KindInfo &info(ElementKind kind) {
  for (const KindInfo &k : kKinds)
    if (k.kind == kind)
      return k;
  llvm_unreachable("unknown element kind");
}

llvm::Error npyError(StringRef path, const llvm::Twine &what) {
  return llvm::createStringError("'" + path + "': " + what);
}

// Value of `key` in the header dict, e.g. 'descr': '<f4' -> <f4.
StringRef headerField(StringRef header, StringRef key) {
  size_t pos = header.find(("'" + key + "'").str());
  if (pos == StringRef::npos)
    return {};
  StringRef rest = header.drop_front(pos + key.size() + 2).ltrim(" :");
  if (rest.starts_with("'"))
    return rest.drop_front().take_until([](char c) { return c == '\''; });
  if (rest.starts_with("("))
    return rest.drop_front().take_until([](char c) { return c == ')'; });
  return rest.take_until([](char c) { return c == ',' || c == '}'; }).trim();
}
} // namespace

size_t compress::elementSize(ElementKind kind) { return info(kind).size; }
const char *compress::npyDescr(ElementKind kind) { return info(kind).descr; }
const char *compress::elementName(ElementKind kind) { return info(kind).name; }

int64_t HostTensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::string HostTensor::shapeString() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string TensorSignature::shapeString() const {
  std::string s = "[";
  for (size_t d = 0; d < shape.size(); ++d)
    s += (d ? "," : "") + (shape[d] < 0 ? std::string("?") : std::to_string(shape[d]));
  return s + "]";
}

llvm::Expected<HostTensor> compress::parseNpy(StringRef bytes) {
  if (bytes.size() < 10 || !bytes.starts_with("\x93NUMPY"))
    return llvm::createStringError("not a .npy file");
  unsigned major = static_cast<uint8_t>(bytes[6]);
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen = static_cast<uint8_t>(bytes[8]) |
                (static_cast<uint8_t>(bytes[9]) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return llvm::createStringError("truncated header");
    headerLen = 0;
    for (int i = 0; i < 4; ++i)
      headerLen |= size_t(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    headerStart = 12;
  } else {
    return llvm::createStringError("unsupported .npy version " + llvm::Twine(major));
  }
  if (headerStart + headerLen > bytes.size())
    return llvm::createStringError("truncated header");
  StringRef header = bytes.substr(headerStart, headerLen);
  if (headerField(header, "fortran_order") != "False")
    return llvm::createStringError("Fortran-ordered arrays are not supported");

  HostTensor tensor;
  StringRef descr = headerField(header, "descr");
  const KindInfo *found = nullptr;
  for (const KindInfo &k : kKinds) {
    StringRef d = k.descr;
    // '<' and '|' are interchangeable for one-byte types; '=' means native (little-endian here).
    if (descr == d || (descr.size() == 3 && d.drop_front() == descr.drop_front() &&
                       (descr[0] == '=' || descr[0] == '|' || descr[0] == '<')))
      found = &k;
  }
  if (!found || found->kind == ElementKind::BF16)
    return llvm::createStringError("unsupported dtype '" + descr + "'");
  tensor.kind = found->kind;
  llvm::SmallVector<StringRef> dims;
  headerField(header, "shape").split(dims, ',', -1, /*KeepEmpty=*/false);
  // Checked: a forged header must not wrap the payload size around.
  int64_t payload = int64_t(found->size);
  for (StringRef d : dims) {
    int64_t v;
    if (d.trim().getAsInteger(10, v) || v < 0 || llvm::MulOverflow(payload, v, payload))
      return llvm::createStringError("bad shape in header");
    tensor.shape.push_back(v);
  }
  size_t dataStart = headerStart + headerLen;
  if (bytes.size() - dataStart < uint64_t(payload))
    return llvm::createStringError("truncated data: expected " + llvm::Twine(payload) +
                                   " bytes for shape " + tensor.shapeString());
  tensor.data.assign(bytes.begin() + dataStart,
                     bytes.begin() + dataStart + payload);
  return tensor;
}

llvm::Expected<HostTensor> compress::readNpy(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return npyError(path, buffer.getError().message());
  auto tensor = parseNpy((*buffer)->getBuffer());
  if (!tensor)
    return npyError(path, llvm::toString(tensor.takeError()));
  return tensor;
}

llvm::Expected<AtomicFile> compress::writeNpyTemp(StringRef path, const HostTensor &tensor) {
  std::string dims;
  for (int64_t d : tensor.shape)
    dims += std::to_string(d) + ",";
  if (tensor.shape.size() > 1)
    dims.pop_back(); // numpy writes (3,) for rank 1 and (2, 3) otherwise.
  std::string header = std::string("{'descr': '") + npyDescr(tensor.kind) +
                       "', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Pad so that the data starts on a 64-byte boundary, ending with '\n'.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  auto file = AtomicFile::create(path);
  if (!file)
    return file.takeError();
  file->os() << "\x93NUMPY" << char(1) << char(0) << char(header.size() & 0xff)
             << char(header.size() >> 8) << header;
  file->os().write(reinterpret_cast<const char *>(tensor.data.data()), tensor.data.size());
  if (llvm::Error e = file->close())
    return std::move(e);
  return std::move(*file);
}

llvm::Error compress::writeNpy(StringRef path, const HostTensor &tensor) {
  auto file = writeNpyTemp(path, tensor);
  if (!file)
    return file.takeError();
  return file->commit();
}
