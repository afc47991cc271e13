// Tests of compress-factorize's algebra (passes/compression/Factorization.h)
// against direct computations: the output error of every rank against
// relativeOutputError (Gptq.h) of the materialised product, and the budget
// allocation against exhaustive search.
#include "passes/compression/Factorization.h"
#include "passes/compression/Gptq.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

using namespace compress;

namespace {

std::vector<float> randomMatrix(int64_t rows, int64_t cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> m(rows * cols);
  for (float &v : m)
    v = normal(rng);
  return m;
}

/// (2/n) X^T X of n rows whose features differ in scale.
std::vector<double> gram(int64_t n, int64_t k, unsigned seed) {
  std::vector<float> x = randomMatrix(n, k, seed);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < k; ++j)
      x[r * k + j] *= std::exp(0.5f * float(j % 7) - 1.5f);
  std::vector<double> h(k * k, 0.0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j)
        h[i * k + j] += 2.0 / double(n) * x[r * k + i] * x[r * k + j];
  return h;
}

std::vector<float> product(const WeightedSvd &svd, int64_t r) {
  std::vector<float> up = svd.upFactor(r), down = svd.downFactor(r), out(svd.n * svd.k, 0.0f);
  for (int64_t i = 0; i < svd.n; ++i)
    for (int64_t t = 0; t < r; ++t)
      for (int64_t j = 0; j < svd.k; ++j)
        out[i * svd.k + j] += up[i * r + t] * down[t * svd.k + j];
  return out;
}

// Every method's error curve is the output error of its own truncation.
TEST(Factorization, OutputErrorByRankMatchesTheMaterialisedProduct) {
  const int64_t n = 12, k = 9;
  std::vector<float> w = randomMatrix(n, k, 1);
  std::vector<double> h = gram(200, k, 2);
  std::vector<double> rows(n);
  for (int64_t i = 0; i < n; ++i)
    rows[i] = 1.0 + double(i);
  std::vector<double> columns(k);
  for (int64_t j = 0; j < k; ++j)
    columns[j] = std::sqrt(h[j * k + j]);
  std::vector<SvdWeighting> weightings(4);
  weightings[1].hessian = &h;
  weightings[2].rows = rows;
  weightings[3].columns = columns;
  for (const SvdWeighting &weighting : weightings) {
    auto svd = weightedSvd(w, n, k, weighting);
    ASSERT_TRUE(bool(svd));
    std::vector<double> curve = outputErrorByRank(*svd, w, w, h, k);
    ASSERT_EQ(curve.size(), size_t(k + 1));
    EXPECT_NEAR(curve[0], 1.0, 1e-9);
    EXPECT_NEAR(curve[k], 0.0, 1e-9);
    for (int64_t r = 1; r < k; ++r) {
      double direct = relativeOutputError(w, product(*svd, r), n, k, h);
      EXPECT_NEAR(std::sqrt(curve[r]), direct, 1e-5) << "rank " << r;
    }
  }
}

// Whitening minimises the output error: at every rank it is at most that of
// the plain SVD's truncation.
TEST(Factorization, WhiteningMinimisesTheOutputError) {
  const int64_t n = 10, k = 8;
  std::vector<float> w = randomMatrix(n, k, 3);
  std::vector<double> h = gram(100, k, 4);
  SvdWeighting whitened;
  whitened.hessian = &h;
  auto plain = weightedSvd(w, n, k, {});
  auto aware = weightedSvd(w, n, k, whitened);
  ASSERT_TRUE(plain && aware);
  std::vector<double> plainCurve = outputErrorByRank(*plain, w, w, h, k);
  std::vector<double> awareCurve = outputErrorByRank(*aware, w, w, h, k);
  for (int64_t r = 1; r < k; ++r)
    EXPECT_LE(awareCurve[r], plainCurve[r] + 1e-12) << "rank " << r;
}

// The Lagrangian allocation is optimal for the parameters it uses: no
// choice of ranks (or dense layers) with at most as many parameters has a
// smaller sum of squared errors.
TEST(Factorization, AllocationIsOptimalForTheParametersItUses) {
  std::vector<RankCandidates> layers = {
      {6, 5, {1.0, 0.5, 0.3, 0.2}, true},
      {4, 8, {1.0, 0.2, 0.15, 0.1}, true},
      {7, 3, {1.0, 0.7, 0.1}, false},
  };
  auto cost = [&](size_t l, int64_t r) {
    return r < 0 ? layers[l].n * layers[l].k : r * (layers[l].n + layers[l].k);
  };
  auto error = [&](size_t l, int64_t r) { return r < 0 ? 0.0 : layers[l].squaredError[r]; };
  for (double budget : {35.0, 50.0, 70.0, 90.0, 200.0}) {
    std::vector<int64_t> ranks = allocateRanks(layers, budget);
    double used = 0, objective = 0;
    for (size_t l = 0; l < layers.size(); ++l) {
      used += cost(l, ranks[l]);
      objective += error(l, ranks[l]);
    }
    EXPECT_LE(used, budget);
    double best = INFINITY;
    std::vector<int64_t> choice(layers.size());
    std::function<void(size_t)> search = [&](size_t l) {
      if (l == layers.size()) {
        double c = 0, e = 0;
        for (size_t i = 0; i < layers.size(); ++i) {
          c += cost(i, choice[i]);
          e += error(i, choice[i]);
        }
        if (c <= used)
          best = std::min(best, e);
        return;
      }
      for (int64_t r = layers[l].denseAllowed ? -1 : 1; r < int64_t(layers[l].squaredError.size());
           ++r) {
        if (r == 0)
          continue;
        choice[l] = r;
        search(l + 1);
      }
    };
    search(0);
    EXPECT_NEAR(objective, best, 1e-12) << "budget " << budget;
  }
}

// A feature that never fires makes the Gram matrix singular: whitening adds
// the least dampening that works and says how much; weights of zero are
// raised and counted.
TEST(Factorization, SaysWhatItChangedToWhiten) {
  const int64_t n = 6, k = 5;
  std::vector<float> w = randomMatrix(n, k, 5);
  std::vector<double> h = gram(50, k, 6);
  for (int64_t j = 0; j < k; ++j)
    h[2 * k + j] = h[j * k + 2] = 0; // feature 2 is always 0
  SvdWeighting whitened;
  whitened.hessian = &h;
  auto svd = weightedSvd(w, n, k, whitened);
  ASSERT_TRUE(bool(svd));
  EXPECT_GT(svd->dampening, 0);
  EXPECT_LE(svd->dampening, 0.1);
  auto plain = weightedSvd(w, n, k, {});
  ASSERT_TRUE(bool(plain));
  EXPECT_EQ(plain->dampening, 0);
  SvdWeighting rows;
  rows.rows = {1, 0, 2, 0, 3, 4};
  auto weighted = weightedSvd(w, n, k, rows);
  ASSERT_TRUE(bool(weighted));
  EXPECT_EQ(weighted->raisedWeights, 2);
}

TEST(Factorization, RankForEnergy) {
  std::vector<double> sigma = {3, 2, 1, 0.5};
  EXPECT_EQ(rankForEnergy(sigma, 0.5), 1);  // 9 / 14.25 = 0.63
  EXPECT_EQ(rankForEnergy(sigma, 0.9), 2);  // 13 / 14.25 = 0.91
  EXPECT_EQ(rankForEnergy(sigma, 0.99), 4); // 14 / 14.25 = 0.982
  EXPECT_EQ(rankForEnergy(sigma, 1.0), 4);
}

} // namespace
