// Pruning of a weight matrix: which weights to zero (magnitude, Wanda) and
// SparseGPT's reconstruction of the rest, unstructured or N:M.
#ifndef COMPRESS_PASSES_COMPRESSION_PRUNING_H
#define COMPRESS_PASSES_COMPRESSION_PRUNING_H

#include "passes/compression/Gptq.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace compress {

/// Which weights of an [n, k] matrix a pruner zeroes.
struct SparsityPattern {
  /// Unstructured: the fraction of weights set to zero, in [0, 1) (of each
  /// comparison group: round(size * sparsity) of them).
  double sparsity = 0;
  /// N:M: `keep` of every `block` consecutive input features of a row stay
  /// (block 0: unstructured).
  int64_t keep = 0, block = 0;

  bool isNM() const { return block > 0; }
};

/// 1 where a weight is kept, 0 where it is pruned; [n, k] row-major.
using Mask = std::vector<uint8_t>;

/// Magnitude pruning: keeps the largest |w|. Unstructured, over the whole
/// matrix (the papers' magnitude baseline compares a layer's weights with
/// each other); N:M, within each group of a row.
Mask magnitudeMask(const std::vector<float> &w, int64_t n, int64_t k,
                   const SparsityPattern &pattern);

/// Wanda (Sun et al., 2023): keeps the largest |w_ij| * ||x_j||_2 (`l2Norm`:
/// the L2 norm of input feature j over the calibration tokens), compared
/// per output row (unstructured) or per group of a row (N:M).
Mask wandaMask(const std::vector<float> &w, int64_t n, int64_t k,
               const std::vector<double> &l2Norm, const SparsityPattern &pattern);

/// A pruned weight: its values (zero where pruned), the mask, and, when
/// quantized jointly, its integer form (pruned codes dequantise to 0).
struct PrunedMatrix {
  std::vector<float> weight;
  Mask mask;
  std::optional<QuantizedMatrix> quantized;
};

/// SparseGPT (Frantar & Alistarh, 2023): prunes column by column in blocks
/// of `blockSize` (lazy updates), choosing the mask adaptively as each
/// block starts (unstructured: the smallest w^2 / [H^-1]_jj^2 of the block
/// over all rows) or as each group of `block` columns starts (N:M, per
/// row), and spreading each column's pruning (and, with `quantize`,
/// rounding) error over the columns not yet visited through the inverse
/// Hessian. Group scales are chosen from the updated weights as each group
/// starts, over the weights not already pruned.
PrunedMatrix pruneSparseGpt(std::vector<float> w, int64_t n, int64_t k,
                            std::vector<double> hessian, const SparsityPattern &pattern,
                            const std::optional<QuantizerConfig> &quantize,
                            int64_t blockSize = 128, double damp = 0.01);

/// Applies `mask` to `w` (pruned weights become 0).
std::vector<float> applyMask(std::vector<float> w, const Mask &mask);

} // namespace compress

#endif
