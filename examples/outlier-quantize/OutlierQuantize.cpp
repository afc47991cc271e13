// outlier-aware-quantize, a pass plugin built against the installed SDK:
// per linear layer, the `top-k` input channels of largest activation norm on
// the calibration data stay in float and the rest are quantized
// round-to-nearest, group-wise (LLM.int8's outlier split, weight-only).
//
// The layer becomes two ops of the compress dialect, so that every target
// lowers it with no code of the plugin's:
//
//   %q = compress.quantized_linear %x, codes(W with the outlier columns 0), scales [bias]
//   %y = compress.low_rank_linear %x, down, up addend %q
//
// where `down` [k, K] picks the k outlier channels (one 1 per row) and `up`
// [N, k] holds their float weight columns: y = Q(W_rest) x + W_out x_out.
#include "passes/compression/Calibration.h"
#include "passes/compression/Gptq.h"
#include "passes/compression/LayerWeights.h"

#include "dialects/compress/IR/CompressOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Tools/Plugins/PassPlugin.h"

#include "llvm/Config/llvm-config.h"
#include "llvm/Support/JSON.h"

#include <algorithm>
#include <numeric>

using namespace mlir;

namespace {

/// The `count` channels of largest norm, in increasing order of index
/// (ties go to the lower index).
std::vector<int64_t> outlierChannels(const std::vector<double> &norms, int64_t count) {
  std::vector<int64_t> order(norms.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return norms[a] > norms[b]; });
  order.resize(count);
  std::sort(order.begin(), order.end());
  return order;
}

