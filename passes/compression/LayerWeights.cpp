// Constant weights and reports of compression passes.
#include "passes/compression/LayerWeights.h"

#include "passes/cpu/ConstantBytes.h"

#include "dialects/compress/IR/WeightStore.h"

#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace compress;

/// The float32 contents of a constant weight, or nullopt.
std::optional<std::vector<float>> compress::constantFloats(Value v) {
  Attribute attr;
  if (!matchPattern(v, m_Constant(&attr)))
    return std::nullopt;
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || !type.getElementType().isF32())
    return std::nullopt;
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return std::nullopt;
    ArrayRef<char> data = blob->getData();
    std::vector<float> out(data.size() / 4);
    memcpy(out.data(), data.data(), out.size() * 4);
    // The caller works on the copy: a weight mapped from a file leaves
    // memory again (a model larger than memory passes one layer at a time).
    releaseWeightPages(v.getContext(), data);
    return out;
  }
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    auto values = dense.getValues<float>();
    return std::vector<float>(values.begin(), values.end());
  }
  return std::nullopt;
}

/// A constant of `type` holding `bytes`: inline when small, else a blob.
Value compress::makeConstant(OpBuilder &b, Location loc, RankedTensorType type, ArrayRef<char> bytes,
                   StringRef key) {
  TypedAttr attr;
  if (bytes.size() <= 256)
    attr = DenseElementsAttr::getFromRawBuffer(type, bytes);
  else
    attr = DenseResourceElementsAttr::get(
        type, key, makeWeightBlob(b.getContext(), bytes, 4));
  return arith::ConstantOp::create(b, loc, attr);
}

std::vector<int8_t> compress::packCodes(const std::vector<int32_t> &codes, int64_t rows,
                                        int64_t cols, int64_t bits) {
  int64_t perByte = bits <= 4 ? 2 : 1, rowBytes = (cols + perByte - 1) / perByte;
  uint8_t mask = uint8_t((1u << bits) - 1);
  std::vector<int8_t> bytes(rows * rowBytes, 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      uint8_t code = uint8_t(codes[r * cols + c]) & mask;
      int8_t &byte = bytes[r * rowBytes + c / perByte];
      byte = perByte == 1 ? int8_t(code) : int8_t(uint8_t(byte) | (c % 2 ? code << 4 : code));
    }
  return bytes;
}

void compress::recordUncompressedWeight(CompressibleLayer compressed, Value floatWeight) {
  ElementsAttr attr;
  if (!matchPattern(floatWeight, m_Constant(&attr)))
    return;
  auto *dialect = compressed->getContext()->getOrLoadDialect<CompressDialect>();
  dialect->uncompressedWeights[compressed.getOperation()] = {compressed.getLayerName(""), attr};
}

void compress::forwardUncompressedWeight(CompressibleLayer from, CompressibleLayer to) {
  auto *dialect = from->getContext()->getOrLoadDialect<CompressDialect>();
  auto it = dialect->uncompressedWeights.find(from.getOperation());
  if (it == dialect->uncompressedWeights.end())
    return;
  auto entry = it->second;
  dialect->uncompressedWeights.erase(it);
  dialect->uncompressedWeights[to.getOperation()] = entry;
}

std::optional<std::vector<float>> compress::uncompressedWeight(CompressibleLayer layer) {
  auto *dialect = layer->getContext()->getOrLoadDialect<CompressDialect>();
  auto it = dialect->uncompressedWeights.find(layer.getOperation());
  // An entry whose name or shape differs belongs to an erased op whose
  // memory this one reuses.
  if (it == dialect->uncompressedWeights.end() ||
      it->second.layerName != layer.getLayerName("") ||
      it->second.weight.getShapedType().getShape() !=
          ArrayRef<int64_t>{layer.getLayerOutFeatures(), layer.getLayerInFeatures()} ||
      !it->second.weight.getElementType().isF32())
    return std::nullopt;
  std::vector<char> storage;
  std::optional<ArrayRef<char>> bytes = constantBytes(it->second.weight, storage);
  if (!bytes)
    return std::nullopt;
  std::vector<float> out(bytes->size() / 4);
  memcpy(out.data(), bytes->data(), out.size() * 4);
  releaseWeightPages(layer->getContext(), *bytes);
  return out;
}

namespace {

/// The bytes of a constant operand, or an error naming it.
llvm::Expected<std::vector<char>> operandBytes(Value v, StringRef what) {
  ElementsAttr attr;
  std::vector<char> storage;
  std::optional<ArrayRef<char>> bytes;
  if (matchPattern(v, m_Constant(&attr)))
    bytes = constantBytes(attr, storage);
  if (!bytes)
    return llvm::createStringError("its " + what + " is not a constant");
  return std::vector<char>(bytes->begin(), bytes->end());
}

/// Dequantised values of a [rows, cols] table of codes with a scale (and
/// zero point) per `group` columns; float tables are read as they are.
llvm::Expected<std::vector<float>> readValues(Value values, Value scales, Value zeroPoints,
                                              int64_t rows, int64_t cols, int64_t bits,
                                              int64_t group) {
  auto data = operandBytes(values, "values");
  if (!data)
    return data.takeError();
  std::vector<float> out(rows * cols);
  if (bits == 0) {
    memcpy(out.data(), data->data(), out.size() * 4);
    return out;
  }
  auto scaleBytes = operandBytes(scales, "scales");
  if (!scaleBytes)
    return scaleBytes.takeError();
  std::vector<char> zeros;
  if (zeroPoints) {
    auto zeroBytes = operandBytes(zeroPoints, "zero points");
    if (!zeroBytes)
      return zeroBytes.takeError();
    zeros = std::move(*zeroBytes);
  }
  const float *scale = reinterpret_cast<const float *>(scaleBytes->data());
  int64_t groups = (cols + group - 1) / group;
  int64_t rowBytes = int64_t(data->size()) / rows;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      int64_t g = r * groups + c / group;
      int32_t code = unpackCode(data->data() + r * rowBytes, c, bits, zeroPoints != nullptr);
      if (zeroPoints)
        code -= int32_t(uint8_t(zeros[g]));
      out[r * cols + c] = float(code) * scale[g];
    }
  return out;
}

} // namespace

