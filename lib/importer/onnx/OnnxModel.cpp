// Loading an ONNX model file: parsing, validation and external data.
#include "lib/importer/onnx/OnnxModel.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <google/protobuf/io/coded_stream.h>

using namespace compress;
using llvm::StringRef;

int64_t OnnxModel::opsetFor(StringRef domain) const {
  if (domain == "ai.onnx")
    domain = "";
  auto it = opsets.find(domain);
  return it == opsets.end() ? -1 : it->second;
}

size_t compress::onnxElementSize(int32_t dataType) {
  switch (dataType) {
  case onnx::TensorProto::FLOAT:
  case onnx::TensorProto::INT32:
  case onnx::TensorProto::UINT32:
    return 4;
  case onnx::TensorProto::DOUBLE:
  case onnx::TensorProto::INT64:
  case onnx::TensorProto::UINT64:
    return 8;
  case onnx::TensorProto::FLOAT16:
  case onnx::TensorProto::BFLOAT16:
  case onnx::TensorProto::INT16:
  case onnx::TensorProto::UINT16:
    return 2;
  case onnx::TensorProto::INT8:
  case onnx::TensorProto::UINT8:
  case onnx::TensorProto::BOOL:
    return 1;
  default:
    return 0;
  }
}

std::string compress::onnxTypeName(int32_t dataType) {
  if (onnx::TensorProto_DataType_IsValid(dataType))
    return onnx::TensorProto_DataType_Name(
        static_cast<onnx::TensorProto_DataType>(dataType));
  // Newer than the onnx.proto we build against (Debian's).
  switch (dataType) {
  case 21:
    return "UINT4";
  case 22:
    return "INT4";
  case 23:
    return "FLOAT4E2M1";
  default:
    return "type " + std::to_string(dataType);
  }
}

static llvm::Error modelError(StringRef path, const llvm::Twine &what) {
  return llvm::createStringError("'" + path + "': " + what);
}

// Element count of a tensor's dims, or -1 if negative or overflowing.
static int64_t elementCount(const onnx::TensorProto &t) {
  int64_t n = 1;
  for (int64_t d : t.dims()) {
    if (d < 0 || (d > 0 && n > (int64_t(1) << 40) / d))
      return -1;
    n *= d;
  }
  return n;
}

// External data must stay inside the model's folder: no absolute paths, no
// '..' components (the ONNX spec's rule, and a safety one).
static llvm::Error checkExternalLocation(const onnx::TensorProto &t) {
  if (t.data_location() != onnx::TensorProto::EXTERNAL)
    return llvm::Error::success();
  std::string location;
  for (const auto &kv : t.external_data())
    if (kv.key() == "location")
      location = kv.value();
  llvm::SmallVector<StringRef> parts;
  StringRef(location).split(parts, '/');
  if (location.empty() || llvm::sys::path::is_absolute(location) ||
      llvm::is_contained(parts, "..") || StringRef(location).contains('\\'))
    return llvm::createStringError("tensor '" + t.name() +
                                   "': external data location '" + location +
                                   "' leaves the model's folder");
  return llvm::Error::success();
}

// How messages name a tensor: Constant nodes' tensors are often unnamed.
static std::string tensorLabel(const onnx::TensorProto &t) {
  return t.name().empty() ? "the tensor" : "tensor '" + t.name() + "'";
}

namespace {
/// Where an external tensor's bytes are: checked to stay inside the
/// model's folder and to fit in the file.
struct ExternalSlice {
  std::string file;
  uint64_t offset;
  size_t bytes;
};
} // namespace

/// The bytes a tensor's dims and type need, or an error naming the tensor.
static llvm::Expected<size_t> tensorByteSize(const onnx::TensorProto &t) {
  size_t elemSize = onnxElementSize(t.data_type());
  if (elemSize == 0)
    return llvm::createStringError(tensorLabel(t) + " has unsupported type " +
                                   onnxTypeName(t.data_type()));
  int64_t count = elementCount(t);
  if (count < 0)
    return llvm::createStringError(tensorLabel(t) + " has invalid dims");
  return size_t(count) * elemSize;
}

