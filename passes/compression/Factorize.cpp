// Low-rank factorization of linear layers (compress-factorize): truncated,
// activation-aware (SVD-LLM) and Fisher-weighted (FWSVD) SVD, and low-rank
// compensation of layers other passes compressed (EoRA). The algebra lives
// in Factorization.cpp.
#include "passes/compression/Passes.h"

#include "passes/compression/Calibration.h"
#include "passes/compression/Factorization.h"
#include "passes/compression/Gptq.h"
#include "passes/compression/LayerWeights.h"

#include "dialects/compress/IR/CompressOps.h"
#include "lib/support/Progress.h"
#include "lib/support/HostTensor.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

namespace compress {
#define GEN_PASS_DEF_FACTORIZEPASS
#include "passes/compression/Passes.h.inc"
} // namespace compress

using namespace mlir;
using namespace compress;
using llvm::SmallVector;

namespace {

std::string formatNumber(double v) { return llvm::formatv("{0}", llvm::format("%g", v)).str(); }

/// The file of `layer`'s importances in `folder`: its name with every
/// character other than letters, digits, '.', '-' and '_' replaced by '_'.
std::string importanceFile(StringRef folder, StringRef layer) {
  std::string file;
  for (char c : layer)
    file += std::isalnum(uint8_t(c)) || c == '.' || c == '-' || c == '_' ? c : '_';
  if (file.empty() || file == "." || file == "..")
    file = "_" + file;
  SmallVector<char> path(folder.begin(), folder.end());
  llvm::sys::path::append(path, file + ".npy");
  return std::string(path.begin(), path.end());
}

/// Row importances of an [n, k] layer from `path`: [n] values, or [n, k]
/// (per weight, summed over each row), float32 or float64, finite and
/// non-negative; returns their square roots (FWSVD's row weights).
llvm::Expected<std::vector<double>> readRowImportances(const std::string &path, int64_t n,
                                                       int64_t k) {
  auto tensor = readNpy(path);
  if (!tensor)
    return tensor.takeError();
  bool rowShape = tensor->shape == std::vector<int64_t>{n};
  bool fullShape = tensor->shape == std::vector<int64_t>{n, k};
  if (!rowShape && !fullShape)
    return llvm::createStringError("'" + path + "' has shape " + tensor->shapeString() +
                                   ": expected [" + std::to_string(n) + "] or [" +
                                   std::to_string(n) + ", " + std::to_string(k) + "]");
  if (tensor->kind != ElementKind::F32 && tensor->kind != ElementKind::F64)
    return llvm::createStringError("'" + path + "' holds " + elementName(tensor->kind) +
                                   ": expected float32 or float64");
  std::vector<double> rows(n, 0.0);
  int64_t perRow = fullShape ? k : 1;
  for (int64_t i = 0; i < n * perRow; ++i) {
    double v = tensor->kind == ElementKind::F32
                   ? double(reinterpret_cast<const float *>(tensor->data.data())[i])
                   : reinterpret_cast<const double *>(tensor->data.data())[i];
    if (!std::isfinite(v) || v < 0)
      return llvm::createStringError("'" + path + "' holds " + formatNumber(v) + " at element " +
                                     std::to_string(i) + ": importances are finite and >= 0");
    rows[i / perRow] += v;
  }
  for (double &r : rows)
    r = std::sqrt(r);
  return rows;
}

/// A layer the pass rewrites, and what it knows of it.
struct Candidate {
  CompressibleLayer layer;
  std::string name;
  int64_t n, k;
  std::vector<double> rowImportance; // fisher with importance files
  int64_t rank = 0;                  // chosen; -1: stays dense
};

/// Factors ready to store: float, or codes with their scales.
struct StoredFactors {
  int64_t rank;
  Value down, up, downScales, upScales;
  int64_t bytes = 0;
  /// What the layer now computes with: up * down, dequantised.
  std::vector<float> product;
};

struct FactorizePass : compress::impl::FactorizePassBase<FactorizePass> {
  using Base::Base;

