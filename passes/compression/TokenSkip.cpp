// compress-token-skip: per-token routers that let tokens skip blocks (FTP).
#include "passes/compression/Passes.h"

#include "passes/compression/Blocks.h"
#include "passes/compression/Calibration.h"
#include "passes/compression/LayerWeights.h"
#include "passes/compression/TokenRouters.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <limits>
#include <random>

namespace compress {
#define GEN_PASS_DEF_TOKENSKIPPASS
#include "passes/compression/Passes.h.inc"
} // namespace compress

using namespace mlir;
using namespace compress;

namespace {

/// One routed block's router: keep a token when weight . x / rms(x) +
/// scaleWeight * ln(rms(x)) >= threshold.
struct Router {
  std::vector<float> weight;
  double scaleWeight = 0;
  double threshold = -std::numeric_limits<double>::infinity();
  llvm::json::Object report;
};

/// Whether `block` reads or writes @main's interface other than through the
/// residual stream: a key/value cache's past and present tensors.
bool hasCache(const RepeatedBlock &block, Value input) {
  for (Operation *op : block.ops) {
    for (Value operand : op->getOperands())
      if (auto arg = dyn_cast<BlockArgument>(operand); arg && operand != input)
        return true;
    for (Value result : op->getResults())
      for (Operation *user : result.getUsers())
        if (isa<func::ReturnOp>(user) && result != block.output)
          return true;
  }
  return false;
}

struct TokenSkipPass : compress::impl::TokenSkipPassBase<TokenSkipPass> {
  using TokenSkipPassBase::TokenSkipPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (!(skip >= 0.0 && skip < 1.0))
      return fail("skip=" + std::to_string(skip) + " is outside [0, 1)");
    if (router != "fitted" && router != "random")
      return fail("router='" + router + "' is neither fitted nor random");
    if (schedule != "updates" && schedule != "uniform")
      return fail("schedule='" + schedule + "' is neither updates nor uniform");
    if (fit != "sequential" && fit != "once")
      return fail("fit='" + fit + "' is neither sequential nor once");
    FailureOr<BlockStructure> structure = requireBlocks(module, "compress-token-skip");
    if (failed(structure))
      return signalPassFailure();
    int64_t n = int64_t(structure->blocks.size());
    int64_t end = last < 0 ? n - 2 : last;
    if (first < 0 || first > end || end >= n)
      return fail("blocks " + std::to_string(first) + " to " + std::to_string(end) +
                  " are not a range of the model's " + std::to_string(n) + " blocks");
    std::vector<const RepeatedBlock *> routed;
    for (int64_t b = first; b <= end; ++b)
      routed.push_back(&structure->blocks[b]);
    auto inputType = cast<RankedTensorType>(routed.front()->input.getType());
    if (inputType.getRank() < 2 || ShapedType::isDynamic(inputType.getShape().back()) ||
        !isa<FloatType>(inputType.getElementType()))
      return fail("the blocks' hidden states are " + typeString(inputType) +
                  ", not float [.., tokens, width] with a static width");
    int64_t width = inputType.getShape().back();

    std::vector<Router> routers(routed.size());
    if (!routersFile.empty()) {
      if (failed(loadRouters(routers, width)))
        return signalPassFailure();
      // Block b + 1 reads block b's select once it is in place.
      Value input = routed.front()->input;
      for (size_t b = 0; b < routed.size(); ++b) {
        FailureOr<Value> select = insertRouter(*routed[b], input, routers[b]);
        if (failed(select))
          return signalPassFailure();
        input = *select;
      }
    } else if (failed(fitAndInsertRouters(routed, routers, width))) {
      return signalPassFailure();
    }
    llvm::json::Array entries;
    for (auto [block, r] : llvm::zip(routed, routers)) {
      r.report["block"] = int64_t(block->index);
      r.report["threshold"] = std::isinf(r.threshold) ? llvm::json::Value(nullptr)
                                                       : llvm::json::Value(r.threshold);
      entries.push_back(std::move(r.report));
    }
    llvm::json::Object doc{{"pass", "compress-token-skip"},
                           {"skip", double(skip)},
                           {"router", routersFile.empty() ? std::string(router) : std::string("file")},
                           {"skip_kv", bool(skipKv)},
                           {"blocks", std::move(entries)}};
    if (llvm::Error error = publishReport(&getContext(), report, std::move(doc)))
      fail(llvm::toString(std::move(error)));
  }