static llvm::Expected<ExternalSlice> locateExternalData(StringRef directory,
                                                        const onnx::TensorProto &t,
                                                        size_t bytes) {
  const std::string label = tensorLabel(t);
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto &kv : t.external_data()) {
    if (kv.key() == "location")
      location = kv.value();
    else if (kv.key() == "offset")
      offset = std::strtoll(kv.value().c_str(), nullptr, 10);
    else if (kv.key() == "length")
      length = std::strtoll(kv.value().c_str(), nullptr, 10);
  }
  if (llvm::Error e = checkExternalLocation(t))
    return std::move(e);
  llvm::SmallString<256> file(directory);
  llvm::sys::path::append(file, location);
  // The location's text stays inside the folder (checked above); its
  // symbolic links must too.
  llvm::SmallString<256> realDirectory, realFile;
  if (!llvm::sys::fs::real_path(directory, realDirectory) &&
      !llvm::sys::fs::real_path(file, realFile) &&
      !StringRef(realFile).starts_with((realDirectory + "/").str()))
    return llvm::createStringError(label + ": external data location '" + location +
                                   "' leaves the model's folder (through a symbolic link, to '" +
                                   realFile.str() + "')");
  uint64_t fileBytes = 0;
  if (std::error_code ec = llvm::sys::fs::file_size(file, fileBytes))
    return llvm::createStringError(label + ": cannot read external data '" + file.str() +
                                   "': " + ec.message());
  if (offset < 0 || uint64_t(offset) > fileBytes)
    return llvm::createStringError(label + ": external data offset " + llvm::Twine(offset) +
                                   " lies outside '" + file.str() + "' (" +
                                   llvm::Twine(fileBytes) + " bytes)");
  uint64_t available = fileBytes - uint64_t(offset);
  uint64_t have = length < 0 ? std::min<uint64_t>(available, bytes) : uint64_t(length);
  if (have != bytes || have > available)
    return llvm::createStringError(label + ": external data has " +
                                   llvm::Twine(std::min(have, available)) +
                                   " bytes, its shape needs " + llvm::Twine(bytes));
  return ExternalSlice{file.str().str(), uint64_t(offset), bytes};
}

static llvm::Expected<std::vector<char>>
readRawTensorBytes(StringRef directory, const onnx::TensorProto &t) {
  const std::string label = tensorLabel(t);
  auto size = tensorByteSize(t);
  if (!size)
    return size.takeError();
  size_t bytes = *size;
  int64_t count = elementCount(t);
  // Sized only once the data is known to fill it: dims alone may ask for
  // terabytes.
  std::vector<char> out;

  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    auto slice = locateExternalData(directory, t, bytes);
    if (!slice)
      return slice.takeError();
    auto buffer = llvm::MemoryBuffer::getFileSlice(slice->file, bytes, slice->offset, false);
    if (!buffer || (*buffer)->getBufferSize() != bytes)
      return llvm::createStringError(label + ": cannot read external data '" + slice->file +
                                     "'" + (buffer ? "" : ": " + buffer.getError().message()));
    out.resize(bytes);
    memcpy(out.data(), (*buffer)->getBufferStart(), bytes);
    return out;
  }
  if (t.has_raw_data()) {
    if (t.raw_data().size() != bytes)
      return llvm::createStringError(label + " has " +
                                     llvm::Twine(t.raw_data().size()) +
                                     " bytes of data, its shape needs " +
                                     llvm::Twine(bytes));
    out.resize(bytes);
    memcpy(out.data(), t.raw_data().data(), bytes);
    return out;
  }
  // Typed fields: each ONNX type is stored in one of them, widened.
  auto mismatch = [&](size_t have) {
    return llvm::createStringError(label + " has " +
                                   llvm::Twine(have) + " values, its shape needs " +
                                   llvm::Twine(count));
  };
  auto copyNarrowed = [&](const auto &field, auto proto) -> llvm::Error {
    using T = decltype(proto);
    if (size_t(field.size()) != size_t(count))
      return mismatch(field.size());
    out.resize(bytes);
    for (int64_t i = 0; i < count; ++i) {
      T v = static_cast<T>(field.Get(i));
      memcpy(out.data() + i * sizeof(T), &v, sizeof(T));
    }
    return llvm::Error::success();
  };
  llvm::Error err = llvm::Error::success();
  switch (t.data_type()) {
  case onnx::TensorProto::FLOAT:
    err = copyNarrowed(t.float_data(), float());
    break;
  case onnx::TensorProto::DOUBLE:
    err = copyNarrowed(t.double_data(), double());
    break;
  case onnx::TensorProto::INT64:
    err = copyNarrowed(t.int64_data(), int64_t());
    break;
  case onnx::TensorProto::UINT64:
  case onnx::TensorProto::UINT32:
    if (t.data_type() == onnx::TensorProto::UINT64)
      err = copyNarrowed(t.uint64_data(), uint64_t());
    else
      err = copyNarrowed(t.uint64_data(), uint32_t());
    break;
  case onnx::TensorProto::INT32:
    err = copyNarrowed(t.int32_data(), int32_t());
    break;
  case onnx::TensorProto::INT16:
    err = copyNarrowed(t.int32_data(), int16_t());
    break;
  case onnx::TensorProto::UINT16:
  case onnx::TensorProto::FLOAT16:
  case onnx::TensorProto::BFLOAT16:
    err = copyNarrowed(t.int32_data(), uint16_t());
    break;
  case onnx::TensorProto::INT8:
    err = copyNarrowed(t.int32_data(), int8_t());
    break;
  case onnx::TensorProto::UINT8:
  case onnx::TensorProto::BOOL:
    err = copyNarrowed(t.int32_data(), uint8_t());
    break;
  default:
    break;
  }
  if (err)
    return std::move(err);
  return out;
}

