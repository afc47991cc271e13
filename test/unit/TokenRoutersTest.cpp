// compress-token-skip's router fit (TokenRouters.h) on hidden states built so
// that the log of each token's relative update is a known linear function of
// its normalised state and of ln(rms(x)): the fit must find that function.
#include "passes/compression/TokenRouters.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

using namespace compress;

namespace {

HostTensor floats(std::vector<int64_t> shape, const std::vector<float> &values) {
  HostTensor t;
  t.shape = std::move(shape);
  t.data.resize(values.size() * sizeof(float));
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

TEST(TokenRouters, FitFindsTheDirectionAndScaleTermsOfTheLogUpdate) {
  constexpr int64_t tokens = 2000, width = 8;
  constexpr double directionWeight = 0.5, scaleWeight = -1.5, bias = -2.0;
  std::mt19937 random(7);
  std::normal_distribution<float> gaussian;
  std::uniform_real_distribution<float> logScale(-1.0f, 2.0f);
  std::vector<float> x, y;
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<float> row(width);
    for (float &v : row)
      v = gaussian(random);
    float scale = std::exp(logScale(random));
    double squares = 0;
    for (float &v : row) {
      v *= scale;
      squares += double(v) * v;
    }
    double rms = std::sqrt(squares / width + 1e-6);
    double logUpdate = directionWeight * row[0] / rms + scaleWeight * std::log(rms) + bias;
    // The update: exp(logUpdate) * ||x|| along the last feature's axis.
    double change = std::exp(logUpdate) * std::sqrt(squares);
    for (int64_t j = 0; j < width; ++j) {
      x.push_back(row[j]);
      y.push_back(float(row[j] + (j == width - 1 ? change : 0.0)));
    }
  }
  RouterSamples samples;
  ASSERT_FALSE(bool(addSamples(samples, floats({1, tokens, width}, x), floats({1, tokens, width}, y))));
  ASSERT_EQ(samples.tokens(), tokens);
  RouterWeights fitted = fitUpdatePredictor(samples);
  ASSERT_EQ(fitted.weight.size(), size_t(width));
  EXPECT_NEAR(fitted.scaleWeight, scaleWeight, 0.02);
  EXPECT_NEAR(fitted.weight[0], directionWeight, 0.02);
  for (int64_t j = 1; j < width; ++j)
    EXPECT_NEAR(fitted.weight[j], 0.0, 0.02) << "feature " << j;
  // The scores rank tokens as the log updates do (the bias aside).
  EXPECT_GT(correlation(scores(samples, fitted), logUpdates(samples)), 0.999);
}

} // namespace
