// Pruning of linear layers (compress-prune): magnitude, Wanda and SparseGPT,
// unstructured or N:M, stored as compress.sparse_linear where that pays;
// structured pruning lives in StructuredPruning.cpp.
#include "passes/compression/Passes.h"

#include "passes/compression/Calibration.h"
#include "passes/compression/LayerWeights.h"
#include "passes/compression/Pruning.h"
#include "passes/compression/StructuredPruning.h"

#include "dialects/compress/IR/CompressOps.h"
#include "lib/support/Progress.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

namespace compress {
#define GEN_PASS_DEF_PRUNEPASS
#include "passes/compression/Passes.h.inc"
} // namespace compress

using namespace mlir;
using namespace compress;
using llvm::SmallVector;

namespace {

/// One `layer-sparsity` entry.
struct SparsityOverride {
  std::unique_ptr<llvm::Regex> pattern;
  double sparsity;
};

bool validSparsity(double s) { return s >= 0 && s < 1; }

/// Parses REGEX:S;... (the number taken from the right, so the pattern may
/// hold ':').
llvm::Expected<std::vector<SparsityOverride>> parseOverrides(StringRef text) {
  std::vector<SparsityOverride> out;
  SmallVector<StringRef> entries;
  text.split(entries, ';', -1, /*KeepEmpty=*/false);
  for (StringRef entry : entries) {
    auto [pattern, value] = entry.rsplit(':');
    SparsityOverride o;
    if (!entry.contains(':') || value.getAsDouble(o.sparsity) || !validSparsity(o.sparsity))
      return llvm::createStringError("compress-prune: bad layer-sparsity entry '" + entry +
                                     "': expected REGEX:S with S in [0, 1)");
    o.pattern = std::make_unique<llvm::Regex>(pattern);
    std::string error;
    if (!o.pattern->isValid(error))
      return llvm::createStringError("compress-prune: bad layer-sparsity entry '" + entry +
                                     "': " + error);
    out.push_back(std::move(o));
  }
  return out;
}

/// Why compress-prune leaves `layer` alone, or nullopt when it can prune
/// it: a compress.linear with a float32 constant weight.
std::optional<std::string> unsupportedReason(CompressibleLayer layer) {
  if (layer.isCompressedLayer())
    return ("already compressed (" + layer.getLayerKind() + ")").str();
  auto linear = dyn_cast<LinearOp>(layer.getOperation());
  if (!linear)
    return ("compress-prune prunes linear layers, not " + layer.getLayerKind()).str();
  if (!linear.getWeight().getType().getElementType().isF32() ||
      !linear.getWeight().getType().hasStaticShape())
    return std::string("the weight is not a static float32 tensor");
  if (!constantFloats(linear.getWeight()))
    return std::string("the weight is not a constant");
  return std::nullopt;
}

/// A layer's pruned weight ready to be stored.
struct PrunedLayer {
  int64_t n, k;
  PrunedMatrix pruned;                // weight (dequantized when quantized) and mask
  std::optional<QuantizerConfig> quantizer;
};

/// The sparse entries of each row: columns of kept weights in order.
std::vector<std::vector<int32_t>> keptColumns(const PrunedLayer &layer) {
  std::vector<std::vector<int32_t>> rows(layer.n);
  for (int64_t r = 0; r < layer.n; ++r)
    for (int64_t c = 0; c < layer.k; ++c)
      if (layer.pruned.mask[r * layer.k + c])
        rows[r].push_back(int32_t(c));
  return rows;
}

/// What a rewritten layer reports of its storage.
struct Stored {
  Value result;
  std::string format, reason;
  int64_t bytes = 0;
};

/// Builds the values (float, or codes with their scales and zero points)
/// of the stored entries `entries[r]` (columns of row r, padded to `width`
/// per row), returning the operands of a compress.sparse_linear.
struct SparseValues {
  Value values, scales, zeroPoints;
  int64_t bytes = 0;
};
SparseValues buildSparseValues(OpBuilder &b, Location loc, const PrunedLayer &layer,
                               const std::vector<std::vector<int32_t>> &entries, int64_t width,
                               StringRef name) {
  SparseValues out;
  int64_t n = layer.n, k = layer.k;
  if (!layer.quantizer) {
    std::vector<float> values(n * width, 0.0f);
    for (int64_t r = 0; r < n; ++r)
      for (size_t j = 0; j < entries[r].size(); ++j)
        values[r * width + j] = layer.pruned.weight[r * k + entries[r][j]];
    out.values = makeConstant(b, loc, RankedTensorType::get({n, width}, b.getF32Type()), values,
                              (name + ".values").str());
    out.bytes = int64_t(values.size()) * 4;
    return out;
  }
  const QuantizedMatrix &q = *layer.pruned.quantized;
  const QuantizerConfig &config = *layer.quantizer;
  int64_t groups = config.groups(k);
  std::vector<int32_t> codes(n * width, 0);
  for (int64_t r = 0; r < n; ++r)
    for (size_t j = 0; j < entries[r].size(); ++j)
      codes[r * width + j] = q.values[r * k + entries[r][j]];
  std::vector<int8_t> bytes = packCodes(codes, n, width, config.bits);
  out.values = makeConstant(b, loc,
                            RankedTensorType::get({n, int64_t(bytes.size()) / n}, b.getI8Type()),
                            bytes, (name + ".qvalues").str());
  auto tableType = RankedTensorType::get({n, groups}, b.getF32Type());
  out.scales = makeConstant(b, loc, tableType, q.scales, (name + ".scales").str());
  out.bytes = int64_t(bytes.size() + q.scales.size() * 4);
  if (!config.symmetric) {
    std::vector<int8_t> zeros(q.zeroPoints.begin(), q.zeroPoints.end());
    out.zeroPoints = makeConstant(b, loc, RankedTensorType::get({n, groups}, b.getI8Type()), zeros,
                                  (name + ".zero_points").str());
    out.bytes += int64_t(zeros.size());
  }
  return out;
}

struct PrunePass : compress::impl::PrunePassBase<PrunePass> {
  using Base::Base;