struct OutlierAwareQuantizePass
    : PassWrapper<OutlierAwareQuantizePass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(OutlierAwareQuantizePass)

  OutlierAwareQuantizePass() = default;
  OutlierAwareQuantizePass(const OutlierAwareQuantizePass &other) : PassWrapper(other) {}

  StringRef getArgument() const override { return "outlier-aware-quantize"; }
  StringRef getDescription() const override {
    return "Quantize linear layers round-to-nearest, keeping the input channels of largest "
           "activation norm on the calibration data in float";
  }

  Option<int64_t> topK{*this, "top-k",
                       llvm::cl::desc("Input channels per layer kept in float"),
                       llvm::cl::init(8)};
  Option<int64_t> bits{*this, "bits", llvm::cl::desc("Bits of the other weights: 8, 4, 3 or 2"),
                       llvm::cl::init(4)};
  Option<int64_t> groupSize{*this, "group-size",
                            llvm::cl::desc("Input features per scale (0: one per row)"),
                            llvm::cl::init(128)};
  Option<std::string> skip{*this, "skip",
                           llvm::cl::desc("Regular expression: layers it matches stay float")};
  Option<std::string> report{*this, "report",
                             llvm::cl::desc("Write a JSON report of the layers to this file")};

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto fail = [&](const Twine &message) {
      module.emitError("outlier-aware-quantize: " + message);
      signalPassFailure();
    };
    if (bits != 8 && bits != 4 && bits != 3 && bits != 2)
      return fail("bits=" + Twine(int64_t(bits)) + " is not one of 8, 4, 3, 2");
    if (topK < 1)
      return fail("top-k=" + Twine(int64_t(topK)) + " keeps no channel in float");
    if (groupSize < 0)
      return fail("group-size=" + Twine(int64_t(groupSize)) + " is negative");
    compress::Calibration &calibration = getAnalysis<compress::Calibration>();
    if (!calibration.available())
      return fail("needs calibration data (--calibration DIR) to find the outlier channels");
    FailureOr<compress::SkipPattern> skipPattern =
        compress::SkipPattern::parse(module, "outlier-aware-quantize", skip);
    if (failed(skipPattern))
      return signalPassFailure();

    // Every layer is measured before any is rewritten (on the float model,
    // as EoRA measures): a rewrite makes two layers of one, which the
    // calibrator could not mirror onto the second import it runs when the
    // sets' shapes differ from the module's.
    llvm::json::Array layers;
    std::vector<Plan> plans;
    SmallVector<compress::CompressibleLayer> candidates;
    module.walk([&](compress::CompressibleLayer layer) { candidates.push_back(layer); });
    for (auto [index, layer] : llvm::enumerate(candidates)) {
      std::string name = layer.getLayerName("layer" + std::to_string(index));
      std::optional<std::string> reason = unsupportedReason(layer, name, *skipPattern);
      if (reason) {
        if (!skipPattern->matches(name))
          layer->emitWarning("outlier-aware-quantize: layer '")
              << name << "' left as it is: " << *reason;
        layers.push_back(llvm::json::Object{
            {"name", name}, {"kind", layer.getLayerKind()}, {"skipped", *reason}});
        continue;
      }
      auto statistics = calibration->inputStatistics(layer);
      if (!statistics) {
        layer->emitError("outlier-aware-quantize: calibration of layer '")
            << name << "' failed: " << llvm::toString(statistics.takeError());
        return signalPassFailure();
      }
      plans.push_back(plan(cast<compress::LinearOp>(layer.getOperation()), name, *statistics));
      layers.push_back(llvm::json::Object(plans.back().entry));
    }
    int64_t bytesBefore = 0, bytesAfter = 0;
    for (Plan &p : plans) {
      rewrite(p);
      bytesBefore += *p.entry.getInteger("bytes_before");
      bytesAfter += *p.entry.getInteger("bytes_after");
    }
    if (report.empty())
      return;
    if (llvm::Error e = compress::writeReport(&getContext(), report, "outlier-aware-quantize",
                                              std::move(layers), bytesBefore, bytesAfter))
      return fail(llvm::toString(std::move(e)));
  }

  /// Why the pass leaves `layer` alone, or nullopt when it rewrites it: a
  /// compress.linear with a float32 constant weight and more input
  /// channels than it keeps.
  std::optional<std::string> unsupportedReason(compress::CompressibleLayer layer,
                                               StringRef name,
                                               const compress::SkipPattern &skipPattern) {
    if (skipPattern.matches(name))
      return skipPattern.reason();
    if (layer.isCompressedLayer())
      return ("already compressed (" + layer.getLayerKind() + ")").str();
    auto linear = dyn_cast<compress::LinearOp>(layer.getOperation());
    if (!linear)
      return ("outlier-aware-quantize quantizes linear layers, not " + layer.getLayerKind()).str();
    if (!linear.getWeight().getType().getElementType().isF32())
      return std::string("the weight is not float32");
    if (!compress::constantFloats(linear.getWeight()))
      return std::string("the weight is not a constant");
    if (layer.getLayerInFeatures() <= topK)
      return "top-k=" + std::to_string(topK) + " would keep all " +
             std::to_string(layer.getLayerInFeatures()) + " input channels";
    return std::nullopt;
  }

  /// What a layer becomes: its outlier channels, the other weights' codes
  /// and scales, the outlier columns, and its report entry.
  struct Plan {
    compress::LinearOp op;
    std::string name;
    std::vector<int64_t> outliers;
    std::vector<int8_t> codes;
    std::vector<float> scales, outlierWeight;
    int64_t group;
    llvm::json::Object entry;
  };

  Plan plan(compress::LinearOp op, const std::string &name,
            const compress::InputStatistics &statistics) {
    auto weightType = op.getWeight().getType();
    int64_t n = weightType.getDimSize(0), k = weightType.getDimSize(1);
    std::vector<float> w = *compress::constantFloats(op.getWeight());
    Plan p{op, name, outlierChannels(statistics.l2Norm, topK), {}, {}, {}, 0, {}};
    int64_t kept = int64_t(p.outliers.size());

    // Outlier columns are quantized as 0, which every grid holds exactly.
    std::vector<float> rest = w;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c : p.outliers)
        rest[r * k + c] = 0;
    p.group = groupSize == 0 ? k : std::min<int64_t>(groupSize, k);
    compress::QuantizerConfig config{bits, p.group, /*symmetric=*/true};
    compress::QuantizedMatrix q = compress::quantizeRtn(rest, n, k, config);
    p.codes = compress::packCodes(q.values, n, k, bits);
    p.scales = q.scales;
    p.outlierWeight.resize(n * kept);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t i = 0; i < kept; ++i)
        p.outlierWeight[r * kept + i] = w[r * k + p.outliers[i]];

    // The layer's output error on the calibration data, and plain RTN's.
    std::vector<float> approximation = compress::dequantize(q, n, k, config);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c : p.outliers)
        approximation[r * k + c] = w[r * k + c];
    double error = compress::relativeOutputError(w, approximation, n, k, statistics.hessian);
    double rtnError = compress::relativeOutputError(
        w, compress::dequantize(compress::quantizeRtn(w, n, k, config), n, k, config), n, k,
        statistics.hessian);

    int64_t before = n * k * 4;
    int64_t after = int64_t(p.codes.size() + p.scales.size() * 4 +
                            (kept * k + p.outlierWeight.size()) * 4);
    p.entry = llvm::json::Object{{"name", name},
                                 {"method", "outlier-aware-rtn"},
                                 {"bits", int64_t(bits)},
                                 {"group_size", p.group},
                                 {"outlier_channels", llvm::json::Array(p.outliers)},
                                 {"bytes_before", before},
                                 {"bytes_after", after},
                                 {"output_relative_error", error},
                                 {"rtn_output_relative_error", rtnError}};
    return p;
  }

  /// Replaces the layer by its quantized part plus its float outlier path.
  void rewrite(const Plan &p) {
    compress::LinearOp op = p.op;
    auto weightType = op.getWeight().getType();
    int64_t n = weightType.getDimSize(0), k = weightType.getDimSize(1);
    int64_t kept = int64_t(p.outliers.size());
    std::vector<float> select(kept * k, 0.0f);
    for (int64_t i = 0; i < kept; ++i)
      select[i * k + p.outliers[i]] = 1;

    OpBuilder b(op);
    Location loc = op.getLoc();
    Type f32 = b.getF32Type();
    Value codes = compress::makeConstant(
        b, loc, RankedTensorType::get({n, int64_t(p.codes.size()) / n}, b.getI8Type()), p.codes,
        p.name + ".qweight");
    Value scales = compress::makeConstant(
        b, loc, RankedTensorType::get({n, int64_t(p.scales.size()) / n}, f32), p.scales,
        p.name + ".scales");
    auto quantized = compress::QuantizedLinearOp::create(
        b, loc, op.getOutput().getType(), op.getInput(), codes, scales,
        /*zero_points=*/Value(), op.getBias(), int64_t(bits), p.group, k,
        /*int8_activations=*/false);
    Location outlierLoc = NameLoc::get(b.getStringAttr(p.name + "/outliers"), loc);
    Value down = compress::makeConstant(b, outlierLoc, RankedTensorType::get({kept, k}, f32),
                                        select, p.name + ".outlier_select");
    Value up = compress::makeConstant(b, outlierLoc, RankedTensorType::get({n, kept}, f32),
                                      p.outlierWeight, p.name + ".outlier_weight");
    auto outlierPath = compress::LowRankLinearOp::create(
        b, outlierLoc, op.getOutput().getType(), op.getInput(), down, up,
        /*down_scales=*/Value(), /*up_scales=*/Value(), /*bias=*/Value(),
        /*addend=*/quantized.getResult(), k, kept);
    op.replaceAllUsesWith(outlierPath.getResult());
    Operation *floatWeight = op.getWeight().getDefiningOp();
    op.erase();
    // The float weight, now unused, must not reach the weights file.
    if (floatWeight && floatWeight->use_empty())
      floatWeight->erase();
  }
};

} // namespace

/// The entry point --load-pass-plugin looks for.
extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "OutlierQuantize", LLVM_VERSION_STRING,
          [] { PassRegistration<OutlierAwareQuantizePass>(); }};
}
