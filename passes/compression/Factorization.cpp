// Weighted truncated SVD, its output error by rank, and rank allocation.
#include "passes/compression/Factorization.h"

#include <Eigen/Cholesky>
#include <Eigen/SVD>

#include <algorithm>
#include <cmath>
#include <limits>

using namespace compress;

namespace {

using FloatMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Weights at least 1e-6 of the largest: a row or feature that never
/// matters still gets a finite inverse. Counts the weights raised.
Eigen::VectorXd clampedWeights(const std::vector<double> &w, int64_t &raised) {
  Eigen::VectorXd v = Eigen::Map<const Eigen::VectorXd>(w.data(), Eigen::Index(w.size())).cwiseAbs();
  double floor = 1e-6 * v.maxCoeff();
  if (!(floor > 0))
    floor = 1.0;
  raised += (v.array() < floor).count();
  return v.cwiseMax(floor);
}

Eigen::Map<const FloatMatrix> view(const std::vector<float> &m, int64_t rows, int64_t cols) {
  return Eigen::Map<const FloatMatrix>(m.data(), rows, cols);
}

} // namespace

std::vector<float> WeightedSvd::upFactor(int64_t r) const {
  FloatMatrix f = up.leftCols(r).cast<float>();
  return std::vector<float>(f.data(), f.data() + f.size());
}

std::vector<float> WeightedSvd::downFactor(int64_t r) const {
  FloatMatrix f = down.topRows(r).cast<float>();
  return std::vector<float>(f.data(), f.data() + f.size());
}

llvm::Expected<WeightedSvd> compress::weightedSvd(const std::vector<float> &t, int64_t n,
                                                  int64_t k, const SvdWeighting &weighting) {
  RowMatrix m = view(t, n, k).cast<double>();
  Eigen::VectorXd rows, columns;
  int64_t raised = 0;
  double dampening = 0;
  if (!weighting.rows.empty()) {
    rows = clampedWeights(weighting.rows, raised);
    m = rows.asDiagonal() * m;
  }
  if (!weighting.columns.empty()) {
    columns = clampedWeights(weighting.columns, raised);
    m = m * columns.asDiagonal();
  }
  Eigen::LLT<RowMatrix> llt;
  if (weighting.hessian) {
    // Inputs that never fire make the Gram matrix singular: the smallest
    // dampening (a fraction of the mean diagonal) that makes it positive
    // definite, as SVD-LLM does.
    RowMatrix h = Eigen::Map<const RowMatrix>(weighting.hessian->data(), k, k);
    double mean = h.diagonal().mean();
    if (!(mean > 0))
      return llvm::createStringError("the layer's inputs are all zero on the calibration data");
    for (int step = 0; step <= 8; ++step) { // 0, then 1e-8 .. 1e-1
      dampening = step == 0 ? 0.0 : std::pow(10.0, step - 9);
      RowMatrix damped = h;
      damped.diagonal().array() += dampening * mean;
      llt.compute(damped);
      if (llt.info() == Eigen::Success)
        break;
    }
    if (llt.info() != Eigen::Success)
      return llvm::createStringError(
          "the Gram matrix of the layer's inputs is not positive definite even dampened by "
          "10% of its mean diagonal");
    m = m * llt.matrixL().toDenseMatrix();
  }

  Eigen::BDCSVD<Eigen::MatrixXd> svd(m, Eigen::ComputeThinU | Eigen::ComputeThinV);
  Eigen::VectorXd sqrtSigma = svd.singularValues().cwiseSqrt();
  WeightedSvd out;
  out.n = n;
  out.k = k;
  out.raisedWeights = raised;
  out.dampening = dampening;
  out.sigma.assign(svd.singularValues().data(),
                   svd.singularValues().data() + svd.singularValues().size());
  out.up = svd.matrixU() * sqrtSigma.asDiagonal();
  Eigen::MatrixXd downT = svd.matrixV() * sqrtSigma.asDiagonal(); // [k, p]
  // Undo the weighting: T = L^-1 (L T R) R^-1.
  if (rows.size())
    out.up = rows.cwiseInverse().asDiagonal() * out.up;
  if (weighting.hessian)
    downT = llt.matrixU().solve(downT); // S^-T, S = L lower
  if (columns.size())
    downT = columns.cwiseInverse().asDiagonal() * downT;
  out.down = downT.transpose();
  return out;
}

