// Router fitting for compress-token-skip (TokenRouters.h), with Eigen.
#include "passes/compression/TokenRouters.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <limits>

using namespace compress;

llvm::Error compress::addSamples(RouterSamples &samples, const HostTensor &input,
                                 const HostTensor &output) {
  if (input.kind != ElementKind::F32 || output.kind != ElementKind::F32 || input.shape.empty() ||
      input.shape != output.shape)
    return llvm::createStringError("a routed block's input and output are not float32 hidden "
                                   "states of one shape: " +
                                   input.shapeString() + " and " + output.shapeString());
  int64_t width = input.shape.back();
  if (samples.width && samples.width != width)
    return llvm::createStringError("hidden states of width " + std::to_string(width) +
                                   " after " + std::to_string(samples.width));
  samples.width = width;
  auto *x = reinterpret_cast<const float *>(input.data.data());
  auto *y = reinterpret_cast<const float *>(output.data.data());
  int64_t tokens = width ? input.numElements() / width : 0;
  for (int64_t t = 0; t < tokens; ++t) {
    const float *xt = x + t * width, *yt = y + t * width;
    double squares = 0, change = 0;
    for (int64_t j = 0; j < width; ++j) {
      squares += double(xt[j]) * xt[j];
      change += (double(yt[j]) - xt[j]) * (double(yt[j]) - xt[j]);
    }
    double rms = std::sqrt(squares / double(width) + 1e-6);
    for (int64_t j = 0; j < width; ++j)
      samples.features.push_back(float(xt[j] / rms));
    samples.logRms.push_back(std::log(rms));
    samples.updates.push_back(squares > 0 ? std::sqrt(change / squares) : 0.0);
  }
  return llvm::Error::success();
}

std::vector<double> compress::logUpdates(const RouterSamples &samples) {
  std::vector<double> result;
  for (double u : samples.updates)
    result.push_back(std::log(std::max(u, 1e-12)));
  return result;
}

RouterWeights compress::fitUpdatePredictor(const RouterSamples &samples) {
  int64_t n = samples.tokens(), d = samples.width;
  Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> f(
      samples.features.data(), n, d);
  Eigen::MatrixXd design(n, d + 2);
  design.leftCols(d) = f.cast<double>();
  design.col(d) = Eigen::Map<const Eigen::VectorXd>(samples.logRms.data(), n);
  design.col(d + 1).setOnes();
  std::vector<double> target = logUpdates(samples);
  Eigen::Map<const Eigen::VectorXd> u(target.data(), n);
  Eigen::MatrixXd gram = design.transpose() * design;
  double ridge = 1e-3 * gram.diagonal().mean();
  gram.diagonal().array() += ridge > 0 ? ridge : 1.0;
  Eigen::VectorXd beta = gram.ldlt().solve(design.transpose() * u);
  return {std::vector<double>(beta.data(), beta.data() + d), beta(d)};
}

std::vector<double> compress::scores(const RouterSamples &samples, const RouterWeights &router) {
  std::vector<double> result(samples.tokens());
  for (int64_t t = 0; t < samples.tokens(); ++t) {
    double s = router.scaleWeight * samples.logRms[t];
    for (int64_t j = 0; j < samples.width; ++j)
      s += router.weight[j] * samples.features[t * samples.width + j];
    result[t] = s;
  }
  return result;
}

std::vector<double> compress::scheduleSkipRates(const std::vector<RouterSamples> &blocks,
                                                double skip) {
  std::vector<double> pooled;
  for (const RouterSamples &block : blocks)
    pooled.insert(pooled.end(), block.updates.begin(), block.updates.end());
  std::vector<double> rates(blocks.size(), 0.0);
  size_t skipped = size_t(std::llround(skip * double(pooled.size())));
  if (skipped == 0 || pooled.empty())
    return rates;
  std::nth_element(pooled.begin(), pooled.begin() + (skipped - 1), pooled.end());
  double cut = pooled[skipped - 1];
  for (size_t b = 0; b < blocks.size(); ++b) {
    int64_t below = 0;
    for (double u : blocks[b].updates)
      below += u <= cut;
    rates[b] = blocks[b].tokens() ? double(below) / double(blocks[b].tokens()) : 0.0;
  }
  return rates;
}

double compress::thresholdForRate(std::vector<double> scores, double rate) {
  size_t skipped = size_t(std::llround(rate * double(scores.size())));
  if (skipped == 0 || scores.empty())
    return -std::numeric_limits<double>::infinity();
  std::sort(scores.begin(), scores.end());
  if (skipped >= scores.size())
    return std::nextafter(scores.back(), std::numeric_limits<double>::infinity());
  // Keep the scores from the first one kept: those below are skipped.
  return scores[skipped];
}

double compress::correlation(const std::vector<double> &a, const std::vector<double> &b) {
  size_t n = std::min(a.size(), b.size());
  if (n < 2)
    return 0.0;
  double ma = 0, mb = 0;
  for (size_t i = 0; i < n; ++i)
    ma += a[i], mb += b[i];
  ma /= double(n), mb /= double(n);
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < n; ++i) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) * (a[i] - ma);
    bb += (b[i] - mb) * (b[i] - mb);
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
}