  /// The N:M pattern or unstructured; nullopt for structured.
  SparsityPattern layerPattern;
  bool structured = false;
  bool int8Activations = false;

  LogicalResult checkOptions(ModuleOp module, bool calibrated) {
    auto fail = [&](const Twine &message) {
      module.emitError("compress-prune: ") << message;
      return failure();
    };
    if (method != "magnitude" && method != "wanda" && method != "sparsegpt")
      return fail("unsupported method '" + method + "' (supported: magnitude, wanda, sparsegpt)");
    if (!validSparsity(sparsity))
      return fail("sparsity=" + llvm::formatv("{0}", llvm::format("%g", double(sparsity))).str() +
                  " is not in [0, 1)");
    StringRef p = pattern;
    if (p == "structured") {
      structured = true;
    } else if (p != "unstructured") {
      auto [keepText, blockText] = p.split(':');
      if (keepText.getAsInteger(10, layerPattern.keep) ||
          blockText.getAsInteger(10, layerPattern.block))
        return fail("unsupported pattern '" + pattern +
                    "' (supported: unstructured, N:M such as 2:4, structured)");
      if (layerPattern.keep < 1 || layerPattern.keep >= layerPattern.block ||
          layerPattern.block > 16)
        return fail("pattern=" + pattern + " needs 1 <= N < M <= 16");
    }
    if ((method != "magnitude" || structured || allocate == "owl") && !calibrated)
      return fail((structured ? "pattern=structured" : allocate == "owl" ? "allocate=owl"
                                                                         : "method=" + method) +
                  " needs calibration data (--calibration DIR of compress-opt, compress-run "
                  "or compress-compile)");
    if (allocate != "uniform" && allocate != "owl")
      return fail("unsupported allocate '" + allocate + "' (supported: uniform, owl)");
    if (allocate == "owl" && (layerPattern.isNM() || structured))
      return fail("allocate=owl spreads unstructured sparsity; pattern=" + pattern +
                  " fixes it per layer");
    if (format != "auto" && format != "sparse" && format != "dense")
      return fail("unsupported format '" + format + "' (supported: auto, sparse, dense)");
    if (!(ellMaxDensity > 0 && ellMaxDensity <= 1))
      return fail("ell-max-density must be in (0, 1]");
    if (bits != 0 && bits != 8 && bits != 4)
      return fail("bits=" + std::to_string(bits) + " is not one of 8, 4 (or 0: float)");
    if (mode != "weight-only" && mode != "w8a8" && mode != "w4a8")
      return fail("unsupported mode '" + mode + "' (supported: weight-only, w8a8, w4a8)");
    int8Activations = mode != "weight-only";
    if (int8Activations && bits != (mode == "w8a8" ? 8 : 4))
      return fail("mode=" + mode + " needs bits=" + (mode == "w8a8" ? "8" : "4"));
    if (groupSize < 0 || (bits == 0 && groupSize != 0))
      return fail("group-size needs bits and must not be negative");
    if (layerPattern.isNM() && groupSize % layerPattern.block != 0)
      return fail("group-size=" + std::to_string(groupSize) + " is not a multiple of M = " +
                  std::to_string(layerPattern.block));
    if (blockSize < 1)
      return fail("block-size must be positive");
    if (!(damp > 0 && damp <= 1))
      return fail("damp must be in (0, 1]");
    return success();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    Calibration &calibration = getAnalysis<Calibration>();
    if (failed(checkOptions(module, calibration.available())))
      return signalPassFailure();
    auto overrides = parseOverrides(layerSparsity);
    if (!overrides) {
      module.emitError(llvm::toString(overrides.takeError()));
      return signalPassFailure();
    }
    FailureOr<compress::SkipPattern> skipPattern =
        compress::SkipPattern::parse(module, "compress-prune", skip);
    if (failed(skipPattern))
      return signalPassFailure();

    llvm::json::Array layers;
    if (structured) {
      StructuredPruneOptions options{sparsity, {}, progress};
      SmallVector<StringRef> targets;
      StringRef(structuredTargets).split(targets, ',', -1, /*KeepEmpty=*/false);
      for (StringRef t : targets) {
        if (t != "mlp" && t != "heads" && t != "conv") {
          module.emitError("compress-prune: unknown structured target '")
              << t << "' (supported: mlp, heads, conv)";
          return signalPassFailure();
        }
        options.targets.push_back(t.str());
      }
      if (llvm::Error e = pruneStructured(module, calibration, options, layers)) {
        module.emitError("compress-prune: ") << llvm::toString(std::move(e));
        return signalPassFailure();
      }
      // Structures report parameters; float32 bytes are four times as many.
      int64_t before = 0, after = 0;
      for (const llvm::json::Value &entry : layers) {
        before += entry.getAsObject()->getInteger("parameters_before").value_or(0) * 4;
        after += entry.getAsObject()->getInteger("parameters_after").value_or(0) * 4;
      }
      return finish(module, std::move(layers), before, after);
    }

    // The layers to prune, checked before any is touched.
    SmallVector<CompressibleLayer> candidates;
    SmallVector<std::string> names;
    module.walk([&](CompressibleLayer layer) {
      std::string name = layer.getLayerName("layer" + std::to_string(names.size()));
      names.push_back(name);
      if (skipPattern->matches(name)) {
        layers.push_back(llvm::json::Object{{"name", name},
                                            {"kind", layer.getLayerKind()},
                                            {"skipped", skipPattern->reason()}});
        return;
      }
      if (std::optional<std::string> reason = unsupportedReason(layer)) {
        layer->emitWarning("compress-prune: layer '") << name << "' left as it is: " << *reason;
        layers.push_back(llvm::json::Object{
            {"name", name}, {"kind", layer.getLayerKind()}, {"skipped", *reason}});
        return;
      }
      candidates.push_back(layer);
    });
    for (CompressibleLayer layer : candidates)
      if (layerPattern.isNM() && layer.getLayerInFeatures() % layerPattern.block != 0) {
        layer->emitError("compress-prune: pattern=")
            << pattern << ": M = " << layerPattern.block << " does not divide K = "
            << layer.getLayerInFeatures() << " of layer '"
            << layer.getLayerName("") << "'";
        return signalPassFailure();
      }

    // Each layer's sparsity: uniform, OWL's allocation, then overrides.
    std::vector<double> layerSparsities(candidates.size(), sparsity);
    if (allocate == "owl" && failed(allocateOwl(candidates, calibration, layerSparsities)))
      return signalPassFailure();
    for (auto [index, layer] : llvm::enumerate(candidates))
      for (const SparsityOverride &o : *overrides)
        if (o.pattern->match(layer.getLayerName(""))) {
          layerSparsities[index] = o.sparsity;
          break;
        }

    int64_t bytesBefore = 0, bytesAfter = 0;
    Progress bar("compress-prune", "layers", candidates.size(), progress);
    for (auto [index, layer] : llvm::enumerate(candidates)) {
      auto linear = cast<LinearOp>(layer.getOperation());
      std::string name = layer.getLayerName("layer" + std::to_string(index));
      bar.next(name);
      std::vector<float> w = *constantFloats(linear.getWeight());
      int64_t n = layer.getLayerOutFeatures(), k = layer.getLayerInFeatures();
      SparsityPattern sparsityPattern = layerPattern;
      sparsityPattern.sparsity = layerSparsities[index];

      // Valid until the next request to the session (this layer's).
      const InputStatistics *statistics = nullptr;
      if (calibration.available()) {
        auto measured = calibration->inputStatistics(layer);
        if (!measured) {
          linear.emitError("compress-prune: calibration of layer '")
              << name << "' failed: " << llvm::toString(measured.takeError());
          return signalPassFailure();
        }
        statistics = &*measured;
      }
      PrunedLayer pruned{n, k, {}, std::nullopt};
      if (bits != 0) {
        int64_t group = groupSize == 0 ? k : std::min<int64_t>(groupSize, k);
        pruned.quantizer = QuantizerConfig{bits, group, symmetric};
      }
      if (method == "sparsegpt") {
        pruned.pruned = pruneSparseGpt(w, n, k, statistics->hessian, sparsityPattern,
                                       pruned.quantizer, blockSize, damp);
      } else {
        Mask mask = method == "wanda" ? wandaMask(w, n, k, statistics->l2Norm, sparsityPattern)
                                      : magnitudeMask(w, n, k, sparsityPattern);
        pruned.pruned.weight = applyMask(w, mask);
        pruned.pruned.mask = std::move(mask);
        if (pruned.quantizer) {
          pruned.pruned.quantized = quantizeRtn(pruned.pruned.weight, n, k, *pruned.quantizer);
          pruned.pruned.weight = dequantize(*pruned.pruned.quantized, n, k, *pruned.quantizer);
        }
      }
      Stored stored = store(linear, pruned, name);
      linear.replaceAllUsesWith(stored.result);
      recordUncompressedWeight(cast<CompressibleLayer>(stored.result.getDefiningOp()),
                               linear.getWeight());
      Operation *floatWeight = linear.getWeight().getDefiningOp();
      linear.erase();
      if (floatWeight && floatWeight->use_empty())
        floatWeight->erase();

      int64_t zeros = llvm::count(pruned.pruned.mask, 0);
      double achieved = double(zeros) / double(n * k);
      std::optional<double> outputError;
      if (statistics)
        outputError = relativeOutputError(w, pruned.pruned.weight, n, k, statistics->hessian);
      if (progress)
        llvm::errs() << "compress-prune: [" << index + 1 << "/" << candidates.size() << "] "
                     << name << ": " << method << " " << pattern << ", sparsity "
                     << llvm::format("%.4f", achieved) << ", " << stored.format
                     << (outputError ? llvm::formatv(", output error on calibration data {0:f4}",
                                                     *outputError)
                                           .str()
                                     : std::string())
                     << "\n";
      int64_t before = n * k * 4;
      bytesBefore += before;
      bytesAfter += stored.bytes;
      llvm::json::Object entry{{"name", name},
                               {"method", method},
                               {"pattern", pattern},
                               {"target_sparsity", sparsityPattern.isNM()
                                                       ? 1.0 - double(sparsityPattern.keep) /
                                                                   double(sparsityPattern.block)
                                                       : sparsityPattern.sparsity},
                               {"sparsity", achieved},
                               {"format", stored.format},
                               {"format_reason", stored.reason},
                               {"bits", bits == 0 ? 32 : int64_t(bits)},
                               {"bytes_before", before},
                               {"bytes_after", stored.bytes}};
      if (outputError)
        entry.insert({"output_relative_error", *outputError});
      layers.push_back(std::move(entry));
    }
    bar.finish();
    finish(module, std::move(layers), bytesBefore, bytesAfter);
  }