  /// Routers from the user's file: one row per routed block, the weights,
  /// optionally the scale weight, then the threshold.
  LogicalResult loadRouters(std::vector<Router> &routers, int64_t width) {
    auto tensor = readNpy(routersFile);
    if (!tensor) {
      fail("cannot read routers='" + routersFile + "': " + llvm::toString(tensor.takeError()));
      return failure();
    }
    int64_t rows = int64_t(routers.size());
    const auto &shape = tensor->shape;
    if (shape.size() != 2 || shape[0] != rows || (shape[1] != width + 1 && shape[1] != width + 2) ||
        (tensor->kind != ElementKind::F32 && tensor->kind != ElementKind::F64)) {
      fail("routers='" + routersFile + "' holds " + elementName(tensor->kind) + " " +
           tensor->shapeString() + "; expected float32 or float64 [" + std::to_string(rows) + "," +
           std::to_string(width + 1) + "] (per routed block its " + std::to_string(width) +
           " weights, then its threshold) or [" + std::to_string(rows) + "," +
           std::to_string(width + 2) + "] (the weights, the scale weight, the threshold)");
      return failure();
    }
    int64_t columns = shape[1];
    for (int64_t b = 0; b < rows; ++b) {
      auto at = [&](int64_t j) {
        size_t i = size_t(b * columns + j);
        return tensor->kind == ElementKind::F32
                   ? double(reinterpret_cast<const float *>(tensor->data.data())[i])
                   : reinterpret_cast<const double *>(tensor->data.data())[i];
      };
      for (int64_t j = 0; j < columns; ++j)
        if (std::isnan(at(j)) || (j < columns - 1 && std::isinf(at(j)))) {
          fail("routers='" + routersFile + "' row " + std::to_string(b) + " holds " +
               (std::isnan(at(j)) ? "NaN" : "an infinite weight"));
          return failure();
        }
      for (int64_t j = 0; j < width; ++j)
        routers[b].weight.push_back(float(at(j)));
      if (columns == width + 2)
        routers[b].scaleWeight = at(width);
      routers[b].threshold = at(columns - 1);
    }
    return success();
  }

  /// Routers fitted on calibration data and put in place block after
  /// block: the schedule gives each block its skip rate (from the unrouted
  /// model's updates), its router (fitted or random) its scores, the rate's
  /// quantile of the scores its threshold. With fit=sequential each block
  /// is measured with the routers before it in place (as GPTQ measures
  /// layer after layer): one calibration run per routed block.
  LogicalResult fitAndInsertRouters(ArrayRef<const RepeatedBlock *> routed,
                                    std::vector<Router> &routers, int64_t width) {
    Calibration &calibration = getAnalysis<Calibration>();
    if (!calibration.available()) {
      fail("fitting routers needs calibration data (--calibration), or give routers=FILE");
      return failure();
    }
    auto measure = [&](ArrayRef<Value> boundaries, std::vector<RouterSamples> &samples) {
      samples.assign(boundaries.size() / 2, RouterSamples());
      if (llvm::Error error = calibration->visitValues(
              boundaries, [&](size_t, ArrayRef<HostTensor> states) -> llvm::Error {
                for (size_t b = 0; b < samples.size(); ++b)
                  if (llvm::Error e = addSamples(samples[b], states[2 * b], states[2 * b + 1]))
                    return e;
                return llvm::Error::success();
              })) {
        fail("calibrating the routed blocks failed: " + llvm::toString(std::move(error)));
        return failure();
      }
      return success();
    };
    SmallVector<Value> boundaries;
    for (const RepeatedBlock *block : routed) {
      boundaries.push_back(block->input);
      boundaries.push_back(block->output);
    }
    std::vector<RouterSamples> unrouted;
    if (failed(measure(boundaries, unrouted)))
      return failure();
    std::vector<double> rates = schedule == "updates"
                                    ? scheduleSkipRates(unrouted, skip)
                                    : std::vector<double>(unrouted.size(), double(skip));
    std::mt19937_64 random(seed);
    std::normal_distribution<double> gaussian;
    Value input = routed.front()->input;
    for (size_t b = 0; b < routed.size(); ++b) {
      std::vector<RouterSamples> current;
      if (fit == "sequential" && b > 0 && failed(measure({input, routed[b]->output}, current)))
        return failure();
      const RouterSamples &samples = current.empty() ? unrouted[b] : current.front();
      RouterWeights weights;
      if (router == "fitted") {
        weights = fitUpdatePredictor(samples);
      } else {
        for (int64_t j = 0; j < width; ++j)
          weights.weight.push_back(gaussian(random));
      }
      std::vector<double> s = scores(samples, weights);
      Router &r = routers[b];
      r.threshold = thresholdForRate(s, rates[b]);
      r.weight.assign(weights.weight.begin(), weights.weight.end());
      r.scaleWeight = weights.scaleWeight;
      int64_t kept = 0;
      for (double v : s)
        kept += v >= r.threshold;
      double mean = 0;
      for (double u : samples.updates)
        mean += u / double(samples.tokens());
      r.report = llvm::json::Object{
          {"skip_rate", 1.0 - double(kept) / double(std::max<int64_t>(1, samples.tokens()))},
          {"mean_update", mean},
          {"prediction_correlation", correlation(s, logUpdates(samples))}};
      FailureOr<Value> select = insertRouter(*routed[b], input, r);
      if (failed(select))
        return failure();
      input = *select;
    }
    return success();
  }