int32_t compress::unpackCode(const char *row, int64_t j, int64_t bits, bool unsignedCodes) {
  uint32_t code = bits > 4 ? uint8_t(row[j]) : (uint8_t(row[j / 2]) >> (j % 2 ? 4 : 0)) & 15;
  code &= (1u << bits) - 1;
  if (unsignedCodes)
    return int32_t(code);
  uint32_t sign = 1u << (bits - 1);
  return int32_t(code ^ sign) - int32_t(sign);
}

llvm::Expected<std::vector<float>> compress::decompressedWeight(CompressibleLayer layer) {
  int64_t n = layer.getLayerOutFeatures(), k = layer.getLayerInFeatures();
  if (auto q = dyn_cast<QuantizedLinearOp>(layer.getOperation()))
    return readValues(q.getWeight(), q.getScales(), q.getZeroPoints(), n, k, q.getBits(),
                      q.getGroupSize());
  auto sparse = dyn_cast<SparseLinearOp>(layer.getOperation());
  if (!sparse)
    return llvm::createStringError(("a " + layer.getLayerKind() +
                                    " layer is neither quantized nor sparse").str());
  int64_t stored = sparse.getStoredEntries();
  auto values = readValues(sparse.getValues(), sparse.getScales(), sparse.getZeroPoints(), n,
                           stored, sparse.getBits(), sparse.getGroupSize());
  if (!values)
    return values.takeError();
  auto indices = operandBytes(sparse.getIndices(), "indices");
  if (!indices)
    return indices.takeError();
  std::vector<float> w(n * k, 0.0f);
  if (sparse.isNM()) {
    int64_t keep = *sparse.getKeep(), block = *sparse.getBlock();
    int64_t bitsPerIndex = SparseLinearOp::indexBits(block);
    int64_t rowBytes = int64_t(indices->size()) / n;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < stored; ++j) {
        int64_t bit = j * bitsPerIndex;
        int64_t idx = (uint8_t((*indices)[r * rowBytes + bit / 8]) >> (bit % 8)) &
                      ((1 << bitsPerIndex) - 1);
        w[r * k + j / keep * block + idx] = (*values)[r * stored + j];
      }
    return w;
  }
  auto counts = operandBytes(sparse.getCounts(), "counts");
  if (!counts)
    return counts.takeError();
  const int32_t *count = reinterpret_cast<const int32_t *>(counts->data());
  bool narrow = sparse.getIndices().getType().getElementType().isInteger(16);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < count[r]; ++j) {
      int64_t at = r * stored + j;
      int64_t column = narrow ? uint16_t(reinterpret_cast<const int16_t *>(indices->data())[at])
                              : reinterpret_cast<const int32_t *>(indices->data())[at];
      w[r * k + column] = (*values)[at];
    }
  return w;
}

llvm::Error compress::writeReport(MLIRContext *context, StringRef path, StringRef pass,
                                  llvm::json::Array layers, int64_t bytesBefore,
                                  int64_t bytesAfter) {
  int64_t rewritten = llvm::count_if(layers, [](const llvm::json::Value &layer) {
    return !layer.getAsObject()->get("skipped");
  });
  llvm::json::Object totals{{"layers", rewritten},
                            {"skipped", int64_t(layers.size()) - rewritten},
                            {"bytes_before", bytesBefore},
                            {"bytes_after", bytesAfter}};
  llvm::json::Object doc{
      {"pass", pass}, {"layers", std::move(layers)}, {"totals", std::move(totals)}};
  return publishReport(context, path, std::move(doc));
}

llvm::Error compress::publishReport(MLIRContext *context, StringRef path,
                                    llvm::json::Value document) {
  PendingOutputs *pending = context->getOrLoadDialect<CompressDialect>()->pendingOutputs;
  if (pending)
    pending->addReport(document);
  if (path.empty())
    return llvm::Error::success();
  StringRef folder = llvm::sys::path::parent_path(path);
  if (!folder.empty())
    if (std::error_code ec = llvm::sys::fs::create_directories(folder))
      return llvm::createStringError("cannot create '" + folder + "': " + ec.message());
  auto file = AtomicFile::create(path);
  if (!file)
    return file.takeError();
  file->os() << llvm::formatv("{0:2}", document) << "\n";
  if (pending)
    return pending->add(std::move(*file));
  return file->commit();
}

void compress::setPendingOutputs(MLIRContext *context, PendingOutputs *outputs) {
  context->getOrLoadDialect<CompressDialect>()->pendingOutputs = outputs;
}

FailureOr<SkipPattern> SkipPattern::parse(ModuleOp module, llvm::StringRef pass,
                                          llvm::StringRef pattern) {
  SkipPattern skip(pattern);
  std::string error;
  if (!pattern.empty() && !skip.regex.isValid(error)) {
    module.emitError() << pass << ": bad skip pattern '" << pattern << "': " << error;
    return failure();
  }
  return skip;
}

bool SkipPattern::matches(llvm::StringRef name) const {
  return !pattern.empty() && regex.match(name);
}
