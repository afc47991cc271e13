// Reading calibration input sets and checking them against the model.
#include "lib/calibration/CalibrationSets.h"

#include "lib/importer/onnx/Importer.h"
#include "lib/importer/onnx/OnnxModel.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

using namespace compress;
using llvm::StringRef;

llvm::Error compress::setError(StringRef set, const llvm::Twine &what) {
  return llvm::createStringError("calibration set '" + set + "': " + what);
}

namespace {

// The entries of `folder`, sorted by name so that sets and messages come in
// a stable order.
llvm::Expected<std::vector<std::string>> sortedEntries(StringRef folder, StringRef what) {
  std::vector<std::string> entries;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(folder, ec), end; it != end && !ec;
       it.increment(ec))
    entries.push_back(it->path());
  if (ec)
    return llvm::createStringError(what + " '" + folder + "': " + ec.message());
  llvm::sort(entries);
  return entries;
}

// K of an ONNX test data file named `prefix`K.pb.
std::optional<unsigned> testDataIndex(StringRef file, StringRef prefix) {
  StringRef name = llvm::sys::path::filename(file);
  unsigned k;
  if (!name.consume_front(prefix) || !name.consume_back(".pb") || name.getAsInteger(10, k))
    return std::nullopt;
  return k;
}

// The element kind of an ONNX data type, as the engine's signatures say it.
std::optional<ElementKind> elementKindOf(int32_t dataType) {
  switch (dataType) {
  case onnx::TensorProto::FLOAT:
    return ElementKind::F32;
  case onnx::TensorProto::DOUBLE:
    return ElementKind::F64;
  case onnx::TensorProto::FLOAT16:
    return ElementKind::F16;
  case onnx::TensorProto::BFLOAT16:
    return ElementKind::BF16;
  case onnx::TensorProto::INT8:
    return ElementKind::I8;
  case onnx::TensorProto::INT16:
    return ElementKind::I16;
  case onnx::TensorProto::INT32:
    return ElementKind::I32;
  case onnx::TensorProto::INT64:
    return ElementKind::I64;
  case onnx::TensorProto::UINT8:
    return ElementKind::U8;
  case onnx::TensorProto::UINT16:
    return ElementKind::U16;
  case onnx::TensorProto::UINT32:
    return ElementKind::U32;
  case onnx::TensorProto::UINT64:
    return ElementKind::U64;
  case onnx::TensorProto::BOOL:
    return ElementKind::Bool;
  default:
    return std::nullopt;
  }
}