  /// Puts `r` before `block`: a router on the block's input `input` (the
  /// routed block before it leaves a select there), and a select of the
  /// block's output at kept tokens and its input at the others, returned.
  FailureOr<Value> insertRouter(const RepeatedBlock &block, Value input, const Router &r) {
    OpBuilder b(block.ops.front());
    Location loc = block.ops.front()->getLoc();
    auto inputType = cast<RankedTensorType>(input.getType());
    auto weightType = RankedTensorType::get({inputType.getShape().back()}, inputType.getElementType());
    Value weight = makeConstant(b, loc, weightType, r.weight,
                                "block." + std::to_string(block.index) + ".router");
    auto keepType = RankedTensorType::get(inputType.getShape().drop_back(), b.getI1Type());
    Value keep = RouteTokensOp::create(b, loc, keepType, input, weight,
                                       b.getF64FloatAttr(r.threshold),
                                       b.getF64FloatAttr(r.scaleWeight));
    if (skipKv && failed(maskSkippedKeys(block, input, keep)))
      return failure();
    b.setInsertionPointAfter(block.ops.back());
    auto select = SelectTokensOp::create(b, block.ops.back()->getLoc(), block.output.getType(), keep,
                                         block.output, input);
    Value(block.output).replaceAllUsesExcept(select.getResult(), select);
    return select.getResult();
  }

  /// skip-kv=true: the block's additive attention mask [.., T, T] (a value
  /// from outside the block) gets -inf at the keys of skipped tokens, in
  /// this block only.
  LogicalResult maskSkippedKeys(const RepeatedBlock &block, Value input, Value keep) {
    std::string where = "skip-kv=true: block " + std::to_string(block.index);
    if (hasCache(block, input)) {
      fail(where + " has a key/value cache: a skipped token's cache entry would still serve "
                   "later steps as a key; use skip-kv=false");
      return failure();
    }
    auto keepType = cast<RankedTensorType>(keep.getType());
    int64_t tokens = keepType.getShape().back();
    llvm::DenseSet<Operation *> inBlock(block.ops.begin(), block.ops.end());
    llvm::SetVector<Value> masks;
    // Candidates: read from outside the block as an input (not an init) of
    // a linalg op, not an empty or filled tensor, float [.., T, T].
    for (Operation *op : block.ops) {
      auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
      if (!linalgOp)
        continue;
      for (Value v : linalgOp.getDpsInputs()) {
        Operation *def = v.getDefiningOp();
        auto type = dyn_cast<RankedTensorType>(v.getType());
        if (isa_and_nonnull<tensor::EmptyOp, linalg::FillOp>(def) || (def && inBlock.contains(def)) ||
            v == input || !type || type.getRank() < 2 || !isa<FloatType>(type.getElementType()) ||
            ShapedType::isDynamic(tokens) || type.getShape().back() != tokens ||
            type.getShape().drop_back().back() != tokens)
          continue;
        masks.insert(v);
      }
    }
    if (masks.size() != 1 || keepType.getRank() != 2 || keepType.getDimSize(0) != 1) {
      fail(where + " has " + std::to_string(masks.size()) +
           " float tensors [.., T, T] from outside it (T = " +
           (ShapedType::isDynamic(tokens) ? std::string("dynamic") : std::to_string(tokens)) +
           ") where one additive attention mask, one sequence, is needed");
      return failure();
    }
    Value mask = masks.front();
    auto maskType = cast<RankedTensorType>(mask.getType());
    OpBuilder b(keep.getContext());
    b.setInsertionPointAfterValue(keep);
    Location loc = keep.getLoc();
    unsigned rank = maskType.getRank();
    MLIRContext *ctx = b.getContext();
    AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap keyOfKeep = AffineMap::get(
        rank, 0, {getAffineConstantExpr(0, ctx), getAffineDimExpr(rank - 1, ctx)}, ctx);
    Value init = tensor::EmptyOp::create(b, loc, maskType.getShape(), maskType.getElementType());
    Value minusInf = arith::ConstantOp::create(
        b, loc, b.getFloatAttr(maskType.getElementType(), -std::numeric_limits<double>::infinity()));
    auto masked = linalg::GenericOp::create(
        b, loc, TypeRange{maskType}, ValueRange{mask, keep}, ValueRange{init},
        ArrayRef<AffineMap>{identity, keyOfKeep, identity},
        SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange args) {
          linalg::YieldOp::create(b, l, arith::SelectOp::create(b, l, args[1], args[0], minusInf).getResult());
        });
    mask.replaceUsesWithIf(masked.getResult(0), [&](OpOperand &use) {
      return inBlock.contains(use.getOwner());
    });
    return success();
  }

  static std::string typeString(Type type) {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << type;
    return text;
  }

  void fail(const std::string &message) {
    getOperation().emitError() << "compress-token-skip: " << message;
    signalPassFailure();
  }
};

} // namespace