  /// OWL: per-layer sparsities from the outlier ratios of the Wanda scores
  /// of the unpruned model (see the pass description).
  LogicalResult allocateOwl(ArrayRef<CompressibleLayer> candidates, Calibration &calibration,
                            std::vector<double> &sparsities) {
    std::vector<double> ratios, parameters;
    for (CompressibleLayer layer : candidates) {
      auto measured = calibration->inputStatistics(layer);
      if (!measured) {
        layer->emitError("compress-prune: calibration of layer '")
            << layer.getLayerName("") << "' failed: " << llvm::toString(measured.takeError());
        return failure();
      }
      std::vector<float> w = *constantFloats(cast<LinearOp>(layer).getWeight());
      int64_t k = layer.getLayerInFeatures();
      double sum = 0;
      std::vector<double> scores(w.size());
      for (size_t i = 0; i < w.size(); ++i)
        sum += scores[i] = std::fabs(double(w[i])) * measured->l2Norm[i % k];
      double threshold = owlThreshold * sum / double(w.size());
      ratios.push_back(double(llvm::count_if(scores, [&](double s) { return s > threshold; })) /
                       double(w.size()));
      parameters.push_back(double(w.size()));
    }
    auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
    double spread = *hi - *lo, weightedMean = 0, total = 0;
    std::vector<double> r(ratios.size(), 0.0);
    for (size_t i = 0; i < ratios.size(); ++i) {
      r[i] = spread > 0 ? 2 * owlLambda * (ratios[i] - *lo) / spread : 0;
      weightedMean += r[i] * parameters[i];
      total += parameters[i];
    }
    weightedMean /= total;
    for (size_t i = 0; i < ratios.size(); ++i)
      sparsities[i] = std::clamp(sparsity - (r[i] - weightedMean), 0.0, 0.99);
    return success();
  }

