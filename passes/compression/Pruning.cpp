// Magnitude, Wanda and SparseGPT pruning of a weight matrix.
#include "passes/compression/Pruning.h"

#include "passes/compression/InverseHessian.h"

#include <algorithm>
#include <cmath>
#include <numeric>

using namespace compress;

namespace {

/// Marks the `count` smallest of `scores[i]` (i in `items`) as pruned in
/// `mask` at the same positions. Ties go to the lower position, so that
/// results do not depend on the sort's implementation.
void pruneSmallest(const std::vector<float> &scores, std::vector<int64_t> items, int64_t count,
                   Mask &mask) {
  if (count <= 0)
    return;
  auto less = [&](int64_t a, int64_t b) {
    return scores[a] < scores[b] || (scores[a] == scores[b] && a < b);
  };
  std::nth_element(items.begin(), items.begin() + (count - 1), items.end(), less);
  for (int64_t i = 0; i < count; ++i)
    mask[items[i]] = 0;
}

/// The mask keeping the largest scores ([n, k]) under `pattern`: N:M within
/// each group of a row; unstructured per row or over the whole matrix.
Mask keepLargest(const std::vector<float> &scores, int64_t n, int64_t k,
                 const SparsityPattern &pattern, bool perRow) {
  Mask mask(n * k, 1);
  if (pattern.isNM()) {
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; c += pattern.block) {
        std::vector<int64_t> group(pattern.block);
        std::iota(group.begin(), group.end(), r * k + c);
        pruneSmallest(scores, std::move(group), pattern.block - pattern.keep, mask);
      }
    return mask;
  }
  int64_t span = perRow ? k : n * k;
  for (int64_t start = 0; start < n * k; start += span) {
    std::vector<int64_t> items(span);
    std::iota(items.begin(), items.end(), start);
    pruneSmallest(scores, std::move(items), std::llround(span * pattern.sparsity), mask);
  }
  return mask;
}

} // namespace

Mask compress::magnitudeMask(const std::vector<float> &w, int64_t n, int64_t k,
                             const SparsityPattern &pattern) {
  std::vector<float> scores(w.size());
  for (size_t i = 0; i < w.size(); ++i)
    scores[i] = std::fabs(w[i]);
  return keepLargest(scores, n, k, pattern, /*perRow=*/false);
}

Mask compress::wandaMask(const std::vector<float> &w, int64_t n, int64_t k,
                         const std::vector<double> &l2Norm, const SparsityPattern &pattern) {
  std::vector<float> scores(w.size());
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c)
      scores[r * k + c] = float(std::fabs(double(w[r * k + c])) * l2Norm[c]);
  return keepLargest(scores, n, k, pattern, /*perRow=*/true);
}

std::vector<float> compress::applyMask(std::vector<float> w, const Mask &mask) {
  for (size_t i = 0; i < w.size(); ++i)
    if (!mask[i])
      w[i] = 0;
  return w;
}

PrunedMatrix compress::pruneSparseGpt(std::vector<float> weights, int64_t n, int64_t k,
                                      std::vector<double> hessian,
                                      const SparsityPattern &pattern,
                                      const std::optional<QuantizerConfig> &quantize,
                                      int64_t blockSize, double damp) {
  RowMatrix w = Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
                    weights.data(), n, k)
                    .cast<double>();
  RowMatrix u = inverseHessianFactor(Eigen::Map<RowMatrix>(hessian.data(), k, k), w, damp);
  // N:M groups must not straddle two blocks.
  if (pattern.isNM())
    blockSize = std::max<int64_t>(1, blockSize / pattern.block) * pattern.block;

  PrunedMatrix result;
  result.weight.assign(n * k, 0);
  result.mask.assign(n * k, 1);
  QuantizedMatrix q;
  int64_t groups = 0;
  if (quantize) {
    groups = quantize->groups(k);
    q.values.assign(n * k, 0);
    q.scales.assign(n * groups, 1);
    q.zeroPoints.assign(n * groups, 0);
  }
  std::vector<float> scores, row;
  for (int64_t start = 0; start < k; start += blockSize) {
    int64_t count = std::min(blockSize, k - start);
    RowMatrix errors(n, count);
    if (!pattern.isNM()) {
      // Adaptive mask selection: the block's weights that cost least to
      // remove, w^2 / [H^-1]_jj^2, over all its rows.
      scores.assign(n * count, 0);
      for (int64_t r = 0; r < n; ++r)
        for (int64_t i = 0; i < count; ++i) {
          double d = u(start + i, start + i);
          scores[r * count + i] = float(w(r, start + i) * w(r, start + i) / (d * d));
        }
      Mask blockMask = keepLargest(scores, n, count, pattern, /*perRow=*/false);
      for (int64_t r = 0; r < n; ++r)
        for (int64_t i = 0; i < count; ++i)
          result.mask[r * k + start + i] = blockMask[r * count + i];
    }
    for (int64_t i = 0; i < count; ++i) {
      int64_t col = start + i;
      if (pattern.isNM() && col % pattern.block == 0) {
        // The group's mask, per row, from the weights as updated so far.
        scores.assign(pattern.block, 0);
        for (int64_t r = 0; r < n; ++r) {
          for (int64_t j = 0; j < pattern.block; ++j) {
            double d = u(col + j, col + j);
            scores[j] = float(w(r, col + j) * w(r, col + j) / (d * d));
          }
          Mask groupMask = keepLargest(scores, 1, pattern.block, pattern, false);
          std::copy(groupMask.begin(), groupMask.end(), result.mask.begin() + r * k + col);
        }
      }
      if (quantize && col % quantize->group == 0) {
        // Scales of the group starting here, from the updated weights that
        // are not already known to be pruned.
        int64_t length = quantize->groupLength(k, col / quantize->group);
        for (int64_t r = 0; r < n; ++r) {
          row.assign(length, 0.0f);
          for (int64_t j = 0; j < length; ++j)
            if (result.mask[r * k + col + j])
              row[j] = float(w(r, col + j));
          int64_t g = r * groups + col / quantize->group;
          chooseScale(row.data(), length, 1, *quantize, q.scales[g], q.zeroPoints[g]);
        }
      }
      double d = u(col, col);
      for (int64_t r = 0; r < n; ++r) {
        double kept = 0;
        if (quantize) {
          int64_t g = r * groups + col / quantize->group;
          int32_t code = q.zeroPoints[g]; // dequantises to 0
          if (result.mask[r * k + col])
            code = quantizeValue(w(r, col), q.scales[g], q.zeroPoints[g], *quantize);
          q.values[r * k + col] = code;
          kept = double(code - q.zeroPoints[g]) * q.scales[g];
        } else if (result.mask[r * k + col]) {
          kept = w(r, col);
        }
        result.weight[r * k + col] = float(kept);
        errors(r, i) = (w(r, col) - kept) / d;
      }
      int64_t rest = count - i - 1;
      if (rest > 0)
        w.block(0, col + 1, n, rest).noalias() -= errors.col(i) * u.block(col, col + 1, 1, rest);
    }
    int64_t later = k - start - count;
    if (later > 0)
      w.block(0, start + count, n, later).noalias() -=
          errors * u.block(start, start + count, count, later);
  }
  if (quantize)
    result.quantized = std::move(q);
  return result;
}
