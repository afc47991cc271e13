// Round-to-nearest weight quantization of linear layers (compress-quantize).
#include "passes/compression/Passes.h"

#include "passes/compression/Calibration.h"
#include "passes/compression/Gptq.h"
#include "passes/compression/LayerWeights.h"

#include "dialects/compress/IR/CompressOps.h"
#include "lib/support/Progress.h"

#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>

namespace compress {
#define GEN_PASS_DEF_QUANTIZEPASS
#include "passes/compression/Passes.h.inc"
} // namespace compress

using namespace mlir;
using llvm::SmallVector;

namespace {

/// One layer's weight as compress.quantized_linear stores it.
struct PackedWeight {
  std::vector<int8_t> bytes;
  std::vector<float> scales;
  std::vector<int8_t> zeroPoints;
  double relativeError = 0;
};

/// Packs the integers (LayerWeights.h's packCodes) and measures
/// ||W - deq(Q)|| / ||W||.
PackedWeight pack(const compress::QuantizedMatrix &q, const std::vector<float> &w, int64_t n,
                  int64_t k, const compress::QuantizerConfig &config) {
  PackedWeight p;
  p.bytes = compress::packCodes(q.values, n, k, config.bits);
  p.scales = q.scales;
  if (!config.symmetric)
    for (int32_t z : q.zeroPoints)
      p.zeroPoints.push_back(int8_t(uint8_t(z)));
  int64_t groups = config.groups(k);
  double errorSq = 0, normSq = 0;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c) {
      int64_t g = r * groups + c / config.group;
      double restored = double(q.values[r * k + c] - q.zeroPoints[g]) * q.scales[g];
      double original = w[r * k + c];
      errorSq += (restored - original) * (restored - original);
      normSq += original * original;
    }
  p.relativeError = normSq > 0 ? std::sqrt(errorSq / normSq) : 0;
  return p;
}

/// One `layer-bits` entry: layers matching `pattern` get these bits and
/// group size (0: the pass's group size).
struct LayerOverride {
  std::unique_ptr<llvm::Regex> pattern;
  int64_t bits, group;
};

/// Parses REGEX:BITS[:GROUP];... (numbers taken from the right, so the
/// pattern may hold ':').
llvm::Expected<std::vector<LayerOverride>> parseOverrides(llvm::StringRef text) {
  std::vector<LayerOverride> out;
  llvm::SmallVector<llvm::StringRef> entries;
  text.split(entries, ';', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef entry : entries) {
    auto bad = [&](const llvm::Twine &why) {
      return llvm::createStringError("compress-quantize: bad layer-bits entry '" + entry +
                                     "': " + why);
    };
    auto [head, last] = entry.rsplit(':');
    int64_t first, second;
    if (last.getAsInteger(10, first))
      return bad("expected REGEX:BITS[:GROUP]");
    LayerOverride o;
    auto [pattern, maybeBits] = head.rsplit(':');
    if (!maybeBits.getAsInteger(10, second) && head.contains(':')) {
      o.bits = second;
      o.group = first;
    } else {
      pattern = head;
      o.bits = first;
      o.group = 0;
    }
    if (o.bits != 8 && o.bits != 4 && o.bits != 3 && o.bits != 2)
      return bad("bits must be 8, 4, 3 or 2");
    o.pattern = std::make_unique<llvm::Regex>(pattern);
    std::string error;
    if (!o.pattern->isValid(error))
      return bad(error);
    out.push_back(std::move(o));
  }
  return out;
}

/// Why compress-quantize leaves `layer` alone, or nullopt when it can
/// quantize it: a compress.linear with a float32 constant weight, or a
/// compress.sparse_linear with float32 constant values (round to nearest).
std::optional<std::string> unsupportedReason(compress::CompressibleLayer layer,
                                             llvm::StringRef method, int64_t bits) {
  if (auto sparse = dyn_cast<compress::SparseLinearOp>(layer.getOperation())) {
    if (sparse.getBits() != 0)
      return std::string("already quantized (sparse_linear)");
    if (method != "rtn")
      return std::string("GPTQ would fill a pruned layer's zeros: prune and quantize in one "
                         "sweep with compress-prune{method=sparsegpt bits=...}");
    if (bits != 8 && bits != 4)
      return std::string("sparse layers hold 8- or 4-bit codes");
    if (!compress::constantFloats(sparse.getValues()))
      return std::string("the values are not a float32 constant");
    return std::nullopt;
  }
  if (layer.isCompressedLayer())
    return ("already compressed (" + layer.getLayerKind() + ")").str();
  auto linear = dyn_cast<compress::LinearOp>(layer.getOperation());
  if (!linear)
    return ("compress-quantize quantizes linear layers, not " + layer.getLayerKind()).str();
  if (!linear.getWeight().getType().getElementType().isF32())
    return std::string("the weight is not float32");
  if (!compress::constantFloats(linear.getWeight()))
    return std::string("the weight is not a constant");
  return std::nullopt;
}

