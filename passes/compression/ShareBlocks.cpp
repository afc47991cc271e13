// compress-share-blocks (FoldGPT): groups of neighbouring blocks run one
// shared weight per layer position, merged to minimise the group's output
// error on calibration data, with per-block output-channel scales.
#include "passes/compression/Passes.h"

#include "passes/compression/Blocks.h"
#include "passes/compression/Calibration.h"
#include "passes/compression/LayerWeights.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <optional>

namespace compress {
#define GEN_PASS_DEF_SHAREBLOCKSPASS
#include "passes/compression/Passes.h.inc"
} // namespace compress

using namespace mlir;
using namespace compress;

namespace {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Matrix toMatrix(const std::vector<float> &values, int64_t rows, int64_t cols) {
  return Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
             values.data(), rows, cols)
      .cast<double>();
}

/// One layer of a block in a group: its op, float weight and, with
/// calibration, the Gram matrix of its inputs.
struct Member {
  LinearOp op;
  std::string name;
  Matrix weight;
  Matrix hessian; // empty without calibration
};

/// The mean of the group's weights.
Matrix meanMerge(const std::vector<Member> &members) {
  Matrix mean = Matrix::Zero(members.front().weight.rows(), members.front().weight.cols());
  for (const Member &m : members)
    mean += m.weight / double(members.size());
  return mean;
}

/// The least-squares merge, damped toward the mean W0:
/// W = (sum_b W_b H_b + d W0) (sum_b H_b + d I)^-1, d a hundredth of the
/// mean diagonal. Null when the calibration inputs are all zero (nothing to
/// fit).
std::optional<Matrix> leastSquaresMerge(const std::vector<Member> &members) {
  Eigen::Index k = members.front().weight.cols();
  Matrix gram = Matrix::Zero(k, k), moments = Matrix::Zero(members.front().weight.rows(), k);
  for (const Member &m : members) {
    gram += m.hessian;
    moments += m.weight * m.hessian;
  }
  double damp = 0.01 * gram.diagonal().mean();
  if (!(damp > 0))
    return std::nullopt;
  gram.diagonal().array() += damp;
  moments += damp * meanMerge(members);
  // W gram = moments, gram symmetric: W^T = gram^-1 moments^T.
  return Matrix(gram.ldlt().solve(moments.transpose()).transpose());
}

/// ||X (W - W_b)^T||^2 / ||X W_b^T||^2 from H = X^T X.
double relativeOutputError(const Matrix &shared, const Eigen::VectorXd &scales, const Member &m) {
  Matrix delta = scales.asDiagonal() * shared - m.weight;
  double error = (delta * m.hessian).cwiseProduct(delta).sum();
  double norm = (m.weight * m.hessian).cwiseProduct(m.weight).sum();
  return norm > 0 ? error / norm : 0.0;
}

/// Per output channel n, the s_n minimising ||X (s_n w_n - w_b,n)||^2.
/// A channel no calibration input reaches (X w_n = 0) keeps s_n = 1, as
/// every scale fits it equally; `unfitted` counts them.
Eigen::VectorXd fitScales(const Matrix &shared, const Member &m, int64_t &unfitted) {
  Matrix projected = shared * m.hessian;
  Eigen::VectorXd scales(shared.rows());
  unfitted = 0;
  for (Eigen::Index n = 0; n < shared.rows(); ++n) {
    double denominator = projected.row(n).dot(shared.row(n));
    if (denominator > 0) {
      scales[n] = projected.row(n).dot(m.weight.row(n)) / denominator;
    } else {
      scales[n] = 1.0;
      ++unfitted;
    }
  }
  return scales;
}