  LogicalResult checkOptions(ModuleOp module, bool calibrated) {
    auto fail = [&](const Twine &message) {
      module.emitError("compress-factorize: ") << message;
      return failure();
    };
    if (method != "svd" && method != "activation-aware" && method != "fisher")
      return fail("unsupported method '" + method +
                  "' (supported: svd, activation-aware, fisher)");
    int given = (ratio != 0) + (energy != 0) + (rank != 0) + (budget != 0);
    if (given != 1)
      return fail("give exactly one of ratio=, energy=, rank=, budget= (" + std::to_string(given) +
                  " given)");
    if (ratio != 0 && !(ratio > 0 && ratio <= 1))
      return fail("ratio=" + formatNumber(ratio) + " is not in (0, 1]");
    if (energy != 0 && !(energy > 0 && energy <= 1))
      return fail("energy=" + formatNumber(energy) + " is not in (0, 1]");
    if (budget != 0 && !(budget > 0 && budget <= 1))
      return fail("budget=" + formatNumber(budget) + " is not in (0, 1]");
    if (rank < 0)
      return fail("rank=" + std::to_string(rank) + " is negative");
    if (compensate && (ratio != 0 || energy != 0))
      return fail("compensate takes rank= or budget= (the rank of the added path)");
    if (!importance.empty() && method != "fisher")
      return fail("importance= gives FWSVD's row importances: it needs method=fisher");
    if (bits != 0 && bits != 8 && bits != 4)
      return fail("bits=" + std::to_string(bits) + " is not one of 8, 4 (or 0: float factors)");
    if (groupSize < 0 || (bits == 0 && groupSize != 0))
      return fail("group-size needs bits and must not be negative");
    bool needsCalibration =
        method == "activation-aware" || (method == "fisher" && importance.empty()) || budget != 0;
    if (needsCalibration && !calibrated)
      return fail((budget != 0 ? std::string("budget=")
                               : method == "fisher" ? std::string("method=fisher without importance=")
                                                    : "method=" + method) +
                  " needs calibration data (--calibration DIR of compress-opt, compress-run or "
                  "compress-compile)");
    return success();
  }

  /// Why the pass leaves `layer` alone (a warning and a report entry), or
  /// nullopt when it rewrites it. A float layer given to `compensate` is an
  /// error instead: the caller asked for something that cannot be done.
  std::optional<std::string> unsupportedReason(CompressibleLayer layer) {
    if (compensate) {
      if (isa<QuantizedLinearOp, SparseLinearOp>(layer.getOperation()))
        return std::nullopt;
      return ("compensate adds a low-rank path to quantized or pruned linear layers, not " +
              layer.getLayerKind())
          .str();
    }
    if (layer.isCompressedLayer())
      return ("already compressed (" + layer.getLayerKind() + ")").str();
    auto linear = dyn_cast<LinearOp>(layer.getOperation());
    if (!linear)
      return ("compress-factorize factorizes linear layers, not " + layer.getLayerKind()).str();
    if (!linear.getWeight().getType().getElementType().isF32() ||
        !linear.getWeight().getType().hasStaticShape() || !constantFloats(linear.getWeight()))
      return std::string("the weight is not a static float32 constant");
    return std::nullopt;
  }

  /// The weight a layer approximates and what the SVD cuts: W itself, or
  /// (compensating) W minus what the compressed layer computes with.
  struct Targets {
    std::vector<float> weight, compressed, error;
    const std::vector<float> &svdInput() const { return compressed.empty() ? weight : error; }
  };
  llvm::Expected<Targets> targets(Candidate &c) {
    if (!compensate)
      return Targets{*constantFloats(cast<LinearOp>(c.layer.getOperation()).getWeight()), {}, {}};
    std::optional<std::vector<float>> w = uncompressedWeight(c.layer);
    if (!w)
      return llvm::createStringError(
          "nothing to compensate: no pass of this run recorded the float weight it stood for "
          "(run compensate in the same pipeline as the pass that compressed it, e.g. "
          "\"compress-quantize{...},compress-factorize{compensate=1 rank=32}\")");
    auto compressed = decompressedWeight(c.layer);
    if (!compressed)
      return compressed.takeError();
    Targets t{std::move(*w), std::move(*compressed), {}};
    t.error.resize(t.weight.size());
    for (size_t i = 0; i < t.error.size(); ++i)
      t.error[i] = t.weight[i] - t.compressed[i];
    return t;
  }

