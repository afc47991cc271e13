// Round-to-nearest weight quantization of linear layers (compress-quantize).
#include "passes/compression/Passes.h"

#include "dialects/compress/IR/CompressOps.h"

#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

namespace compress {
#define GEN_PASS_DEF_QUANTIZEPASS
#include "passes/compression/Passes.h.inc"
} // namespace compress

using namespace mlir;
using llvm::SmallVector;

namespace {

/// One layer's weight in integers: packed bytes, scales and zero points in
/// [N, K / group] order.
struct QuantizedWeight {
  std::vector<int8_t> bytes;
  std::vector<float> scales;
  std::vector<int8_t> zeroPoints;
  double relativeError = 0;
};

/// RTN over each group of each row of the [n, k] weight `w`.
QuantizedWeight quantizeRtn(ArrayRef<float> w, int64_t n, int64_t k, int64_t bits,
                            int64_t group, bool symmetric) {
  QuantizedWeight q;
  int64_t perByte = bits <= 4 ? 2 : 1, rowBytes = (k + perByte - 1) / perByte;
  int64_t groups = k / group;
  q.bytes.assign(n * rowBytes, 0);
  q.scales.resize(n * groups);
  if (!symmetric)
    q.zeroPoints.resize(n * groups);
  double errorSq = 0, normSq = 0;
  int64_t qmax = symmetric ? (int64_t(1) << (bits - 1)) - 1 : (int64_t(1) << bits) - 1;
  int64_t qmin = symmetric ? -qmax : 0;
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const float *v = w.data() + r * k + g * group;
      float lo = 0, hi = 0; // the range always holds 0, so that 0 is exact
      for (int64_t i = 0; i < group; ++i) {
        lo = std::min(lo, v[i]);
        hi = std::max(hi, v[i]);
      }
      float scale;
      int64_t zero = 0;
      if (symmetric) {
        scale = std::max(std::fabs(lo), std::fabs(hi)) / float(qmax);
      } else {
        scale = (hi - lo) / float(qmax);
        zero = scale > 0 ? std::clamp<int64_t>(std::nearbyint(-lo / scale), 0, qmax) : 0;
      }
      if (scale == 0)
        scale = 1; // an all-zero group: any scale represents it exactly
      q.scales[r * groups + g] = scale;
      if (!symmetric)
        q.zeroPoints[r * groups + g] = int8_t(uint8_t(zero));
      for (int64_t i = 0; i < group; ++i) {
        int64_t value =
            std::clamp<int64_t>(int64_t(std::nearbyint(v[i] / scale)) + zero, qmin, qmax);
        double restored = double(value - zero) * scale;
        errorSq += (restored - v[i]) * (restored - v[i]);
        normSq += double(v[i]) * v[i];
        int64_t col = g * group + i;
        uint8_t bitsOf = uint8_t(value) & uint8_t((1u << bits) - 1);
        int8_t &byte = q.bytes[r * rowBytes + col / perByte];
        if (perByte == 1)
          byte = int8_t(value);
        else
          byte = int8_t(uint8_t(byte) | (col % 2 ? bitsOf << 4 : bitsOf));
      }
    }
  }
  q.relativeError = normSq > 0 ? std::sqrt(errorSq / normSq) : 0;
  return q;
}

/// The float32 contents of a constant weight, or nullopt.
std::optional<std::vector<float>> constantFloats(Value v) {
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
Value makeConstant(OpBuilder &b, Location loc, RankedTensorType type, ArrayRef<char> bytes,
                   StringRef key) {
  TypedAttr attr;
  if (bytes.size() <= 256)
    attr = DenseElementsAttr::getFromRawBuffer(type, bytes);
  else
    attr = DenseResourceElementsAttr::get(
        type, key, HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, 4));
  return arith::ConstantOp::create(b, loc, attr);
}

std::string layerName(Operation *op, unsigned index) {
  if (auto name = dyn_cast<NameLoc>(op->getLoc()))
    return name.getName().str();
  return "linear" + std::to_string(index);
}