struct QuantizePass : compress::impl::QuantizePassBase<QuantizePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (method != "rtn" && method != "gptq") {
      module.emitError("compress-quantize: unsupported method '")
          << method << "' (supported: rtn, gptq)";
      return signalPassFailure();
    }
    compress::Calibration &calibration = getAnalysis<compress::Calibration>();
    if (method == "gptq" && !calibration.available()) {
      module.emitError("compress-quantize: method 'gptq' needs calibration data (--calibration DIR "
                       "of compress-opt, compress-run or compress-compile)");
      return signalPassFailure();
    }
    if (mode != "weight-only" && mode != "w8a8" && mode != "w4a8") {
      module.emitError("compress-quantize: unsupported mode '")
          << mode << "' (supported: weight-only, w8a8, w4a8)";
      return signalPassFailure();
    }
    bool int8Activations = mode != "weight-only";
    if (int8Activations && bits != (mode == "w8a8" ? 8 : 4)) {
      module.emitError("compress-quantize: mode=")
          << mode << " quantizes weights to " << (mode == "w8a8" ? 8 : 4) << " bits, but bits="
          << int64_t(bits);
      return signalPassFailure();
    }
    if (bits != 8 && bits != 4 && bits != 3 && bits != 2) {
      module.emitError("compress-quantize: bits=") << int64_t(bits) << " is not one of 8, 4, 3, 2";
      return signalPassFailure();
    }
    if (!(damp > 0 && damp <= 1)) {
      std::string value;
      llvm::raw_string_ostream(value) << llvm::format("%g", double(damp));
      module.emitError("compress-quantize: damp=") << value << " is not in (0, 1]";
      return signalPassFailure();
    }
    if (groupSize < 0) {
      module.emitError("compress-quantize: group-size=") << int64_t(groupSize) << " is negative";
      return signalPassFailure();
    }
    FailureOr<compress::SkipPattern> skipPattern =
        compress::SkipPattern::parse(module, "compress-quantize", skip);
    if (failed(skipPattern))
      return signalPassFailure();

    auto overrides = parseOverrides(layerBits);
    if (!overrides) {
      module.emitError(llvm::toString(overrides.takeError()));
      return signalPassFailure();
    }

    llvm::json::Array layers;
    int64_t bytesBefore = 0, bytesAfter = 0;
    // A weight several layers share (compress-share-blocks) is quantized
    // once, by its first layer, and its codes shared likewise (when the
    // others ask for the same bits and group size).
    struct SharedCodes {
      Value weight, scales, zeroPoints;
      int64_t bits, group;
      std::string firstLayer;
    };
    llvm::DenseMap<Value, SharedCodes> quantizedWeights;
    SmallVector<compress::CompressibleLayer> candidates;
    module.walk([&](compress::CompressibleLayer layer) { candidates.push_back(layer); });
    compress::Progress bar("compress-quantize", "layers", candidates.size(), progress);
    for (auto [index, layer] : llvm::enumerate(candidates)) {
      std::string name = layer.getLayerName("layer" + std::to_string(index));
      bar.next(name);
      if (skipPattern->matches(name)) {
        layers.push_back(llvm::json::Object{{"name", name},
                                            {"kind", layer.getLayerKind()},
                                            {"skipped", skipPattern->reason()}});
        continue;
      }
      if (std::optional<std::string> reason = unsupportedReason(layer, method, bits)) {
        layer->emitWarning("compress-quantize: layer '") << name << "' left as it is: " << *reason;
        layers.push_back(llvm::json::Object{
            {"name", name}, {"kind", layer.getLayerKind()}, {"skipped", *reason}});
        continue;
      }
      if (auto sparse = dyn_cast<compress::SparseLinearOp>(layer.getOperation())) {
        llvm::json::Object entry = quantizeSparse(sparse, name, int8Activations);
        bytesBefore += *entry.getInteger("bytes_before");
        bytesAfter += *entry.getInteger("bytes_after");
        layers.push_back(std::move(entry));
        continue;
      }
      auto op = cast<compress::LinearOp>(layer.getOperation());
      auto weightType = op.getWeight().getType();
      std::vector<float> w = *compress::constantFloats(op.getWeight());
      int64_t n = weightType.getDimSize(0), k = weightType.getDimSize(1);
      int64_t layerBitCount = bits, layerGroup = groupSize;
      for (const LayerOverride &o : *overrides)
        if (o.pattern->match(name)) {
          layerBitCount = o.bits;
          layerGroup = o.group ? o.group : groupSize;
          break;
        }
      // A group size that does not divide K leaves a partial last group.
      int64_t group = layerGroup == 0 ? k : std::min(layerGroup, k);
      // A weight already quantized the same way for another layer is
      // reused; layers asking for other bits quantize their own copy.
      auto shared = quantizedWeights.find(op.getWeight());
      if (shared != quantizedWeights.end() && shared->second.bits == layerBitCount &&
          shared->second.group == group) {
        const SharedCodes &codes = shared->second;
        OpBuilder b(op);
        auto quantized = compress::QuantizedLinearOp::create(
            b, op.getLoc(), op.getOutput().getType(), op.getInput(), codes.weight, codes.scales,
            codes.zeroPoints, op.getBias(), layerBitCount, group, k, int8Activations);
        op.replaceAllUsesWith(quantized.getResult());
        compress::recordUncompressedWeight(quantized, op.getWeight());
        Operation *floatWeight = op.getWeight().getDefiningOp();
        op.erase();
        if (floatWeight && floatWeight->use_empty())
          floatWeight->erase();
        layers.push_back(llvm::json::Object{{"name", name},
                                            {"method", method},
                                            {"bits", layerBitCount},
                                            {"group_size", group},
                                            {"shares_weight_of", codes.firstLayer},
                                            {"bytes_before", 0},
                                            {"bytes_after", 0}});
        continue;
      }
      compress::QuantizerConfig config{layerBitCount, group, symmetric};
      compress::QuantizedMatrix matrix;
      const compress::InputStatistics *statistics = nullptr;
      // What each layer costs (--progress; not in the report, which stays
      // the same from run to run): the plan for spreading a large model's
      // compression over machines rests on these (docs/scale.md).
      auto started = std::chrono::steady_clock::now();
      double calibrationSeconds = 0;
      // GPTQ needs the statistics; RTN only reports the output error they
      // give, so it measures only when someone reads it (a whole model's
      // segments cost far more than rounding its weights).
      bool measure = method == "gptq" || !report.empty() || progress;
      if (measure && calibration.available()) {
        auto measured = calibration->inputStatistics(layer);
        if (!measured) {
          op.emitError("compress-quantize: calibration of layer '")
              << name << "' failed: " << llvm::toString(measured.takeError());
          return signalPassFailure();
        }
        statistics = &*measured;
        calibrationSeconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      }
      if (method == "gptq")
        matrix = compress::quantizeGptq(w, n, k, statistics->hessian, config, actOrder,
                                        /*blockSize=*/128, damp);
      else
        matrix = compress::quantizeRtn(w, n, k, config);
      PackedWeight q = pack(matrix, w, n, k, config);
      double quantizeSeconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() -
          calibrationSeconds;
      // With calibration data, the layer's output error on it (float inputs).
      std::optional<double> outputError;
      if (statistics)
        outputError = compress::relativeOutputError(
            w, compress::dequantize(matrix, n, k, config), n, k, statistics->hessian);

      OpBuilder b(op);
      Location loc = op.getLoc();
      Type i8 = b.getI8Type(), f32 = b.getF32Type();
      int64_t rowBytes = int64_t(q.bytes.size()) / n;
      Value weight = compress::makeConstant(b, loc, RankedTensorType::get({n, rowBytes}, i8),
                                  ArrayRef<char>(reinterpret_cast<char *>(q.bytes.data()),
                                                 q.bytes.size()),
                                  name + ".qweight");
      auto scaleType = RankedTensorType::get({n, config.groups(k)}, f32);
      Value scales = compress::makeConstant(b, loc, scaleType,
                                  ArrayRef<char>(reinterpret_cast<char *>(q.scales.data()),
                                                 q.scales.size() * 4),
                                  name + ".scales");
      Value zeroPoints;
      if (!symmetric)
        zeroPoints = compress::makeConstant(b, loc, RankedTensorType::get({n, config.groups(k)}, i8),
                                  ArrayRef<char>(reinterpret_cast<char *>(q.zeroPoints.data()),
                                                 q.zeroPoints.size()),
                                  name + ".zero_points");
      auto quantized = compress::QuantizedLinearOp::create(
          b, loc, op.getOutput().getType(), op.getInput(), weight, scales, zeroPoints,
          op.getBias(), layerBitCount, group, k, int8Activations);
      op.replaceAllUsesWith(quantized.getResult());
      compress::recordUncompressedWeight(quantized, op.getWeight());
      Value floatValue = op.getWeight();
      Operation *floatWeight = floatValue.getDefiningOp();
      op.erase();
      // The float weight, now unused, must not reach the weights file.
      if (floatWeight && floatWeight->use_empty())
        floatWeight->erase();
      else
        quantizedWeights[floatValue] = {weight, scales, zeroPoints, layerBitCount, group, name};

      if (progress)
        llvm::errs() << "compress-quantize: [" << index + 1 << "/" << candidates.size() << "] "
                     << name << ": " << method << " " << layerBitCount << "-bit, group "
                     << group << ", weight error " << llvm::format("%.4f", q.relativeError)
                     << (outputError ? llvm::formatv(", output error on calibration data {0:f4}",
                                                     *outputError)
                                           .str()
                                     : std::string())
                     << llvm::format(", %.2f s", quantizeSeconds)
                     << (statistics ? llvm::formatv(" (+{0:f2} s calibration)", calibrationSeconds).str()
                                    : std::string())
                     << "\n";
      int64_t before = n * k * 4;
      int64_t after = int64_t(q.bytes.size() + q.scales.size() * 4 + q.zeroPoints.size());
      bytesBefore += before;
      bytesAfter += after;
      layers.push_back(llvm::json::Object{{"name", name},
                                          {"method", method},
                                          {"bits", layerBitCount},
                                          {"group_size", group},
                                          {"symmetric", bool(symmetric)},
                                          {"activations", int8Activations ? "int8" : "float"},
                                          // 3- and 2-bit codes take a nibble each
                                          {"stored_bits", layerBitCount <= 4 ? 4 : 8},
                                          {"bytes_before", before},
                                          {"bytes_after", after},
                                          {"bits_per_weight", 8.0 * after / double(n * k)},
                                          {"weight_relative_error", q.relativeError}});
      if (outputError)
        layers.back().getAsObject()->insert({"output_relative_error", *outputError});
    }
    bar.finish();
    if (llvm::Error e = compress::writeReport(&getContext(), report, "compress-quantize",
                                              std::move(layers), bytesBefore, bytesAfter)) {
      module.emitError("compress-quantize: ") << llvm::toString(std::move(e));
      return signalPassFailure();
    }
  }

  /// Rounds the stored values of a pruned layer to `bits`-bit codes with a
  /// scale per group of stored entries (`group-size` columns of an N:M
  /// layer hold group-size * N / M entries; an ELL layer's groups count
  /// entries), keeping its sparsity pattern.
  llvm::json::Object quantizeSparse(compress::SparseLinearOp op, llvm::StringRef name,
                                    bool int8Activations) {
    auto valuesType = op.getValues().getType();
    int64_t n = valuesType.getDimSize(0), stored = valuesType.getDimSize(1);
    int64_t group = stored;
    if (groupSize != 0)
      group = op.isNM() ? std::max<int64_t>(1, groupSize * *op.getKeep() / *op.getBlock())
                        : int64_t(groupSize);
    group = std::min(group, stored);
    compress::QuantizerConfig config{bits, group, symmetric};
    std::vector<float> values = *compress::constantFloats(op.getValues());
    compress::QuantizedMatrix q = compress::quantizeRtn(values, n, stored, config);
    PackedWeight packed = pack(q, values, n, stored, config);
    OpBuilder b(op);
    Location loc = op.getLoc();
    Value codes = compress::makeConstant(
        b, loc, RankedTensorType::get({n, int64_t(packed.bytes.size()) / n}, b.getI8Type()),
        packed.bytes, (name + ".qvalues").str());
    auto tableType = RankedTensorType::get({n, config.groups(stored)}, b.getF32Type());
    Value scales = compress::makeConstant(b, loc, tableType, packed.scales, (name + ".scales").str());
    Value zeroPoints;
    if (!symmetric)
      zeroPoints = compress::makeConstant(
          b, loc, RankedTensorType::get({n, config.groups(stored)}, b.getI8Type()),
          packed.zeroPoints, (name + ".zero_points").str());
    auto quantized = compress::SparseLinearOp::create(
        b, loc, op.getOutput().getType(), op.getInput(), codes, op.getIndices(), op.getCounts(),
        scales, zeroPoints, op.getBias(), op.getInFeatures(), op.getKeepAttr(), op.getBlockAttr(),
        bits, group, int8Activations);
    op.replaceAllUsesWith(quantized.getResult());
    compress::forwardUncompressedWeight(op, quantized);
    Operation *floatValues = op.getValues().getDefiningOp();
    op.erase();
    if (floatValues && floatValues->use_empty())
      floatValues->erase();
    int64_t before = n * stored * 4;
    int64_t after = int64_t(packed.bytes.size() + packed.scales.size() * 4 + packed.zeroPoints.size());
    return llvm::json::Object{{"name", name},
                              {"method", "rtn"},
                              {"bits", int64_t(bits)},
                              {"group_size", group},
                              {"group_counts", "stored entries of the sparse layer"},
                              {"symmetric", bool(symmetric)},
                              {"activations", int8Activations ? "int8" : "float"},
                              {"bytes_before", before},
                              {"bytes_after", after},
                              {"weight_relative_error", packed.relativeError}};
  }
};

} // namespace