  SvdWeighting weighting(Candidate &c, const InputStatistics *statistics) {
    SvdWeighting w;
    if (method == "activation-aware")
      w.hessian = &statistics->hessian;
    if (method == "fisher" && !c.rowImportance.empty())
      w.rows = c.rowImportance;
    if (method == "fisher" && c.rowImportance.empty()) {
      // The diagonal Fisher information of W_ij is E[g_i^2 x_j^2]; with
      // output gradients g taken uniform it is proportional to E[x_j^2].
      w.columns.resize(c.k);
      for (int64_t j = 0; j < c.k; ++j)
        w.columns[j] = std::sqrt(statistics->hessian[j * c.k + j]);
    }
    return w;
  }

  std::string weightingName(Candidate &c) {
    if (method == "svd")
      return "none";
    if (method == "activation-aware")
      return "whitened by the Cholesky factor of the inputs' Gram matrix";
    if (!c.rowImportance.empty())
      return "rows by the square root of the summed Fisher information in " +
             importanceFile(importance, c.name);
    return "activation proxy: columns by sqrt(E[x_j^2]) (diagonal Fisher with uniform output "
           "gradients)";
  }

  /// Largest rank worth storing: below N K / (N + K) parameters (any rank
  /// when compensating, which adds a path instead of replacing one).
  int64_t maxRank(Candidate &c) {
    int64_t limit = std::min(c.n, c.k);
    return compensate ? limit : std::min(limit, (c.n * c.k - 1) / (c.n + c.k));
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    Calibration &calibration = getAnalysis<Calibration>();
    if (failed(checkOptions(module, calibration.available())))
      return signalPassFailure();
    FailureOr<compress::SkipPattern> skipPattern =
        compress::SkipPattern::parse(module, "compress-factorize", skip);
    if (failed(skipPattern))
      return signalPassFailure();

    // The layers to rewrite, checked before any is touched.
    llvm::json::Array layers;
    std::vector<Candidate> candidates;
    bool failedCheck = false;
    module.walk([&](CompressibleLayer layer) {
      std::string name = layer.getLayerName("layer" + std::to_string(layers.size() +
                                                                       candidates.size()));
      auto leave = [&](const std::string &reason) {
        layers.push_back(llvm::json::Object{
            {"name", name}, {"kind", layer.getLayerKind()}, {"skipped", reason}});
      };
      if (skipPattern->matches(name))
        return leave(skipPattern->reason());
      if (compensate && isa<LinearOp>(layer.getOperation())) {
        layer->emitError("compress-factorize: compensate: layer '")
            << name << "' has nothing to compensate: it is not compressed (skip it with skip=)";
        failedCheck = true;
        return;
      }
      if (std::optional<std::string> reason = unsupportedReason(layer)) {
        layer->emitWarning("compress-factorize: layer '") << name << "' left as it is: " << *reason;
        return leave(*reason);
      }
      if (compensate && llvm::any_of(layer->getResult(0).getUsers(), [&](Operation *user) {
            auto lowRank = dyn_cast<LowRankLinearOp>(user);
            return lowRank && lowRank.getAddend() == layer->getResult(0);
          })) {
        layer->emitWarning("compress-factorize: layer '") << name << "' is already compensated";
        return leave("already compensated");
      }
      Candidate c{layer, name, layer.getLayerOutFeatures(), layer.getLayerInFeatures(), {}, 0};
      if (rank > std::min(c.n, c.k)) {
        layer->emitError("compress-factorize: rank=")
            << int64_t(rank) << " exceeds min(N, K) = " << std::min(c.n, c.k) << " of layer '"
            << name << "' [" << c.n << ", " << c.k << "]";
        failedCheck = true;
        return;
      }
      if (!importance.empty()) {
        auto rows = readRowImportances(importanceFile(importance, name), c.n, c.k);
        if (!rows) {
          layer->emitError("compress-factorize: importance of layer '")
              << name << "': " << llvm::toString(rows.takeError());
          failedCheck = true;
          return;
        }
        c.rowImportance = std::move(*rows);
      }
      candidates.push_back(std::move(c));
    });
    if (failedCheck)
      return signalPassFailure();

    if (budget != 0 && failed(allocateBudget(candidates, calibration)))
      return signalPassFailure();

    int64_t bytesBefore = 0, bytesAfter = 0;
    // Compensation paths are inserted once every layer is measured: the
    // statistics are those of the compressed model, in one sweep.
    std::vector<std::pair<size_t, StoredFactors>> compensations;
    Progress bar("compress-factorize", "layers", candidates.size(), progress);
    for (auto [index, c] : llvm::enumerate(candidates)) {
      bar.next(c.name);
      const InputStatistics *statistics = nullptr;
      if (calibration.available()) {
        auto measured = calibration->inputStatistics(c.layer);
        if (!measured) {
          c.layer->emitError("compress-factorize: calibration of layer '")
              << c.name << "' failed: " << llvm::toString(measured.takeError());
          return signalPassFailure();
        }
        statistics = &*measured;
      }
      auto t = targets(c);
      if (!t) {
        c.layer->emitError("compress-factorize: layer '")
            << c.name << "': " << llvm::toString(t.takeError());
        return signalPassFailure();
      }
      auto svd = weightedSvd(t->svdInput(), c.n, c.k, weighting(c, statistics));
      if (!svd) {
        c.layer->emitError("compress-factorize: layer '")
            << c.name << "': " << llvm::toString(svd.takeError());
        return signalPassFailure();
      }
      int64_t r = c.rank != 0 ? c.rank
                  : rank != 0 ? int64_t(rank)
                  : energy != 0 ? rankForEnergy(svd->sigma, energy)
                                : int64_t(ratio * double(c.n * c.k) / double(c.n + c.k));
      if (r == 0) {
        c.layer->emitWarning("compress-factorize: layer '")
            << c.name << "': ratio=" << formatNumber(ratio) << " keeps less than rank 1; rank 1 kept";
        r = 1;
      }
      llvm::json::Object entry{{"name", c.name},
                               {"kind", c.layer.getLayerKind()},
                               {"method", (compensate ? "compensate-" : "") + std::string(method)},
                               {"weighting", weightingName(c)}};
      int64_t before = c.n * c.k * 4;
      if (!compensate && (r < 0 || r * (c.n + c.k) >= c.n * c.k)) {
        std::string reason =
            r < 0 ? std::string("budget= keeps it dense (its error costs more than its parameters)")
                  : llvm::formatv("rank {0} keeps {1} parameters, not fewer than N K = {2}", r,
                                  r * (c.n + c.k), c.n * c.k)
                        .str();
        c.layer->emitWarning("compress-factorize: layer '") << c.name << "' left dense: " << reason;
        entry.insert({"skipped", reason});
        layers.push_back(std::move(entry));
        continue;
      }
      StoredFactors stored = storeFactors(c, *svd, r);
      double kept = 0, total = 0;
      for (size_t i = 0; i < svd->sigma.size(); ++i) {
        total += svd->sigma[i] * svd->sigma[i];
        if (int64_t(i) < r)
          kept += svd->sigma[i] * svd->sigma[i];
      }
      std::vector<float> approximation = stored.product;
      if (compensate) // what the layer now computes with: compressed + U V
        for (size_t i = 0; i < approximation.size(); ++i)
          approximation[i] += t->compressed[i];
      double weightNorm = 0, errorNorm = 0;
      for (size_t i = 0; i < approximation.size(); ++i) {
        weightNorm += double(t->weight[i]) * t->weight[i];
        errorNorm += std::pow(double(t->weight[i]) - approximation[i], 2);
      }
      // What the weighting had to change to be usable: said, not hidden.
      if (svd->dampening > 0) {
        entry.insert({"gram_dampening", svd->dampening});
        c.layer->emitWarning("compress-factorize: layer '")
            << c.name << "': the Gram matrix of its inputs is singular; whitened with "
            << formatNumber(svd->dampening) << " of its mean diagonal added";
      }
      if (svd->raisedWeights > 0) {
        entry.insert({"raised_weights", svd->raisedWeights});
        c.layer->emitWarning("compress-factorize: layer '")
            << c.name << "': " << svd->raisedWeights
            << " importance weights below 1e-6 of the largest raised to it";
      }
      entry.insert({"rank", r});
      entry.insert({"bits", bits == 0 ? 32 : int64_t(bits)});
      entry.insert({"energy", total > 0 ? kept / total : 1.0});
      entry.insert({"weight_relative_error", std::sqrt(errorNorm / weightNorm)});
      std::optional<double> outputError;
      if (statistics) {
        outputError =
            relativeOutputError(t->weight, approximation, c.n, c.k, statistics->hessian);
        entry.insert({"output_relative_error", *outputError});
        if (compensate)
          entry.insert({"output_relative_error_before",
                        relativeOutputError(t->weight, t->compressed, c.n, c.k,
                                            statistics->hessian)});
      }
      if (compensate) {
        int64_t compressedBytes = storedBytes(c.layer);
        entry.insert({"compensation_bytes", stored.bytes});
        entry.insert({"compensation_parameters", r * (c.n + c.k)});
        entry.insert({"bytes_before", compressedBytes});
        entry.insert({"bytes_after", compressedBytes + stored.bytes});
        bytesBefore += compressedBytes;
        bytesAfter += compressedBytes + stored.bytes;
      } else {
        entry.insert({"parameters_before", c.n * c.k});
        entry.insert({"parameters_after", r * (c.n + c.k)});
        entry.insert({"bytes_before", before});
        entry.insert({"bytes_after", stored.bytes});
        bytesBefore += before;
        bytesAfter += stored.bytes;
      }
      if (progress)
        llvm::errs() << "compress-factorize: [" << index + 1 << "/" << candidates.size() << "] "
                     << c.name << ": " << (compensate ? "compensate " : "") << method << " rank "
                     << r << ", energy " << llvm::format("%.4f", total > 0 ? kept / total : 1.0)
                     << (outputError ? llvm::formatv(", output error on calibration data {0:f4}",
                                                     *outputError)
                                           .str()
                                     : std::string())
                     << "\n";
      layers.push_back(std::move(entry));
      if (compensate) {
        compensations.emplace_back(index, std::move(stored));
        continue;
      }
      replaceByLowRank(c, stored);
    }
    bar.finish();
    for (auto &[index, stored] : compensations)
      addCompensation(candidates[index], stored);
    finish(module, std::move(layers), bytesBefore, bytesAfter);
  }