struct QuantizePass : compress::impl::QuantizePassBase<QuantizePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (method != "rtn") {
      module.emitError("compress-quantize: unsupported method '")
          << method << "': only 'rtn' is implemented (GPTQ needs calibration data, not yet taken)";
      return signalPassFailure();
    }
    if (mode != "weight-only") {
      module.emitError("compress-quantize: unsupported mode '")
          << mode << "': only 'weight-only' is implemented";
      return signalPassFailure();
    }
    if (bits != 8 && bits != 4 && bits != 3 && bits != 2) {
      module.emitError("compress-quantize: bits=") << int64_t(bits) << " is not one of 8, 4, 3, 2";
      return signalPassFailure();
    }
    if (groupSize < 0) {
      module.emitError("compress-quantize: group-size=") << int64_t(groupSize) << " is negative";
      return signalPassFailure();
    }
    llvm::Regex skipPattern(skip);
    std::string regexError;
    if (!skip.empty() && !skipPattern.isValid(regexError)) {
      module.emitError("compress-quantize: bad skip pattern '") << skip << "': " << regexError;
      return signalPassFailure();
    }

    llvm::json::Array layers;
    int64_t bytesBefore = 0, bytesAfter = 0;
    SmallVector<compress::LinearOp> linears;
    module.walk([&](compress::LinearOp op) { linears.push_back(op); });
    for (auto [index, op] : llvm::enumerate(linears)) {
      std::string name = layerName(op, index);
      auto weightType = op.getWeight().getType();
      std::optional<std::vector<float>> w = constantFloats(op.getWeight());
      if (!w || (!skip.empty() && skipPattern.match(name)))
        continue;
      int64_t n = weightType.getDimSize(0), k = weightType.getDimSize(1);
      int64_t group = groupSize == 0 ? k : groupSize;
      if (k % group != 0) {
        op.emitError("compress-quantize: group size ")
            << group << " does not divide K = " << k << " of layer '" << name << "'";
        return signalPassFailure();
      }
      QuantizedWeight q = quantizeRtn(*w, n, k, bits, group, symmetric);

      OpBuilder b(op);
      Location loc = op.getLoc();
      Type i8 = b.getI8Type(), f32 = b.getF32Type();
      int64_t rowBytes = int64_t(q.bytes.size()) / n;
      Value weight = makeConstant(b, loc, RankedTensorType::get({n, rowBytes}, i8),
                                  ArrayRef<char>(reinterpret_cast<char *>(q.bytes.data()),
                                                 q.bytes.size()),
                                  name + ".qweight");
      auto scaleType = RankedTensorType::get({n, k / group}, f32);
      Value scales = makeConstant(b, loc, scaleType,
                                  ArrayRef<char>(reinterpret_cast<char *>(q.scales.data()),
                                                 q.scales.size() * 4),
                                  name + ".scales");
      Value zeroPoints;
      if (!symmetric)
        zeroPoints = makeConstant(b, loc, RankedTensorType::get({n, k / group}, i8),
                                  ArrayRef<char>(reinterpret_cast<char *>(q.zeroPoints.data()),
                                                 q.zeroPoints.size()),
                                  name + ".zero_points");
      auto quantized = compress::QuantizedLinearOp::create(
          b, loc, op.getOutput().getType(), op.getInput(), weight, scales, zeroPoints,
          op.getBias(), bits, group);
      op.replaceAllUsesWith(quantized.getResult());
      op.erase();

      int64_t before = n * k * 4;
      int64_t after = int64_t(q.bytes.size() + q.scales.size() * 4 + q.zeroPoints.size());
      bytesBefore += before;
      bytesAfter += after;
      layers.push_back(llvm::json::Object{{"name", name},
                                          {"method", "rtn"},
                                          {"bits", int64_t(bits)},
                                          {"group_size", group},
                                          {"symmetric", bool(symmetric)},
                                          {"bytes_before", before},
                                          {"bytes_after", after},
                                          {"bits_per_weight", 8.0 * after / double(n * k)},
                                          {"weight_relative_error", q.relativeError}});
    }
    if (report.empty())
      return;
    llvm::json::Object totals{{"layers", int64_t(layers.size())},
                              {"bytes_before", bytesBefore},
                              {"bytes_after", bytesAfter}};
    llvm::json::Object doc{{"pass", "compress-quantize"},
                           {"layers", std::move(layers)},
                           {"totals", std::move(totals)}};
    std::error_code ec;
    llvm::raw_fd_ostream os(report, ec, llvm::sys::fs::OF_Text);
    if (ec) {
      module.emitError("compress-quantize: cannot write report '") << report << "': " << ec.message();
      return signalPassFailure();
    }
    os << llvm::formatv("{0:2}", llvm::json::Value(std::move(doc))) << "\n";
  }
};

} // namespace