  /// Replaces nothing; builds the op that stores `layer`'s pruned weight:
  /// N:M or ELL compress.sparse_linear, or a dense layer (float with zeros,
  /// or quantized codes) when the sparse form does not pay.
  Stored store(LinearOp op, const PrunedLayer &layer, StringRef name) {
    OpBuilder b(op);
    Location loc = op.getLoc();
    int64_t n = layer.n, k = layer.k;
    Stored stored;
    std::vector<std::vector<int32_t>> entries = keptColumns(layer);
    int64_t widest = 0;
    for (const auto &row : entries)
      widest = std::max<int64_t>(widest, row.size());
    double density = double(widest) / double(k);
    bool sparse = false;
    if (layerPattern.isNM()) {
      sparse = format != "dense";
      stored.reason = sparse ? "N:M" : "format=dense";
    } else if (format == "dense") {
      stored.reason = "format=dense";
    } else if (layer.quantizer) {
      stored.reason = "unstructured quantized weights are stored dense (their groups span columns)";
    } else if (format == "auto") {
      sparse = density <= ellMaxDensity;
      stored.reason = llvm::formatv("widest row keeps {0:f3} of K, {1} the break-even {2:f2}",
                                    density, sparse ? "within" : "above", double(ellMaxDensity))
                          .str();
    } else {
      sparse = true;
      stored.reason = "format=sparse";
    }
    if (!sparse)
      return storeDense(b, op, layer, name, stored);

    if (layerPattern.isNM()) {
      int64_t keep = layerPattern.keep, block = layerPattern.block;
      int64_t perRow = k / block * keep, indexBits = SparseLinearOp::indexBits(block);
      int64_t indexBytes = (perRow * indexBits + 7) / 8;
      std::vector<int8_t> indices(n * indexBytes, 0);
      for (int64_t r = 0; r < n; ++r) {
        assert(int64_t(entries[r].size()) == perRow && "an N:M mask keeps N of every M");
        for (int64_t j = 0; j < perRow; ++j) {
          int64_t bit = j * indexBits;
          uint8_t idx = uint8_t(entries[r][j] % block);
          int8_t &byte = indices[r * indexBytes + bit / 8];
          byte = int8_t(uint8_t(byte) | (idx << (bit % 8)));
        }
      }
      SparseValues values = buildSparseValues(b, loc, layer, entries, perRow, name);
      Value indexConstant = makeConstant(
          b, loc, RankedTensorType::get({n, indexBytes}, b.getI8Type()), indices,
          (name + ".indices").str());
      auto sparseOp = SparseLinearOp::create(
          b, loc, op.getOutput().getType(), op.getInput(), values.values, indexConstant,
          Value(), values.scales, values.zeroPoints, op.getBias(), k, b.getI64IntegerAttr(keep),
          b.getI64IntegerAttr(block), bits,
          layer.quantizer ? layer.quantizer->group / block * keep : 0, int8Activations);
      stored.result = sparseOp.getResult();
      stored.format = std::to_string(keep) + ":" + std::to_string(block);
      stored.bytes = values.bytes + int64_t(indices.size());
      return stored;
    }

    // ELL: each row's entries, padded to the widest row.
    bool narrow = k <= 65536;
    std::vector<int32_t> counts(n);
    std::vector<int16_t> narrowColumns(narrow ? n * widest : 0, 0);
    std::vector<int32_t> wideColumns(narrow ? 0 : n * widest, 0);
    for (int64_t r = 0; r < n; ++r) {
      counts[r] = int32_t(entries[r].size());
      for (size_t j = 0; j < entries[r].size(); ++j) {
        if (narrow)
          narrowColumns[r * widest + j] = int16_t(uint16_t(entries[r][j]));
        else
          wideColumns[r * widest + j] = entries[r][j];
      }
    }
    SparseValues values = buildSparseValues(b, loc, layer, entries, widest, name);
    auto columnType = RankedTensorType::get({n, widest}, narrow ? b.getI16Type() : b.getI32Type());
    Value columns = narrow ? makeConstant(b, loc, columnType, narrowColumns, (name + ".columns").str())
                           : makeConstant(b, loc, columnType, wideColumns, (name + ".columns").str());
    Value countConstant = makeConstant(b, loc, RankedTensorType::get({n}, b.getI32Type()), counts,
                                       (name + ".counts").str());
    auto sparseOp = SparseLinearOp::create(
        b, loc, op.getOutput().getType(), op.getInput(), values.values, columns, countConstant,
        values.scales, values.zeroPoints, op.getBias(), k, IntegerAttr(), IntegerAttr(), bits, 0,
        int8Activations);
    stored.result = sparseOp.getResult();
    stored.format = "ell";
    stored.bytes = values.bytes + n * widest * (narrow ? 2 : 4) + n * 4;
    return stored;
  }