/// Replaces the uses of `op`'s output by output * scales (+ its bias, moved
/// after the scaling) computed by an elementwise linalg.generic.
void scaleOutput(LinearOp op, const Eigen::VectorXd &scales, StringRef key) {
  OpBuilder b(op->getContext());
  b.setInsertionPointAfter(op);
  Location loc = op.getLoc();
  Value output = op.getOutput();
  auto type = cast<RankedTensorType>(output.getType());
  int64_t n = type.getShape().back(), rank = type.getRank();
  std::vector<float> values(scales.data(), scales.data() + scales.size());
  Value scaleConstant =
      makeConstant(b, loc, RankedTensorType::get({n}, b.getF32Type()), values, key);
  SmallVector<Value> inputs{output, scaleConstant};
  if (Value bias = op.getBias()) {
    inputs.push_back(bias);
    op.getBiasMutable().clear();
  }
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, output);
  Value init = tensor::EmptyOp::create(b, loc, sizes, type.getElementType());
  AffineMap identity = b.getMultiDimIdentityMap(rank);
  AffineMap channel = AffineMap::get(rank, 0, b.getAffineDimExpr(rank - 1));
  SmallVector<AffineMap> maps{identity, channel};
  if (inputs.size() == 3)
    maps.push_back(channel);
  maps.push_back(identity);
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  auto scaled = linalg::GenericOp::create(
      b, loc, type, inputs, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value v = arith::MulFOp::create(nb, nloc, args[0], args[1]);
        if (args.size() == 4)
          v = arith::AddFOp::create(nb, nloc, v, args[2]);
        linalg::YieldOp::create(nb, nloc, v);
      });
  // The sizes of a dynamic output were read with tensor.dim ops made above:
  // they keep reading the layer's output (replaced, they would read the
  // scaling before it is computed).
  llvm::SmallPtrSet<Operation *, 8> madeHere;
  for (Operation *o = op->getNextNode(); o && o != scaled.getOperation(); o = o->getNextNode())
    madeHere.insert(o);
  madeHere.insert(scaled);
  output.replaceUsesWithIf(scaled.getResult(0),
                           [&](OpOperand &use) { return !madeHere.contains(use.getOwner()); });
}

struct ShareBlocksPass : compress::impl::ShareBlocksPassBase<ShareBlocksPass> {
  using ShareBlocksPassBase::ShareBlocksPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (group < 2)
      return fail("group=" + std::to_string(group) + " shares nothing: give 2 or more");
    if (remainder != "error" && remainder != "unshared")
      return fail("remainder='" + remainder + "' is neither error nor unshared");
    if (merge != "least-squares" && merge != "mean" && merge != "first")
      return fail("merge='" + merge + "' is not one of least-squares, mean, first");
    if (corrections != "scales" && corrections != "none")
      return fail("corrections='" + corrections + "' is neither scales nor none");
    FailureOr<BlockStructure> structure = requireBlocks(module, "compress-share-blocks");
    if (failed(structure))
      return signalPassFailure();
    int64_t n = int64_t(structure->blocks.size());
    int64_t end = last < 0 ? n - 1 : int64_t(last);
    if (first < 0 || first > end || end >= n)
      return fail("blocks " + std::to_string(first) + " to " + std::to_string(end) +
                  " are not a range of the model's " + std::to_string(n) + " blocks");
    int64_t span = end - first + 1, left = span % group;
    if (left != 0 && remainder == "error")
      return fail("group=" + std::to_string(group) + " does not divide the " + std::to_string(span) +
                  " blocks " + std::to_string(first) + " to " + std::to_string(end) +
                  ": give remainder=unshared to leave the last " + std::to_string(left) +
                  " as they are");
    if (span - left < group)
      return fail("blocks " + std::to_string(first) + " to " + std::to_string(end) +
                  " hold no group of " + std::to_string(group));

    Calibration &calibration = getAnalysis<Calibration>();
    bool calibrated = merge == "least-squares" || corrections == "scales";
    if (merge == "least-squares" && !calibration.available())
      return fail("merge=least-squares needs calibration data (--calibration); merge=mean and "
                  "first do not");
    if (corrections == "scales" && !calibration.available())
      return fail("corrections=scales needs calibration data (--calibration); corrections=none "
                  "does not");

    // Every member's weight, checked before anything changes.
    std::vector<std::vector<std::vector<Member>>> groups; // group, position, member
    for (int64_t g = first; g + group - 1 <= end; g += group) {
      size_t positions = structure->blocks[g].layers.size();
      std::vector<std::vector<Member>> byPosition(positions);
      for (int64_t b = g; b < g + group; ++b)
        for (auto [j, layer] : llvm::enumerate(structure->blocks[b].layers)) {
          std::string name = layer.getLayerName("block" + std::to_string(b));
          auto op = dyn_cast<LinearOp>(layer.getOperation());
          std::optional<std::vector<float>> weight =
              op ? constantFloats(op.getWeight()) : std::nullopt;
          if (!weight)
            return fail("layer '" + name +
                        "' is not a linear layer with a float32 constant weight (share blocks "
                        "before quantizing, pruning or factorizing them)");
          auto type = op.getWeight().getType();
          Member m{op, name, toMatrix(*weight, type.getDimSize(0), type.getDimSize(1)), {}};
          if (!byPosition[j].empty() &&
              byPosition[j].front().weight.rows() != m.weight.rows())
            return fail("layer '" + name + "' has another shape than '" +
                        byPosition[j].front().name + "'");
          byPosition[j].push_back(std::move(m));
        }
      groups.push_back(std::move(byPosition));
    }

