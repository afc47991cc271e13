// Unit tests of the quantized linear microkernels against a float64
// reference: both weight layouts, float and int8 activations, every path a
// call can take (few and many rows, register-block remainders, odd
// tile-block counts, a partial last group).
#include "lib/runtime/cpu/ActivationQuantization.h"
#include "lib/runtime/cpu/Contraction.h"
#include "lib/runtime/cpu/QuantizedLayout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace compress;
using namespace compress::quantized_layout;

namespace {

struct Case {
  int64_t m, n, k, bits, group;
  bool symmetric;
  bool int8Activations;
};

std::string describe(const Case &c) {
  return "m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
         " bits=" + std::to_string(c.bits) + " group=" + std::to_string(c.group) +
         (c.symmetric ? " symmetric" : " zero points") +
         (c.int8Activations ? " int8 activations" : " float activations");
}

/// Runs both kernels on random data and compares them with the reference.
void check(const Case &c) {
  SCOPED_TRACE(describe(c));
  std::mt19937 rng(unsigned(c.m * 131 + c.n * 17 + c.k + c.bits * 7 + c.group));
  std::uniform_int_distribution<int> code(0, (1 << c.bits) - 1);
  std::normal_distribution<float> normal;
  int64_t groups = (c.k + c.group - 1) / c.group, rowBytes = c.bits <= 4 ? (c.k + 1) / 2 : c.k;
  std::vector<uint8_t> q(c.n * rowBytes, 0);
  std::vector<int32_t> codes(c.n * c.k);
  for (int64_t r = 0; r < c.n; ++r)
    for (int64_t p = 0; p < c.k; ++p) {
      int32_t v = code(rng);
      codes[r * c.k + p] = v;
      if (c.bits <= 4)
        q[r * rowBytes + p / 2] |= uint8_t(v << (4 * (p % 2)));
      else
        q[r * rowBytes + p] = uint8_t(v);
    }
  std::vector<float> scales(c.n * groups), x(c.m * c.k), out(c.m * c.n);
  std::vector<uint8_t> zeros(c.n * groups);
  for (float &s : scales)
    s = 0.01f + 0.001f * std::fabs(normal(rng));
  for (uint8_t &z : zeros)
    z = uint8_t(code(rng));
  for (float &v : x)
    v = normal(rng);
  for (float &v : out)
    v = normal(rng); // kernels accumulate into out

  // Reference, in float64 on the activations the kernels multiply with.
  std::vector<float> activations(x);
  if (c.int8Activations)
    fakeQuantizeActivations(x.data(), c.m, c.k, c.k, activations);
  int32_t sign = 1 << (c.bits - 1);
  std::vector<double> expected(out.begin(), out.end());
  double norm = 0;
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < c.k; ++p) {
        int32_t v = codes[j * c.k + p];
        v = c.symmetric ? (v ^ sign) - sign : v - zeros[j * groups + p / c.group];
        acc += double(v) * scales[j * groups + p / c.group] * activations[i * c.k + p];
      }
      expected[i * c.n + j] += acc;
      norm = std::max(norm, std::fabs(acc));
    }

  auto compare = [&](const std::vector<float> &actual, const char *kernel) {
    for (int64_t i = 0; i < c.m * c.n; ++i)
      ASSERT_NEAR(actual[i], expected[i], 1e-5 * (norm + 1)) << kernel << " at " << i;
  };
  std::vector<float> rowMajorOut(out);
  compress_rt_quantized_linear_f32(
      c.m, c.n, c.k, int64_t(x.data()), c.k, int64_t(q.data()), int64_t(scales.data()),
      c.symmetric ? 0 : int64_t(zeros.data()), int64_t(rowMajorOut.data()), c.n, c.bits,
      c.group, c.int8Activations, /*accumulate=*/1);
  compare(rowMajorOut, "row-major");

  compare(rowMajorOut, "row-major");
  // Weights the CPU pipeline cannot tile (a partial group) stay row-major.
  if (!canTile(c.n, c.k, c.bits, c.group))
    return;
  std::vector<uint8_t> tiles(tiledWeightBytes(c.n, c.k, c.bits));
  tileWeights(q.data(), c.n, c.k, c.bits, tiles.data());
  for (int64_t r = 0; r < c.n; ++r)
    for (int64_t p = 0; p < c.k; ++p)
      ASSERT_EQ(tiledValue(tiles.data(), c.k, c.bits, r, p), codes[r * c.k + p]);
  std::vector<float> tiledScales(scales.size());
  std::vector<uint8_t> tiledZeros(zeros.size());
  tileGroupTable(scales.data(), c.n, groups, tiledScales.data());
  tileGroupTable(zeros.data(), c.n, groups, tiledZeros.data());
  std::vector<float> tiledOut(out);
  compress_rt_quantized_linear_tiled_f32(
      c.m, c.n, c.k, int64_t(x.data()), c.k, int64_t(tiles.data()), int64_t(tiledScales.data()),
      c.symmetric ? 0 : int64_t(tiledZeros.data()), int64_t(tiledOut.data()), c.n, c.bits,
      c.group, c.int8Activations, /*accumulate=*/1);
  compare(tiledOut, "tiled");

  // Overwriting: what out held (NaN here) must not reach the result.
  for (int64_t i = 0; i < c.m * c.n; ++i)
    expected[i] -= out[i];
  std::vector<float> garbage(out.size(), std::nanf(""));
  std::vector<float> overwritten(garbage);
  compress_rt_quantized_linear_f32(
      c.m, c.n, c.k, int64_t(x.data()), c.k, int64_t(q.data()), int64_t(scales.data()),
      c.symmetric ? 0 : int64_t(zeros.data()), int64_t(overwritten.data()), c.n, c.bits,
      c.group, c.int8Activations, /*accumulate=*/0);
  compare(overwritten, "row-major, overwriting");
  overwritten = garbage;
  compress_rt_quantized_linear_tiled_f32(
      c.m, c.n, c.k, int64_t(x.data()), c.k, int64_t(tiles.data()), int64_t(tiledScales.data()),
      c.symmetric ? 0 : int64_t(tiledZeros.data()), int64_t(overwritten.data()), c.n, c.bits,
      c.group, c.int8Activations, /*accumulate=*/0);
  compare(overwritten, "tiled, overwriting");
}

