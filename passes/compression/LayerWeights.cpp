// Constant weights and reports of compression passes.
#include "passes/compression/LayerWeights.h"

#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

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
        type, key, HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, 4));
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

llvm::Error compress::writeReport(StringRef path, StringRef pass, llvm::json::Array layers,
                                  int64_t bytesBefore, int64_t bytesAfter) {
  int64_t rewritten = llvm::count_if(layers, [](const llvm::json::Value &layer) {
    return !layer.getAsObject()->get("skipped");
  });
  llvm::json::Object totals{{"layers", rewritten},
                            {"skipped", int64_t(layers.size()) - rewritten},
                            {"bytes_before", bytesBefore},
                            {"bytes_after", bytesAfter}};
  llvm::json::Object doc{
      {"pass", pass}, {"layers", std::move(layers)}, {"totals", std::move(totals)}};
  StringRef folder = llvm::sys::path::parent_path(path);
  if (!folder.empty())
    if (std::error_code ec = llvm::sys::fs::create_directories(folder))
      return llvm::createStringError("cannot create '" + folder + "': " + ec.message());
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_Text);
  if (ec)
    return llvm::createStringError("cannot write report '" + path + "': " + ec.message());
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(doc))) << "\n";
  return llvm::Error::success();
}