// Every value a node reads must be a graph input, an initializer, or the
// output of an earlier node: a truncated or hand-broken file fails here.
static llvm::Error validateGraph(StringRef path, const onnx::GraphProto &graph,
                                 llvm::StringSet<> defined) {
  // Values this graph defines: each once (SSA), though an initializer may
  // also be listed as an input (older exporters do).
  llvm::StringSet<> local;
  for (const auto &input : graph.input()) {
    defined.insert(input.name());
    local.insert(input.name());
  }
  for (const auto &init : graph.initializer()) {
    if (elementCount(init) < 0)
      return modelError(path, "initializer '" + init.name() + "' has invalid dims");
    if (llvm::Error e = checkExternalLocation(init))
      return modelError(path, llvm::toString(std::move(e)));
    defined.insert(init.name());
    local.insert(init.name());
  }
  for (const auto &node : graph.node()) {
    for (const auto &in : node.input())
      if (!in.empty() && !defined.contains(in))
        return modelError(path, "node '" + node.name() + "' (" + node.op_type() +
                                    ") reads '" + in +
                                    "', which nothing before it produces "
                                    "(is the file truncated or the graph unsorted?)");
    for (const auto &attr : node.attribute())
      if (attr.has_g())
        if (llvm::Error e = validateGraph(path, attr.g(), defined))
          return e;
    for (const auto &out : node.output()) {
      if (out.empty())
        continue;
      if (!local.insert(out).second)
        return modelError(path, "node '" + node.name() + "' (" + node.op_type() + ") writes '" +
                                    out + "', which the graph already defines (values are "
                                    "defined once)");
      defined.insert(out);
    }
  }
  for (const auto &out : graph.output())
    if (!defined.contains(out.name()))
      return modelError(path, "graph output '" + out.name() +
                                  "' is not produced by any node "
                                  "(is the file truncated?)");
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<OnnxModel>>
compress::loadOnnxModel(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return modelError(path, buffer.getError().message());
  auto model = std::make_unique<OnnxModel>();
  model->path = path.str();
  model->directory = llvm::sys::path::parent_path(path).str();
  if (model->directory.empty())
    model->directory = ".";
  StringRef bytes = (*buffer)->getBuffer();
  google::protobuf::io::CodedInputStream stream(
      reinterpret_cast<const uint8_t *>(bytes.data()), int(bytes.size()));
  stream.SetTotalBytesLimit(INT_MAX);
  if (bytes.size() > size_t(INT_MAX))
    return modelError(path, "larger than 2 GiB: keep weights as external data");
  if (!model->proto.ParseFromCodedStream(&stream) ||
      !stream.ConsumedEntireMessage())
    return modelError(path, "not a valid ONNX model (malformed or truncated protobuf)");
  if (!model->proto.has_graph())
    return modelError(path, "has no graph (is it an ONNX model?)");
  if (model->proto.opset_import_size() == 0)
    return modelError(path, "imports no opset (is the file truncated?)");
  for (const auto &opset : model->proto.opset_import())
    model->opsets[opset.domain() == "ai.onnx" ? "" : opset.domain()] =
        opset.version();
  if (llvm::Error e = validateGraph(path, model->proto.graph(), {}))
    return std::move(e);
  return model;
}

// The index of the first NaN among `count` floats of type T, or -1.
template <typename T>
static int64_t firstNaN(llvm::ArrayRef<char> bytes) {
  for (size_t i = 0; i < bytes.size() / sizeof(T); ++i) {
    T v;
    memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
    if (v != v)
      return int64_t(i);
  }
  return -1;
}

llvm::Expected<std::vector<char>>
compress::readTensorBytes(const OnnxModel &model, const onnx::TensorProto &t) {
  return readTensorBytes(model.directory, t);
}

/// Refuses a tensor holding NaN: a NaN weight poisons every output it
/// reaches, and every statistic a compression pass takes.
static llvm::Error checkNoNaN(const onnx::TensorProto &t, llvm::ArrayRef<char> bytes) {
  int64_t nan = t.data_type() == onnx::TensorProto::FLOAT    ? firstNaN<float>(bytes)
                : t.data_type() == onnx::TensorProto::DOUBLE ? firstNaN<double>(bytes)
                                                             : -1;
  if (nan >= 0)
    return llvm::createStringError(tensorLabel(t) + " holds NaN (element " +
                                   llvm::Twine(nan) + ")");
  return llvm::Error::success();
}

llvm::Expected<std::vector<char>>
compress::readTensorBytes(StringRef directory, const onnx::TensorProto &t) {
  auto bytes = readRawTensorBytes(directory, t);
  if (!bytes)
    return bytes.takeError();
  if (llvm::Error e = checkNoNaN(t, *bytes))
    return std::move(e);
  return bytes;
}

llvm::Expected<std::optional<MappedTensorBytes>>
compress::mapTensorBytes(const OnnxModel &model, const onnx::TensorProto &t) {
  if (t.data_location() != onnx::TensorProto::EXTERNAL)
    return std::nullopt;
  auto size = tensorByteSize(t);
  if (!size)
    return size.takeError();
  auto slice = locateExternalData(model.directory, t, *size);
  if (!slice)
    return slice.takeError();
  std::shared_ptr<llvm::sys::fs::mapped_file_region> &region = model.mappedFiles[slice->file];
  if (!region) {
    uint64_t fileBytes = 0;
    llvm::Expected<llvm::sys::fs::file_t> file = llvm::sys::fs::openNativeFileForRead(slice->file);
    if (!file || llvm::sys::fs::file_size(slice->file, fileBytes))
      return llvm::createStringError(tensorLabel(t) + ": cannot read external data '" +
                                     slice->file + "'" +
                                     (file ? "" : ": " + llvm::toString(file.takeError())));
    std::error_code ec;
    auto mapped = std::make_shared<llvm::sys::fs::mapped_file_region>(
        *file, llvm::sys::fs::mapped_file_region::readonly, size_t(fileBytes), 0, ec);
    llvm::sys::fs::closeFile(*file);
    if (ec)
      return llvm::createStringError(tensorLabel(t) + ": cannot map external data '" +
                                     slice->file + "': " + ec.message());
    region = std::move(mapped);
  }
  llvm::ArrayRef<char> bytes(region->const_data() + slice->offset, slice->bytes);
  if (llvm::Error e = checkNoNaN(t, bytes))
    return std::move(e);
  return MappedTensorBytes{bytes, llvm::ArrayRef<char>(region->const_data(), region->size()),
                           region};
}