TEST(QuantizedLinear, FloatActivations) {
  for (int64_t bits : {2, 3, 4, 5, 8})
    for (bool symmetric : {true, false})
      for (int64_t m : {1, 3, 5, 9})
        check({m, 48, 256, bits, 64, symmetric, false});
}

TEST(QuantizedLinear, Int8Activations) {
  for (int64_t bits : {2, 3, 4, 5, 8})
    for (bool symmetric : {true, false})
      for (int64_t m : {1, 4, 7, 13})
        check({m, 48, 256, bits, 32, symmetric, true});
}

TEST(QuantizedLinear, PartialLastGroup) {
  // K = 576 in groups of 128 (SmolLM2's hidden size): 4.5 groups. Few rows
  // (the fused path must step aside) and many (dequantise + sgemm), both
  // activation modes, odd K at 4 bits (a half-used last byte).
  for (bool symmetric : {true, false})
    for (int64_t m : {1, 3, 50}) {
      check({m, 32, 576, 4, 128, symmetric, false});
      check({m, 32, 576, 8, 128, symmetric, true});
      check({m, 16, 201, 4, 64, symmetric, false});
    }
}

TEST(QuantizedLinear, PerChannelAndOddBlocks) {
  check({2, 16, 384, 8, 384, true, false});
  check({6, 80, 384, 8, 384, true, true});
  check({6, 80, 384, 4, 128, false, true});
}

TEST(QuantizedLinear, Int8ActivationsOverLongK) {
  // Byte codes keep their group sums in memory across row blocks: groups of
  // 128 and one group of all 2560 features, a last partial row block (13
  // rows in blocks of 8), and packed codes beside them.
  for (bool symmetric : {true, false}) {
    check({13, 48, 2048, 8, 128, symmetric, true});
    check({13, 48, 2560, 8, 2560, symmetric, true});
    check({9, 48, 2048, 4, 128, symmetric, true});
  }
}

TEST(QuantizedLinear, ManyRowsOfFloatActivations) {
  // Dequantisation into a buffer, then sgemm; 144 channels: a partial
  // block of channels in the last call.
  for (int64_t bits : {4, 8})
    for (bool symmetric : {true, false})
      check({50, 144, 256, bits, 64, symmetric, false});
}

TEST(QuantizedLinear, Int8ActivationsRoundToNearestEven) {
  // max 127 makes the scale 1: 0.5 and 2.5 round to 0 and 2, -1.5 to -2.
  std::vector<float> x = {127.0f, 0.5f, 2.5f, -1.5f};
  QuantizedActivations q;
  quantizeActivations(x.data(), 1, 4, 4, 2, q);
  EXPECT_EQ(q.scales[0], 1.0f);
  EXPECT_EQ(std::vector<int8_t>(q.values.begin(), q.values.end()),
            (std::vector<int8_t>{127, 0, 2, -2}));
  EXPECT_EQ(q.groupSums, (std::vector<int32_t>{127, 0}));
}

} // namespace
