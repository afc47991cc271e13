// GPTQ (Frantar et al., 2022): quantisation of a layer's weight that
// compensates each column's rounding error on the columns not yet quantised,
// using the inverse Hessian of the layer's inputs.
#ifndef COMPRESS_PASSES_COMPRESSION_GPTQ_H
#define COMPRESS_PASSES_COMPRESSION_GPTQ_H

#include <algorithm>
#include <cstdint>
#include <vector>

namespace compress {

struct QuantizerConfig {
  int64_t bits;
  int64_t group;  // input features per scale (the last group of a row may be partial)
  bool symmetric;

  /// Scales per row: ceil(k / group).
  int64_t groups(int64_t k) const { return (k + group - 1) / group; }
  /// Features in group g of a row of k: `group`, or fewer for the last one.
  int64_t groupLength(int64_t k, int64_t g) const { return std::min(group, k - g * group); }
};

/// A weight in integers with its scales (and zero points when asymmetric),
/// in [N, groups] order; `values` holds one integer per weight, [N, K].
struct QuantizedMatrix {
  std::vector<int32_t> values;
  std::vector<float> scales;
  std::vector<int32_t> zeroPoints;
};

/// Scale and zero point of one group of weights (RTN's choice).
void chooseScale(const float *w, int64_t count, int64_t stride, const QuantizerConfig &config,
                 float &scale, int32_t &zero);
/// The integer that `w` rounds to under `scale` and `zero`.
int32_t quantizeValue(double w, float scale, int32_t zero, const QuantizerConfig &config);

/// Round-to-nearest of the [n, k] weight.
QuantizedMatrix quantizeRtn(const std::vector<float> &w, int64_t n, int64_t k,
                            const QuantizerConfig &config);

/// GPTQ of the [n, k] weight given the [k, k] Hessian of its inputs; blocks
/// of `blockSize` columns, dampening `damp` times the mean diagonal. Group
/// scales are chosen from the updated weights as each group starts. With
/// `actOrder`, columns go in decreasing order of the Hessian's diagonal, and
/// the group scales are chosen up front from the original weights (static
/// groups), so that each group keeps one scale whatever the order.
QuantizedMatrix quantizeGptq(std::vector<float> w, int64_t n, int64_t k,
                             const std::vector<double> &hessian, const QuantizerConfig &config,
                             bool actOrder = false, int64_t blockSize = 128,
                             double damp = 0.01);

/// The float weight that `q` ([n, k]) stands for.
std::vector<float> dequantize(const QuantizedMatrix &q, int64_t n, int64_t k,
                              const QuantizerConfig &config);

/// ||X (W - A)^T|| / ||X W^T|| over the calibration inputs X whose Hessian
/// H = (2/n) X^T X is given: sqrt(tr(D H D^T) / tr(W H W^T)), D = W - A for
/// an approximation A of the [n, k] weight W (quantized, pruned). The
/// layer's relative output error on the calibration data, without running
/// the layer again.
double relativeOutputError(const std::vector<float> &w, const std::vector<float> &approximation,
                           int64_t n, int64_t k, const std::vector<double> &hessian);

} // namespace compress

#endif