    mlir::Block *body = &module.lookupSymbol<func::FuncOp>("main").getBody().front();
    llvm::json::Array entries;
    int64_t bytesBefore = 0, bytesAfter = 0;
    for (auto [g, byPosition] : llvm::enumerate(groups)) {
      // The group's statistics, in the module's order, with the groups
      // before it already shared: each group's merge and scales see the
      // inputs the shared model gives it (as GPTQ measures layer by layer).
      for (size_t b = 0; calibrated && b < size_t(group); ++b)
        for (std::vector<Member> &members : byPosition) {
          Member &m = members[b];
          auto statistics = calibration->inputStatistics(cast<CompressibleLayer>(m.op.getOperation()));
          if (!statistics)
            return fail("calibration of layer '" + m.name +
                        "' failed: " + llvm::toString(statistics.takeError()));
          m.hessian = Eigen::Map<const Matrix>(statistics->hessian.data(), statistics->features,
                                               statistics->features);
        }
      llvm::json::Array positions;
      for (std::vector<Member> &members : byPosition) {
        Member &lead = members.front();
        Matrix shared = merge == "first" ? lead.weight : meanMerge(members);
        bool zeroInputs = false;
        if (merge == "least-squares") {
          std::optional<Matrix> fitted = leastSquaresMerge(members);
          zeroInputs = !fitted;
          if (fitted)
            shared = std::move(*fitted);
        }
        Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> stored =
            shared.cast<float>();
        std::vector<float> values(stored.data(), stored.data() + stored.size());
        OpBuilder b(body, body->begin());
        auto type = lead.op.getWeight().getType();
        Value constant = makeConstant(b, lead.op.getLoc(), type, values, lead.name + ".shared");
        llvm::json::Array layers;
        for (Member &m : members) {
          Operation *old = m.op.getWeight().getDefiningOp();
          m.op.getWeightMutable().assign(constant);
          if (old && old->use_empty())
            old->erase();
          llvm::json::Object entry{{"name", m.name}};
          if (zeroInputs)
            entry["merged_by"] = "mean: the group's calibration inputs are all zero";
          Eigen::VectorXd ones = Eigen::VectorXd::Ones(shared.rows());
          if (calibrated)
            entry["shared_output_error"] = relativeOutputError(shared, ones, m);
          if (corrections == "scales") {
            int64_t unfitted = 0;
            Eigen::VectorXd scales = fitScales(shared, m, unfitted);
            if (unfitted)
              entry["unfitted_channels"] = unfitted;
            entry["scaled_output_error"] = relativeOutputError(shared, scales, m);
            scaleOutput(m.op, scales, m.name + ".share_scales");
            bytesAfter += int64_t(scales.size()) * 4;
          }
          layers.push_back(std::move(entry));
          bytesBefore += int64_t(values.size()) * 4;
        }
        bytesAfter += int64_t(values.size()) * 4;
        positions.push_back(std::move(layers));
        for (Member &m : members)
          m.hessian = Matrix(); // the next group's statistics take their place
      }
      int64_t start = first + int64_t(g) * group;
      llvm::json::Array blocks;
      for (int64_t b = start; b < start + group; ++b)
        blocks.push_back(b);
      entries.push_back(llvm::json::Object{{"blocks", std::move(blocks)},
                                           {"layers", std::move(positions)}});
    }
    llvm::json::Object doc{{"pass", "compress-share-blocks"},
                           {"merge", merge},
                           {"corrections", corrections},
                           {"groups", std::move(entries)},
                           {"totals", llvm::json::Object{{"bytes_before", bytesBefore},
                                                         {"bytes_after", bytesAfter}}}};
    if (llvm::Error error = publishReport(&getContext(), report, std::move(doc)))
      fail(llvm::toString(std::move(error)));
  }

  void fail(const std::string &message) {
    getOperation().emitError() << "compress-share-blocks: " << message;
    signalPassFailure();
  }
};

} // namespace
