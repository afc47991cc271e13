// Round-to-nearest and GPTQ quantisation of a weight matrix.
#include "passes/compression/Gptq.h"
#include "passes/compression/InverseHessian.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <algorithm>
#include <cmath>

using namespace compress;

namespace {
using Matrix = RowMatrix;

int32_t qmaxOf(const QuantizerConfig &c) {
  return c.symmetric ? (1 << (c.bits - 1)) - 1 : (1 << c.bits) - 1;
}
} // namespace

RowMatrix compress::inverseHessianFactor(RowMatrix h, RowMatrix &w, double damp) {
  int64_t k = h.rows();
  for (int64_t j = 0; j < k; ++j)
    if (h(j, j) == 0) {
      h(j, j) = 1;
      w.col(j).setZero();
    }
  h.diagonal().array() += damp * h.diagonal().mean();
  // The upper Cholesky factor U of H^-1 gives each column's error update.
  // With J the order-reversing permutation, J H J = L L^T makes H = V V^T
  // with V = J L J upper triangular, so H^-1 = V^-T V^-1 and
  // U = V^-1 = J L^-1 J: one Cholesky factorisation and one triangular
  // inverse, instead of inverting H and factorising the inverse. In place
  // where Eigen allows (two [k, k] matrices at a time: a down projection's
  // K = 11008 makes each 970 MB).
  h.reverseInPlace();
  Eigen::LLT<Eigen::Ref<RowMatrix>> factor(h);
  RowMatrix u = RowMatrix::Identity(k, k);
  factor.matrixL().solveInPlace(u);
  u.reverseInPlace();
  return u;
}

void compress::chooseScale(const float *w, int64_t count, int64_t stride,
                           const QuantizerConfig &config, float &scale, int32_t &zero) {
  float lo = 0, hi = 0; // the range always holds 0, so that 0 is exact
  for (int64_t i = 0; i < count; ++i) {
    lo = std::min(lo, w[i * stride]);
    hi = std::max(hi, w[i * stride]);
  }
  int32_t qmax = qmaxOf(config);
  zero = 0;
  if (config.symmetric) {
    // All 2^bits levels -2^(bits-1) .. 2^(bits-1) - 1: max|w| lands half a
    // step inside the range (the GPTQ reference's symmetric grid).
    scale = std::max(std::fabs(lo), std::fabs(hi)) / (float(qmax) + 0.5f);
  } else {
    scale = (hi - lo) / float(qmax);
    if (scale > 0)
      zero = std::clamp<int32_t>(int32_t(std::nearbyint(-lo / scale)), 0, qmax);
  }
  if (scale == 0)
    scale = 1; // an all-zero group: any scale represents it exactly
}

int32_t compress::quantizeValue(double w, float scale, int32_t zero,
                                const QuantizerConfig &config) {
  int32_t qmax = qmaxOf(config), qmin = config.symmetric ? -qmax - 1 : 0;
  return std::clamp<int32_t>(int32_t(std::nearbyint(w / scale)) + zero, qmin, qmax);
}

QuantizedMatrix compress::quantizeRtn(const std::vector<float> &w, int64_t n, int64_t k,
                                      const QuantizerConfig &config) {
  QuantizedMatrix q;
  int64_t groups = config.groups(k);
  q.values.resize(n * k);
  q.scales.resize(n * groups);
  q.zeroPoints.resize(n * groups);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t g = 0; g < groups; ++g) {
      const float *v = w.data() + r * k + g * config.group;
      int64_t length = config.groupLength(k, g);
      float scale;
      int32_t zero;
      chooseScale(v, length, 1, config, scale, zero);
      q.scales[r * groups + g] = scale;
      q.zeroPoints[r * groups + g] = zero;
      for (int64_t i = 0; i < length; ++i)
        q.values[r * k + g * config.group + i] = quantizeValue(v[i], scale, zero, config);
    }
  return q;
}