int64_t compress::rankForEnergy(const std::vector<double> &sigma, double energy) {
  double total = 0;
  for (double s : sigma)
    total += s * s;
  double kept = 0;
  for (size_t r = 0; r < sigma.size(); ++r) {
    kept += sigma[r] * sigma[r];
    if (kept >= energy * total)
      return int64_t(r) + 1;
  }
  return int64_t(sigma.size());
}

std::vector<double> compress::outputErrorByRank(const WeightedSvd &svd,
                                                const std::vector<float> &t,
                                                const std::vector<float> &w,
                                                const std::vector<double> &hessian,
                                                int64_t maxRank) {
  int64_t n = svd.n, k = svd.k;
  maxRank = std::min<int64_t>(maxRank, svd.up.cols());
  Eigen::Map<const RowMatrix> h(hessian.data(), k, k);
  RowMatrix target = view(t, n, k).cast<double>();
  RowMatrix weight = view(w, n, k).cast<double>();
  RowMatrix targetH = target * h;
  double reference = (weight * h).cwiseProduct(weight).sum();
  // ||X (T - sum_{i<r} p_i q_i^T)^T||^2 = tr(T H T^T) - 2 sum_{i<r} p_i^T T H q_i
  //   + sum_{i,j<r} (p_i . p_j)(q_i^T H q_j), one rank at a time.
  auto p = svd.up.leftCols(maxRank);
  auto q = svd.down.topRows(maxRank);
  RowMatrix projected = targetH * q.transpose(); // [n, r]
  RowMatrix gram = (p.transpose() * p).cwiseProduct(q * h * q.transpose());
  std::vector<double> errors(maxRank + 1);
  double error = targetH.cwiseProduct(target).sum();
  errors[0] = error;
  for (int64_t r = 0; r < maxRank; ++r) {
    error += -2 * p.col(r).dot(projected.col(r)) + 2 * gram.row(r).head(r).sum() + gram(r, r);
    errors[r + 1] = error;
  }
  for (double &e : errors)
    e = reference > 0 ? std::max(e, 0.0) / reference : 0.0;
  return errors;
}

std::vector<int64_t> compress::allocateRanks(const std::vector<RankCandidates> &layers,
                                             double budget) {
  std::vector<int64_t> ranks(layers.size());
  // Each layer's best choice at multiplier `lambda` on parameters; returns
  // the parameters chosen.
  auto choose = [&](double lambda) {
    double parameters = 0;
    for (size_t l = 0; l < layers.size(); ++l) {
      const RankCandidates &layer = layers[l];
      double dense = double(layer.n * layer.k), best = std::numeric_limits<double>::infinity();
      if (layer.denseAllowed) {
        best = lambda * dense;
        ranks[l] = -1;
      }
      for (size_t r = 1; r < layer.squaredError.size(); ++r) {
        double value = layer.squaredError[r] + lambda * double(int64_t(r) * (layer.n + layer.k));
        if (value < best) {
          best = value;
          ranks[l] = int64_t(r);
        }
      }
      parameters += ranks[l] < 0 ? dense : double(ranks[l] * (layer.n + layer.k));
    }
    return parameters;
  };
  if (choose(0) <= budget)
    return ranks;
  double lo = 1e-18, hi = 1e6; // log-bisection: parameters fall as lambda grows
  for (int i = 0; i < 200 && hi / lo > 1 + 1e-9; ++i) {
    double mid = std::sqrt(lo * hi);
    (choose(mid) <= budget ? hi : lo) = mid;
  }
  choose(hi);
  return ranks;
}