// A serialized TensorProto, named as the file names it ("" when unnamed).
llvm::Expected<NamedTensor> readTensorProtoFile(StringRef file) {
  auto buffer = llvm::MemoryBuffer::getFile(file, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return llvm::createStringError("'" + file + "': " + buffer.getError().message());
  StringRef bytes = (*buffer)->getBuffer();
  onnx::TensorProto proto;
  if (bytes.size() > size_t(INT_MAX) || !proto.ParseFromArray(bytes.data(), int(bytes.size())))
    return llvm::createStringError("'" + file + "': not a serialized ONNX TensorProto");
  std::optional<ElementKind> kind = elementKindOf(proto.data_type());
  if (!kind)
    return llvm::createStringError("'" + file + "': unsupported element type " +
                                   onnxTypeName(proto.data_type()));
  // External data, if any, lies beside the file.
  auto data = readTensorBytes(llvm::sys::path::parent_path(file), proto);
  if (!data)
    return llvm::createStringError("'" + file + "': " + llvm::toString(data.takeError()));
  NamedTensor named{proto.name(), {}};
  named.tensor.kind = *kind;
  named.tensor.shape.assign(proto.dims().begin(), proto.dims().end());
  named.tensor.data.assign(data->begin(), data->end());
  return named;
}

// A set folder's tensors: NAME.npy files, or ONNX input_K.pb files.
llvm::Expected<std::vector<NamedTensor>>
readSetFolder(StringRef folder, llvm::ArrayRef<TensorSignature> modelInputs) {
  StringRef set = llvm::sys::path::filename(folder);
  auto files = sortedEntries(folder, "calibration set");
  if (!files)
    return files.takeError();
  enum Form { Npy, TestData };
  std::optional<Form> form;
  std::vector<std::string> inputFiles;
  for (const std::string &file : *files) {
    Form kind;
    bool isOutput = testDataIndex(file, "output_").has_value();
    if (StringRef(file).ends_with(".npy") && !llvm::sys::fs::is_directory(file))
      kind = Npy;
    else if (isOutput || testDataIndex(file, "input_"))
      kind = TestData;
    else
      return setError(set, "'" + file +
                               "' is neither a NAME.npy file nor an ONNX input_K.pb file");
    if (form && *form != kind)
      return setError(set, "mixes .npy files and ONNX .pb files: '" + file + "'");
    form = kind;
    // ONNX test data folders also hold the expected outputs, which
    // calibration has no use for.
    if (!isOutput)
      inputFiles.push_back(file);
  }
  std::vector<NamedTensor> tensors;
  if (form == Npy) {
    for (const std::string &file : inputFiles) {
      auto tensor = readNpy(file);
      if (!tensor)
        return tensor.takeError();
      tensors.push_back({llvm::sys::path::stem(file).str(), std::move(*tensor)});
    }
    return tensors;
  }
  llvm::StringMap<std::string> fileOf; // the file that gave each input, for messages
  for (const std::string &file : inputFiles) {
    auto named = readTensorProtoFile(file);
    if (!named)
      return named.takeError();
    if (named->name.empty()) {
      unsigned k = *testDataIndex(file, "input_");
      if (k >= modelInputs.size())
        return llvm::createStringError("'" + file + "': an unnamed tensor for input " +
                                       llvm::Twine(k) + ", but the model takes " +
                                       llvm::Twine(modelInputs.size()) + " input(s)");
      named->name = modelInputs[k].name;
    }
    auto [it, inserted] = fileOf.try_emplace(named->name, file);
    if (!inserted)
      return setError(set, "'" + llvm::sys::path::filename(it->second) + "' and '" +
                               llvm::sys::path::filename(file) + "' both give input '" +
                               named->name + "'");
    tensors.push_back(std::move(*named));
  }
  return tensors;
}

// The first NaN or infinity of a floating-point tensor, described, or
// nullopt: either would poison every statistic computed from the set.
template <typename T>
std::optional<std::string> firstNonFinite(const std::vector<uint8_t> &bytes) {
  for (size_t i = 0; i * sizeof(T) < bytes.size(); ++i) {
    T v;
    memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
    if (std::isnan(v))
      return "NaN (element " + std::to_string(i) + ")";
    if (std::isinf(v))
      return "an infinity (element " + std::to_string(i) + ")";
  }
  return std::nullopt;
}
std::optional<std::string> firstNonFinite(const HostTensor &t) {
  if (t.kind == ElementKind::F32)
    return firstNonFinite<float>(t.data);
  if (t.kind == ElementKind::F64)
    return firstNonFinite<double>(t.data);
  return std::nullopt;
}

// Orders a set's tensors as the model's inputs, checking that they are
// exactly those inputs, with their element types, ranks and static
// dimensions.
llvm::Expected<InputSet> matchToModel(StringRef set, std::vector<NamedTensor> tensors,
                                      llvm::ArrayRef<TensorSignature> modelInputs) {
  llvm::StringMap<HostTensor *> byName;
  for (NamedTensor &t : tensors)
    byName[t.name] = &t.tensor;
  InputSet matched{set.str(), {}};
  for (const TensorSignature &sig : modelInputs) {
    auto it = byName.find(sig.name);
    if (it == byName.end())
      return setError(set, "missing model input '" + sig.name + "'");
    HostTensor &t = *it->second;
    if (t.kind != sig.kind)
      return setError(set, "input '" + sig.name + "' is " + elementName(t.kind) +
                               " but the model expects " + elementName(sig.kind));
    bool shapeOk = t.shape.size() == sig.shape.size();
    for (size_t d = 0; shapeOk && d < t.shape.size(); ++d)
      shapeOk = sig.shape[d] < 0 || sig.shape[d] == t.shape[d];
    if (!shapeOk)
      return setError(set, "input '" + sig.name + "' has shape " + t.shapeString() +
                               " but the model expects " + sig.shapeString());
    if (std::optional<std::string> bad = firstNonFinite(t))
      return setError(set, "input '" + sig.name + "' holds " + *bad);
    matched.inputs.push_back(std::move(t));
    byName.erase(it);
  }
  for (const NamedTensor &t : tensors)
    if (byName.contains(t.name)) {
      std::string names;
      for (const TensorSignature &sig : modelInputs)
        names += (names.empty() ? "'" : ", '") + sig.name + "'";
      return setError(set, "'" + t.name + "' is not an input of the model (its inputs: " +
                               names + ")");
    }
  return matched;
}
} // namespace

llvm::Expected<std::vector<InputSet>>
compress::readCalibrationSets(StringRef dir, llvm::ArrayRef<TensorSignature> modelInputs) {
  auto entries = sortedEntries(dir, "calibration folder");
  if (!entries)
    return entries.takeError();
  if (entries->empty())
    return llvm::createStringError(
        "calibration folder '" + dir +
        "' holds no input sets (folders of NAME.npy files, .npz files, or ONNX "
        "test_data_set_N folders of input_K.pb files)");
  bool folders = llvm::sys::fs::is_directory(entries->front());
  std::vector<InputSet> sets;
  for (const std::string &entry : *entries) {
    bool folder = llvm::sys::fs::is_directory(entry);
    if (!folder && !StringRef(entry).ends_with(".npz"))
      return llvm::createStringError("calibration folder '" + dir + "': '" + entry +
                                     "' is neither a set folder nor a .npz file");
    if (folder != folders)
      return llvm::createStringError("calibration folder '" + dir +
                                     "' mixes set folders and .npz files: '" + entry + "'");
    auto tensors = folder ? readSetFolder(entry, modelInputs) : readNpz(entry);
    if (!tensors)
      return tensors.takeError();
    auto set = matchToModel(llvm::sys::path::filename(entry), std::move(*tensors), modelInputs);
    if (!set)
      return set.takeError();
    sets.push_back(std::move(*set));
  }
  return sets;
}