QuantizedMatrix compress::quantizeGptq(std::vector<float> weights, int64_t n, int64_t k,
                                       const std::vector<double> &hessian,
                                       const QuantizerConfig &config, bool actOrder,
                                       int64_t blockSize, double damp) {
  Eigen::Map<const Matrix> original(hessian.data(), k, k);
  Matrix w = Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
                 weights.data(), n, k)
                 .cast<double>();
  // Column order: as given, or by decreasing Hessian diagonal (act-order).
  std::vector<int64_t> order(k);
  for (int64_t j = 0; j < k; ++j)
    order[j] = j;
  if (actOrder)
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return original(a, a) > original(b, b);
    });
  Matrix h;
  if (actOrder) {
    h.resize(k, k);
    Matrix permuted(n, k);
    for (int64_t a = 0; a < k; ++a) {
      permuted.col(a) = w.col(order[a]);
      for (int64_t b = 0; b < k; ++b)
        h(a, b) = original(order[a], order[b]);
    }
    w = std::move(permuted);
  } else {
    h = original;
  }
  Matrix u = inverseHessianFactor(std::move(h), w, damp);

  QuantizedMatrix q;
  int64_t groups = config.groups(k);
  q.values.resize(n * k);
  q.scales.resize(n * groups);
  q.zeroPoints.resize(n * groups);
  std::vector<float> row(config.group);
  if (actOrder) // static groups: scales from the original weights
    for (int64_t r = 0; r < n; ++r)
      for (int64_t g = 0; g < groups; ++g) {
        const float *v = weights.data() + r * k + g * config.group;
        chooseScale(v, config.groupLength(k, g), 1, config, q.scales[r * groups + g],
                    q.zeroPoints[r * groups + g]);
      }
  for (int64_t start = 0; start < k; start += blockSize) {
    int64_t count = std::min(blockSize, k - start);
    Matrix errors(n, count);
    for (int64_t i = 0; i < count; ++i) {
      int64_t col = start + i;       // position in the processing order
      int64_t source = order[col];   // the weight's own column
      if (!actOrder && col % config.group == 0) {
        // Scales of the group starting here, from the weights as updated.
        int64_t length = config.groupLength(k, col / config.group);
        for (int64_t r = 0; r < n; ++r) {
          for (int64_t j = 0; j < length; ++j)
            row[j] = float(w(r, col + j));
          float scale;
          int32_t zero;
          chooseScale(row.data(), length, 1, config, scale, zero);
          q.scales[r * groups + col / config.group] = scale;
          q.zeroPoints[r * groups + col / config.group] = zero;
        }
      }
      double d = u(col, col);
      for (int64_t r = 0; r < n; ++r) {
        int64_t g = r * groups + source / config.group;
        int32_t value = quantizeValue(w(r, col), q.scales[g], q.zeroPoints[g], config);
        q.values[r * k + source] = value;
        double restored = double(value - q.zeroPoints[g]) * q.scales[g];
        errors(r, i) = (w(r, col) - restored) / d;
      }
      // Spread this column's error over the block's remaining columns.
      int64_t rest = count - i - 1;
      if (rest > 0)
        w.block(0, col + 1, n, rest).noalias() -=
            errors.col(i) * u.block(col, col + 1, 1, rest);
    }
    // ... and, lazily, over every later column at once.
    int64_t later = k - start - count;
    if (later > 0)
      w.block(0, start + count, n, later).noalias() -=
          errors * u.block(start, start + count, count, later);
  }
  return q;
}

std::vector<float> compress::dequantize(const QuantizedMatrix &q, int64_t n, int64_t k,
                                       const QuantizerConfig &config) {
  int64_t groups = config.groups(k);
  std::vector<float> out(n * k);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c) {
      int64_t g = r * groups + c / config.group;
      out[r * k + c] = float(double(q.values[r * k + c] - q.zeroPoints[g]) * q.scales[g]);
    }
  return out;
}

double compress::relativeOutputError(const std::vector<float> &w,
                                     const std::vector<float> &approximation, int64_t n,
                                     int64_t k, const std::vector<double> &hessian) {
  // Single precision: a reported ratio needs 4 digits, and float products
  // take half the time of double ones (the traces still sum in double).
  using FloatMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const FloatMatrix> original(w.data(), n, k), approx(approximation.data(), n, k);
  FloatMatrix difference = original - approx;
  FloatMatrix h = Eigen::Map<const Matrix>(hessian.data(), k, k).cast<float>();
  double error = (difference * h).cwiseProduct(difference).cast<double>().sum();
  double signal = (original * h).cwiseProduct(original).cast<double>().sum();
  return signal > 0 ? std::sqrt(std::max(error, 0.0) / signal) : 0.0;
}