  /// Bytes of a compressed layer's stored tensors (weights, codes, scales,
  /// indices; not its input or bias).
  static int64_t storedBytes(CompressibleLayer layer) {
    Value bias = isa<QuantizedLinearOp>(layer.getOperation())
                     ? cast<QuantizedLinearOp>(layer.getOperation()).getBias()
                     : cast<SparseLinearOp>(layer.getOperation()).getBias();
    int64_t bytes = 0;
    for (Value operand : layer->getOperands())
      if (operand != layer.getLayerInput() && operand != bias) {
        auto type = cast<RankedTensorType>(operand.getType());
        bytes += type.getNumElements() * type.getElementTypeBitWidth() / 8;
      }
    return bytes;
  }

  /// budget=: measures every layer's error at every rank on the model as it
  /// is, then gives each its rank (Factorization.h's allocateRanks).
  LogicalResult allocateBudget(std::vector<Candidate> &candidates, Calibration &calibration) {
    std::vector<RankCandidates> curves;
    double parameters = 0;
    Progress bar("compress-factorize: measuring ranks", "layers", candidates.size(), progress);
    for (Candidate &c : candidates) {
      bar.next(c.name);
      auto measured = calibration->inputStatistics(c.layer);
      if (!measured) {
        c.layer->emitError("compress-factorize: calibration of layer '")
            << c.name << "' failed: " << llvm::toString(measured.takeError());
        return failure();
      }
      auto t = targets(c);
      auto svd = t ? weightedSvd(t->svdInput(), c.n, c.k,
                                 weighting(c, &*measured))
                   : llvm::Expected<WeightedSvd>(t.takeError());
      if (!svd) {
        c.layer->emitError("compress-factorize: layer '")
            << c.name << "': " << llvm::toString(svd.takeError());
        return failure();
      }
      curves.push_back({c.n, c.k,
                        outputErrorByRank(*svd, t->svdInput(), t->weight, measured->hessian,
                                          maxRank(c)),
                        !compensate});
      parameters += double(c.n * c.k);
      if (progress)
        llvm::errs() << "compress-factorize: measured " << c.name << "\n";
    }
    bar.finish();
    std::vector<int64_t> ranks = allocateRanks(curves, budget * parameters);
    double used = 0;
    for (auto [c, r] : llvm::zip(candidates, ranks)) {
      c.rank = r;
      used += double(r < 0 ? c.n * c.k : r * (c.n + c.k));
    }
    if (used > budget * parameters)
      getOperation().emitWarning("compress-factorize: budget=")
          << formatNumber(budget) << " cannot be met: rank 1 on every layer keeps " << int64_t(used)
          << " of the " << int64_t(parameters) << " parameters";
    return success();
  }

