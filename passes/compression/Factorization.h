// Low-rank factorization of a weight matrix: truncated SVD of the weight
// under a weighting (plain, whitened by the inputs' Gram matrix, or Fisher
// importances), the output error of every rank, and ranks allocated across
// layers under a parameter budget.
#ifndef COMPRESS_PASSES_COMPRESSION_FACTORIZATION_H
#define COMPRESS_PASSES_COMPRESSION_FACTORIZATION_H

#include "passes/compression/InverseHessian.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <vector>

namespace compress {

/// What the truncation minimises: ||L (T - U V) R||_F for a target T.
struct SvdWeighting {
  /// Per output row (FWSVD: the square root of the row's summed Fisher
  /// information); empty: 1.
  std::vector<double> rows;
  /// Per input feature (the activation proxy of FWSVD: sqrt(E[x_j^2]));
  /// empty: 1.
  std::vector<double> columns;
  /// Whitening (SVD-LLM): R is the Cholesky factor S of the inputs' Gram
  /// matrix (H = S S^T), so the truncation minimises the output error
  /// ||X (T - U V)^T||. Null: none.
  const std::vector<double> *hessian = nullptr;
};

/// The SVD of a weighted [n, k] matrix with the weighting undone, so that
/// any rank r is cut from it: T ~ up[:, :r] * down[:r, :], the singular
/// values split evenly between the factors (sqrt(sigma) on each side,
/// which keeps both in one range for quantisation).
struct WeightedSvd {
  int64_t n = 0, k = 0;
  std::vector<double> sigma; // descending, min(n, k) of them
  /// Row or column weights below 1e-6 of the largest, raised to it.
  int64_t raisedWeights = 0;
  /// Added to the Gram matrix's diagonal to whiten, as a fraction of its
  /// mean (0 when it was positive definite as measured).
  double dampening = 0;
  RowMatrix up;              // [n, min(n, k)]
  RowMatrix down;            // [min(n, k), k]
  /// Rank r's factors in float32: [n, r] and [r, k] row-major.
  std::vector<float> upFactor(int64_t r) const;
  std::vector<float> downFactor(int64_t r) const;
};

/// The weighted SVD of the [n, k] target `t`. Fails only when whitening
/// cannot make the Gram matrix positive definite.
llvm::Expected<WeightedSvd> weightedSvd(const std::vector<float> &t, int64_t n, int64_t k,
                                        const SvdWeighting &weighting);

/// The smallest rank keeping `energy` of sum sigma^2 (at least 1).
int64_t rankForEnergy(const std::vector<double> &sigma, double energy);

/// ||X (T - T_r)^T||^2 / ||X W^T||^2 for r = 0 .. maxRank: the squared
/// relative output error on the calibration inputs X (Gram matrix
/// `hessian`) of cutting `svd` (of the target T) to rank r, relative to
/// the layer's output with its [n, k] weight `w` (for a factorization
/// T = W; for a compensation T is W's compression error).
std::vector<double> outputErrorByRank(const WeightedSvd &svd, const std::vector<float> &t,
                                      const std::vector<float> &w,
                                      const std::vector<double> &hessian, int64_t maxRank);

/// A layer competing for a parameter budget.
struct RankCandidates {
  int64_t n, k;
  /// Squared relative output error at ranks 0 .. size-1.
  std::vector<double> squaredError;
  /// Whether keeping the layer dense (error 0, n * k parameters) competes.
  bool denseAllowed;
};
/// Chosen rank per layer (-1: dense) minimising the sum of squared
/// relative output errors (the model's error adds the layers' in
/// quadrature) with at most `budget` parameters in all, each layer at
/// rank >= 1: the Lagrangian relaxation, bisected on its multiplier.
std::vector<int64_t> allocateRanks(const std::vector<RankCandidates> &layers, double budget);

} // namespace compress

#endif
