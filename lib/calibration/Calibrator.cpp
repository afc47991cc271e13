// Hessians of linear layers' inputs from runs on calibration data.
#include "lib/calibration/Calibrator.h"

#include "lib/engine/CpuEngine.h"
#include "lib/importer/onnx/Importer.h"
#include "lib/importer/onnx/OnnxModel.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include <Eigen/Dense>

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

using namespace compress;
using namespace mlir;
using llvm::StringRef;

namespace {
llvm::Error setError(StringRef set, const llvm::Twine &what) {
  return llvm::createStringError("calibration set '" + set + "': " + what);
}

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

namespace {
// The compress.linear ops of `module`, in order.
SmallVector<LinearOp> linearsOf(ModuleOp module) {
  SmallVector<LinearOp> linears;
  module.walk([&](LinearOp op) { linears.push_back(op); });
  return linears;
}

// The layers among `linears[first..]` whose input does not depend on any of
// them: their inputs are final once every layer before `first` is.
SmallVector<size_t> readyLayers(ModuleOp module, ArrayRef<LinearOp> linears, size_t first) {
  llvm::DenseSet<Operation *> tainted; // ops fed by a pending layer
  for (LinearOp op : linears.drop_front(first))
    tainted.insert(op);
  // Post-order: operands' producers, and an op's nested ops, come first.
  module.walk([&](Operation *op) {
    if (tainted.contains(op))
      return;
    bool fed = llvm::any_of(op->getOperands(), [&](Value v) {
      Operation *producer = v.getDefiningOp();
      return producer && tainted.contains(producer);
    });
    if (fed)
      for (Operation *o = op; o && !isa<ModuleOp>(o); o = o->getParentOp())
        tainted.insert(o);
  });
  SmallVector<size_t> ready;
  for (size_t i = first; i < linears.size(); ++i) {
    LinearOp layer = linears[i];
    Operation *producer = layer.getInput().getDefiningOp();
    if (!producer || !tainted.contains(producer))
      ready.push_back(i);
  }
  return ready;
}

// A clone of `module` whose @main returns the inputs of the layers
// `linears[i]`, i in `taps`, and computes nothing else.
llvm::Expected<OwningOpRef<ModuleOp>> tapInputs(ModuleOp module, ArrayRef<size_t> taps) {
  OwningOpRef<ModuleOp> clone = module.clone();
  auto main = clone->lookupSymbol<func::FuncOp>("main");
  if (!main)
    return llvm::createStringError("the model has no func.func @main");
  SmallVector<LinearOp> copies = linearsOf(*clone);
  SmallVector<Value> results;
  for (size_t i : taps)
    results.push_back(copies[i].getInput());
  auto ret = cast<func::ReturnOp>(main.getBody().back().getTerminator());
  OpBuilder b(ret);
  func::ReturnOp::create(b, ret.getLoc(), results);
  ret.erase();
  SmallVector<DictionaryAttr> resultAttrs;
  for (size_t i = 0; i < results.size(); ++i)
    resultAttrs.push_back(b.getDictionaryAttr(
        b.getNamedAttr(kNameAttr, b.getStringAttr("__tap" + std::to_string(i)))));
  main.setFunctionType(
      b.getFunctionType(main.getArgumentTypes(), SmallVector<Type>(ValueRange(results).getTypes())));
  main.setAllResultAttrs(resultAttrs);
  // What only fed the model's outputs or later layers is not compiled.
  for (Block &block : main.getBody())
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(block)))
      if (isOpTriviallyDead(&op))
        op.erase();
  return std::move(clone);
}

// Adds x x^T over the rows of `x` (float [..., K]) to the lower triangle of
// `h` ([K, K]).
void accumulateGram(const HostTensor &x, Eigen::MatrixXd &h, int64_t &rows) {
  int64_t k = x.shape.back(), m = x.numElements() / std::max<int64_t>(k, 1);
  if (h.size() == 0)
    h = Eigen::MatrixXd::Zero(k, k);
  Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> rowsOf(
      reinterpret_cast<const float *>(x.data.data()), m, k);
  h.selfadjointView<Eigen::Lower>().rankUpdate(rowsOf.cast<double>().transpose());
  rows += m;
}
} // namespace

llvm::Error Calibrator::collect(LinearOp requested) {
  SmallVector<LinearOp> linears = linearsOf(module);
  size_t first = llvm::find(linears, requested) - linears.begin();
  if (first == linears.size())
    return llvm::createStringError("the layer is not in the model");
  SmallVector<size_t> taps;
  for (size_t i : readyLayers(module, linears, first))
    if (!hessians.contains(linears[i]))
      taps.push_back(i);
  if (!llvm::is_contained(taps, first))
    return llvm::createStringError("the layer's input depends on a layer not yet compressed");
  auto clone = tapInputs(module, taps);
  if (!clone)
    return clone.takeError();
  auto engine = CpuEngine::compile(**clone);
  if (!engine)
    return engine.takeError();
  ++compiledClones;
  std::vector<Eigen::MatrixXd> grams(taps.size());
  std::vector<int64_t> rows(taps.size(), 0);
  // readCalibrationSets ordered each set's tensors as the model's inputs,
  // which the clone shares.
  for (const InputSet &set : sets) {
    auto outputs = (*engine)->run(set.inputs);
    if (!outputs)
      return setError(set.name, llvm::toString(outputs.takeError()));
    for (size_t t = 0; t < taps.size(); ++t)
      accumulateGram((*outputs)[t], grams[t], rows[t]);
  }
  for (size_t t = 0; t < taps.size(); ++t) {
    Eigen::MatrixXd &g = grams[t];
    int64_t k = g.rows();
    std::vector<double> h(k * k);
    double factor = 2.0 / double(std::max<int64_t>(rows[t], 1));
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j <= i; ++j)
        h[i * k + j] = h[j * k + i] = factor * g(i, j);
    hessians[linears[taps[t]]] = std::move(h);
  }
  return llvm::Error::success();
}

llvm::Expected<std::vector<double>> Calibrator::hessian(LinearOp linear) {
  llvm::DenseSet<Operation *> live;
  module.walk([&](LinearOp op) { live.insert(op); });
  for (Operation *op : llvm::to_vector(llvm::make_first_range(hessians)))
    if (!live.contains(op))
      hessians.erase(op);
  if (!hessians.contains(linear))
    if (llvm::Error e = collect(linear))
      return std::move(e);
  return hessians.find(linear)->second;
}