  /// The rank-r factors of `svd` as the op stores them.
  StoredFactors storeFactors(Candidate &c, const WeightedSvd &svd, int64_t r) {
    OpBuilder b(c.layer);
    Location loc = c.layer.getLoc();
    std::vector<float> up = svd.upFactor(r), down = svd.downFactor(r);
    StoredFactors out;
    out.rank = r;
    if (bits == 0) {
      out.down = makeConstant(b, loc, RankedTensorType::get({r, c.k}, b.getF32Type()), down,
                              c.name + ".down");
      out.up = makeConstant(b, loc, RankedTensorType::get({c.n, r}, b.getF32Type()), up,
                            c.name + ".up");
      out.bytes = r * (c.n + c.k) * 4;
    } else {
      auto quantize = [&](std::vector<float> &factor, int64_t rows, int64_t cols, Value &codes,
                          Value &scales, StringRef suffix) {
        QuantizerConfig config{bits, groupSize == 0 ? cols : std::min<int64_t>(groupSize, cols),
                               /*symmetric=*/true};
        QuantizedMatrix q = quantizeRtn(factor, rows, cols, config);
        std::vector<int8_t> packed = packCodes(q.values, rows, cols, bits);
        codes = makeConstant(
            b, loc, RankedTensorType::get({rows, int64_t(packed.size()) / rows}, b.getI8Type()),
            packed, (c.name + "." + suffix).str());
        scales = makeConstant(b, loc,
                              RankedTensorType::get({rows, config.groups(cols)}, b.getF32Type()),
                              q.scales, (c.name + "." + suffix + "_scales").str());
        out.bytes += int64_t(packed.size() + q.scales.size() * 4);
        factor = dequantize(q, rows, cols, config);
      };
      quantize(down, r, c.k, out.down, out.downScales, "down");
      quantize(up, c.n, r, out.up, out.upScales, "up");
    }
    using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Matrix product = Eigen::Map<Matrix>(up.data(), c.n, r) * Eigen::Map<Matrix>(down.data(), r, c.k);
    out.product.assign(product.data(), product.data() + product.size());
    return out;
  }

