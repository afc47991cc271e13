// The factor of the inverse Hessian that optimal-brain-surgeon updates
// (GPTQ, SparseGPT) spread each column's error with.
#ifndef COMPRESS_PASSES_COMPRESSION_INVERSEHESSIAN_H
#define COMPRESS_PASSES_COMPRESSION_INVERSEHESSIAN_H

#include <Eigen/Core>

namespace compress {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// The upper Cholesky factor U of H^-1 (H^-1 = U^T U) for the [k, k]
/// Hessian `h` of a layer's inputs, after the reference codes' conditioning:
/// inputs that never fire (H_jj = 0) carry no information, so their columns
/// of the [n, k] weight `w` are zeroed and H_jj set to 1; then `damp` times
/// the mean diagonal is added to the diagonal.
RowMatrix inverseHessianFactor(RowMatrix h, RowMatrix &w, double damp);

} // namespace compress

#endif