  /// A dense layer holding the pruned weight's zeros: float, or codes.
  Stored storeDense(OpBuilder &b, LinearOp op, const PrunedLayer &layer, StringRef name,
                    Stored stored) {
    Location loc = op.getLoc();
    int64_t n = layer.n, k = layer.k;
    stored.format = "dense";
    if (!layer.quantizer) {
      Value weight = makeConstant(b, loc, op.getWeight().getType(), layer.pruned.weight,
                                  (name + ".pruned").str());
      stored.result = LinearOp::create(b, loc, op.getOutput().getType(), op.getInput(), weight,
                                       op.getBias())
                          .getResult();
      stored.bytes = n * k * 4;
      return stored;
    }
    const QuantizedMatrix &q = *layer.pruned.quantized;
    const QuantizerConfig &config = *layer.quantizer;
    int64_t groups = config.groups(k);
    std::vector<int8_t> bytes = packCodes(q.values, n, k, config.bits);
    Value weight = makeConstant(b, loc,
                                RankedTensorType::get({n, int64_t(bytes.size()) / n}, b.getI8Type()),
                                bytes, (name + ".qweight").str());
    Value scales = makeConstant(b, loc, RankedTensorType::get({n, groups}, b.getF32Type()), q.scales,
                                (name + ".scales").str());
    Value zeroPoints;
    stored.bytes = int64_t(bytes.size() + q.scales.size() * 4);
    if (!config.symmetric) {
      std::vector<int8_t> zeros(q.zeroPoints.begin(), q.zeroPoints.end());
      zeroPoints = makeConstant(b, loc, RankedTensorType::get({n, groups}, b.getI8Type()), zeros,
                                (name + ".zero_points").str());
      stored.bytes += int64_t(zeros.size());
    }
    stored.result = QuantizedLinearOp::create(b, loc, op.getOutput().getType(), op.getInput(),
                                              weight, scales, zeroPoints, op.getBias(),
                                              config.bits, config.group, k, int8Activations)
                        .getResult();
    stored.format = "dense-quantized";
    return stored;
  }

  void finish(ModuleOp module, llvm::json::Array layers, int64_t bytesBefore,
              int64_t bytesAfter) {
    if (llvm::Error e = writeReport(&getContext(), report, "compress-prune", std::move(layers),
                                    bytesBefore, bytesAfter)) {
      module.emitError("compress-prune: ") << llvm::toString(std::move(e));
      signalPassFailure();
    }
  }
};

} // namespace