  LowRankLinearOp buildLowRank(OpBuilder &b, Location loc, Candidate &c,
                               const StoredFactors &stored, Value bias, Value addend) {
    return LowRankLinearOp::create(b, loc, c.layer->getResult(0).getType(),
                                   c.layer.getLayerInput(), stored.down, stored.up,
                                   stored.downScales, stored.upScales, bias, addend, c.k, stored.rank, bits,
                                   groupSize);
  }

  void replaceByLowRank(Candidate &c, const StoredFactors &stored) {
    auto linear = cast<LinearOp>(c.layer.getOperation());
    OpBuilder b(linear);
    auto lowRank = buildLowRank(b, linear.getLoc(), c, stored, linear.getBias(), Value());
    linear.replaceAllUsesWith(lowRank.getResult());
    Operation *floatWeight = linear.getWeight().getDefiningOp();
    linear.erase();
    if (floatWeight && floatWeight->use_empty())
      floatWeight->erase();
  }

  /// The compressed layer's output plus the low-rank path, named
  /// "<layer>/compensation".
  void addCompensation(Candidate &c, const StoredFactors &stored) {
    Operation *layer = c.layer.getOperation();
    OpBuilder b(layer->getContext());
    b.setInsertionPointAfter(layer);
    Location loc = NameLoc::get(b.getStringAttr(c.name + "/compensation"), layer->getLoc());
    auto lowRank = buildLowRank(b, loc, c, stored, Value(), layer->getResult(0));
    layer->getResult(0).replaceAllUsesExcept(lowRank.getResult(), lowRank);
  }

  void finish(ModuleOp module, llvm::json::Array layers, int64_t bytesBefore,
              int64_t bytesAfter) {
    if (llvm::Error e = writeReport(&getContext(), report, "compress-factorize",
                                    std::move(layers), bytesBefore, bytesAfter)) {
      module.emitError("compress-factorize: ") << llvm::toString(std::move(e));
      signalPassFailure();
    }
  }
};

} // namespace
