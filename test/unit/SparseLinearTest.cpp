// Unit tests of the sparse linear microkernels (lib/runtime/cpu/
// SparseLinear.h) against a float64 product of the densified weight: random
// weights pruned and stored in the N:M and ELL formats by this file's own
// packing, every kernel a call can reach (chunked float and integer N:M,
// entry lists, the portable one), register-block and chunk remainders,
// strides, both output modes, int8 activations.
#include "lib/runtime/cpu/ActivationQuantization.h"
#include "lib/runtime/cpu/SparseLinear.h"
#include "lib/runtime/cpu/SparseLinearKernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

using namespace compress;

namespace {

struct Case {
  bool ell;
  int64_t keep, block; // N:M
  int64_t columnBits;  // ELL
  int64_t m, n, k, bits, group;
  bool zeroPoints = false, int8Activations = false;
  /// ELL: entries a row stores at most (the last row gets them all, the
  /// first none); N:M: ignored.
  int64_t entries = 0;
  /// Puts an infinity into x at a column no row stores (ELL: column 0, the
  /// padding's).
  bool infinity = false;
};

std::string describe(const Case &c) {
  std::string format = c.ell ? "ELL" + std::to_string(c.columnBits) + " L=" +
                                   std::to_string(c.entries)
                             : std::to_string(c.keep) + ":" + std::to_string(c.block);
  return format + " m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) +
         " k=" + std::to_string(c.k) + " bits=" + std::to_string(c.bits) +
         " group=" + std::to_string(c.group) + (c.zeroPoints ? " zero points" : "") +
         (c.int8Activations ? " int8 activations" : "") + (c.infinity ? " inf" : "");
}

/// A pruned weight in the call's storage, and its densified float64 form.
struct Stored {
  int64_t perRow = 0; // S or L
  std::vector<uint8_t> values, indices;
  std::vector<uint16_t> columns16;
  std::vector<int32_t> columns32, counts;
  std::vector<float> scales;
  std::vector<uint8_t> zeros;
  std::vector<double> dense;  // [n, k]
  std::vector<bool> present;  // [n, k]: a stored entry lies there
};

/// Kept columns of each row: N:M picks `keep` of each block, ELL a random
/// count (0 in the first row, L in the last) of all columns but the one
/// reserved for an infinity.
std::vector<std::vector<int64_t>> pickColumns(const Case &c, std::mt19937 &rng,
                                              int64_t reserved) {
  std::vector<std::vector<int64_t>> rows(c.n);
  for (int64_t r = 0; r < c.n; ++r) {
    if (!c.ell) {
      for (int64_t b = 0; b < c.k / c.block; ++b) {
        std::vector<int64_t> within(c.block);
        std::iota(within.begin(), within.end(), 0);
        std::shuffle(within.begin(), within.end(), rng);
        // The reserved column stays out of every row.
        std::stable_partition(within.begin(), within.end(),
                              [&](int64_t i) { return b * c.block + i != reserved; });
        within.resize(c.keep);
        std::sort(within.begin(), within.end());
        for (int64_t i : within)
          rows[r].push_back(b * c.block + i);
      }
      continue;
    }
    int64_t count = r == 0 ? 0 : r == c.n - 1 ? c.entries
                                               : std::uniform_int_distribution<int64_t>(
                                                     0, c.entries)(rng);
    std::vector<int64_t> all;
    for (int64_t col = 0; col < c.k; ++col)
      if (col != reserved)
        all.push_back(col);
    std::shuffle(all.begin(), all.end(), rng);
    // The widest column a 16-bit index holds, when K allows it.
    if (c.k == 65536)
      std::iter_swap(all.begin(), std::find(all.begin(), all.end(), 65535));
    all.resize(count);
    std::sort(all.begin(), all.end());
    rows[r] = all;
  }
  return rows;
}

Stored store(const Case &c, std::mt19937 &rng, int64_t reserved) {
  Stored s;
  std::vector<std::vector<int64_t>> columns = pickColumns(c, rng, reserved);
  s.perRow = c.ell ? c.entries : c.k / c.block * c.keep;
  int64_t groups = c.bits ? (s.perRow + c.group - 1) / c.group : 0;
  int64_t valueBytes = c.bits == 0 ? 4 * s.perRow : c.bits == 8 ? s.perRow : (s.perRow + 1) / 2;
  s.values.assign(c.n * valueBytes, 0);
  s.scales.resize(c.n * groups);
  s.zeros.resize(c.n * groups);
  s.dense.assign(c.n * c.k, 0.0);
  s.present.assign(c.n * c.k, false);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> code(0, (1 << std::max<int64_t>(c.bits, 1)) - 1);
  for (float &scale : s.scales)
    scale = 0.01f + 0.01f * std::fabs(normal(rng));
  for (uint8_t &zero : s.zeros)
    zero = uint8_t(code(rng));
  int64_t indexBits = c.block <= 4 ? 2 : 4;
  int64_t indexBytes = (s.perRow * indexBits + 7) / 8;
  if (!c.ell)
    s.indices.assign(c.n * indexBytes, 0);
  if (c.ell) {
    s.counts.resize(c.n);
    s.columns16.assign(c.columnBits == 16 ? c.n * s.perRow : 0, 0);
    s.columns32.assign(c.columnBits == 32 ? c.n * s.perRow : 0, 0);
  }
  for (int64_t r = 0; r < c.n; ++r) {
    const std::vector<int64_t> &cols = columns[r];
    for (int64_t j = 0; j < int64_t(cols.size()); ++j) {
      int64_t col = cols[j];
      double value;
      if (c.bits == 0) {
        float v = normal(rng);
        std::memcpy(&s.values[r * valueBytes + 4 * j], &v, sizeof(v));
        value = v;
      } else {
        int32_t q = code(rng), g = int32_t(j / c.group);
        if (c.bits == 8)
          s.values[r * valueBytes + j] = uint8_t(q);
        else
          s.values[r * valueBytes + j / 2] |= uint8_t(q << (4 * (j % 2)));
        // Unsigned with zero points, else two's complement.
        int32_t centred = c.zeroPoints ? q - s.zeros[r * groups + g]
                                       : (q ^ (1 << (c.bits - 1))) - (1 << (c.bits - 1));
        value = double(centred) * s.scales[r * groups + g];
      }
      s.dense[r * c.k + col] = value;
      s.present[r * c.k + col] = true;
      if (c.ell) {
        if (c.columnBits == 16)
          s.columns16[r * s.perRow + j] = uint16_t(col);
        else
          s.columns32[r * s.perRow + j] = int32_t(col);
      } else {
        int64_t bit = j * indexBits;
        s.indices[r * indexBytes + bit / 8] |= uint8_t((col % c.block) << (bit % 8));
      }
    }
    if (c.ell)
      s.counts[r] = int32_t(cols.size());
  }
  return s;
}

/// Calls the entry point, or `kernel` on the same arguments.
using Kernel = void (*)(const sparse_linear::Weight &, const sparse_linear::Product &);

void check(const Case &c) {
  SCOPED_TRACE(describe(c));
  std::mt19937 rng(unsigned(c.m * 131 + c.n * 17 + c.k + c.bits * 7 + c.group + c.keep * 3 +
                            c.block + c.entries));
  // Columns no row may store: 0 for ELL (where padding points), one inside
  // the last chunk of N:M rows.
  int64_t reserved = !c.infinity ? -1 : c.ell ? 0 : c.k - c.block + 1;
  Stored s = store(c, rng, reserved);
  // Strides wider than the rows.
  int64_t xStride = c.k + 3, outStride = c.n + 5;
  std::normal_distribution<float> normal;
  std::vector<float> x(std::max<int64_t>(c.m, 1) * xStride);
  for (float &v : x)
    v = normal(rng);
  if (c.infinity)
    for (int64_t r = 0; r < c.m; ++r)
      x[r * xStride + reserved] = std::numeric_limits<float>::infinity();
  std::vector<float> prior(std::max<int64_t>(c.m, 1) * outStride);
  for (float &v : prior)
    v = normal(rng);

  // Reference: the densified weight times the activations the kernels see.
  std::vector<float> activations(c.m * c.k);
  for (int64_t r = 0; r < c.m; ++r)
    std::copy(&x[r * xStride], &x[r * xStride] + c.k, &activations[r * c.k]);
  if (c.int8Activations && c.m > 0)
    fakeQuantizeActivations(x.data(), c.m, c.k, xStride, activations);
  std::vector<double> expected(c.m * c.n), bound(c.m * c.n);
  for (int64_t r = 0; r < c.m; ++r)
    for (int64_t j = 0; j < c.n; ++j) {
      double acc = 0, magnitude = 0;
      for (int64_t p = 0; p < c.k; ++p)
        if (s.present[j * c.k + p]) {
          acc += s.dense[j * c.k + p] * activations[r * c.k + p];
          magnitude += std::fabs(s.dense[j * c.k + p] * activations[r * c.k + p]);
        }
      expected[r * c.n + j] = acc;
      bound[r * c.n + j] = 2e-5 * magnitude + 1e-6;
    }

  auto run = [&](bool accumulate, Kernel kernel) {
    std::vector<float> out(prior);
    if (!accumulate)
      std::fill(out.begin(), out.end(), std::nanf(""));
    int64_t values = int64_t(s.values.data()), scales = c.bits ? int64_t(s.scales.data()) : 0,
            zeros = c.zeroPoints ? int64_t(s.zeros.data()) : 0;
    if (!kernel && c.ell)
      compress_rt_ell_sparse_linear_f32(
          c.m, c.n, c.k, int64_t(x.data()), xStride, values,
          c.columnBits == 16 ? int64_t(s.columns16.data()) : int64_t(s.columns32.data()),
          c.columnBits, int64_t(s.counts.data()), s.perRow, scales, zeros, int64_t(out.data()),
          outStride, c.bits, c.group, c.int8Activations, accumulate);
    else if (!kernel)
      compress_rt_nm_sparse_linear_f32(c.m, c.n, c.k, int64_t(x.data()), xStride, values,
                                       int64_t(s.indices.data()), scales, zeros,
                                       int64_t(out.data()), outStride, c.keep, c.block, c.bits,
                                       c.group, c.int8Activations, accumulate);
    else {
      // Float kernels take the activations already quantized.
      std::vector<float> input(x);
      if (c.int8Activations)
        for (int64_t r = 0; r < c.m; ++r)
          std::copy(&activations[r * c.k], &activations[r * c.k] + c.k, &input[r * xStride]);
      sparse_linear::Weight w{c.n,
                              c.k,
                              s.perRow,
                              s.values.data(),
                              c.bits,
                              c.bits ? s.scales.data() : nullptr,
                              c.zeroPoints ? s.zeros.data() : nullptr,
                              c.group,
                              c.ell ? 0 : c.keep,
                              c.ell ? 0 : c.block,
                              c.ell ? nullptr : s.indices.data(),
                              c.ell && c.columnBits == 16 ? s.columns16.data() : nullptr,
                              c.ell && c.columnBits == 32 ? s.columns32.data() : nullptr,
                              c.ell ? s.counts.data() : nullptr};
      kernel(w, {c.m, input.data(), xStride, out.data(), outStride, accumulate});
    }
    return out;
  };
  auto compare = [&](const std::vector<float> &out, bool accumulate, const char *kernel) {
    for (int64_t r = 0; r < c.m; ++r)
      for (int64_t j = 0; j < c.n; ++j) {
        double want = expected[r * c.n + j] + (accumulate ? prior[r * outStride + j] : 0.0);
        ASSERT_NEAR(out[r * outStride + j], want, bound[r * c.n + j])
            << kernel << (accumulate ? ", accumulating" : ", overwriting") << " at row " << r
            << " channel " << j;
      }
    // Nothing outside the rows' first n elements is written.
    for (int64_t r = 0; r < c.m; ++r)
      for (int64_t j = c.n; j < outStride; ++j)
        if (accumulate)
          ASSERT_EQ(out[r * outStride + j], prior[r * outStride + j]) << kernel;
        else
          ASSERT_TRUE(std::isnan(out[r * outStride + j])) << kernel;
  };
  for (bool accumulate : {false, true})
    compare(run(accumulate, nullptr), accumulate, "entry point");
  // The kernels a CPU without AVX-512, or a pattern the chunked kernels do
  // not take, would reach.
  compare(run(true, sparse_linear::portableProduct), true, "portable");
  if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && c.m > 0)
    compare(run(true, sparse_linear::floatListProduct), true, "entry lists");
}

Case nm(int64_t keep, int64_t block, int64_t m, int64_t n, int64_t k, int64_t bits = 0,
        int64_t group = 1) {
  return {false, keep, block, 0, m, n, k, bits, group};
}

Case ell(int64_t columnBits, int64_t entries, int64_t m, int64_t n, int64_t k, int64_t bits = 0,
         int64_t group = 1) {
  Case c{true, 0, 0, columnBits, m, n, k, bits, group};
  c.entries = entries;
  return c;
}

TEST(SparseLinear, NmFloat) {
  // 2:4, 4:8 (two chunk registers), 1:4, 2:8 (four), 2:3 (a window of 24
  // columns), 3:8 and 1:16 (entry lists); K leaves a partial last chunk.
  for (auto [keep, block, k] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {2, 4, 200}, {4, 8, 200}, {1, 4, 200}, {2, 8, 200}, {2, 3, 201}, {8, 16, 208},
           {3, 8, 200}, {1, 16, 208}, {1, 2, 66}})
    for (int64_t m : {0, 1, 3, 8, 9, 16, 33})
      check(nm(keep, block, m, 37, k));
}

TEST(SparseLinear, NmQuantized) {
  // Groups of a whole row, of whole chunks, and ones that split chunks
  // (24) or leave a partial last group (S = 100).
  for (int64_t bits : {8, 4})
    for (bool zeroPoints : {false, true})
      for (int64_t group : {100, 64, 16, 24})
        for (int64_t m : {1, 3, 17}) {
          Case c = nm(2, 4, m, 37, 200, bits, group);
          c.zeroPoints = zeroPoints;
          check(c);
          c = nm(4, 8, m, 21, 200, bits, group);
          c.zeroPoints = zeroPoints;
          check(c);
        }
}

TEST(SparseLinear, NmInt8Activations) {
  // Integer kernel: groups of whole 64-entry chunks or the whole row, two-
  // and four-register windows, a partial last chunk; groups of 32 and 3:8
  // run in float on quantized activations.
  for (int64_t bits : {8, 4})
    for (bool zeroPoints : {false, true})
      for (int64_t m : {1, 3, 16, 33})
        for (auto [keep, block, k, group] :
             std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>>{{2, 4, 456, 64},
                                                                         {2, 4, 200, 100},
                                                                         {4, 8, 512, 256},
                                                                         {1, 4, 600, 64},
                                                                         {2, 3, 201, 134},
                                                                         {2, 4, 200, 32},
                                                                         {3, 8, 200, 75}}) {
          Case c = nm(keep, block, m, 37, k, bits, group);
          c.zeroPoints = zeroPoints;
          c.int8Activations = true;
          check(c);
        }
}

TEST(SparseLinear, EllFloat) {
  for (int64_t columnBits : {16, 32})
    for (int64_t m : {0, 1, 2, 3, 5, 9, 16, 17, 33, 40})
      check(ell(columnBits, 40, m, 37, 150));
}

TEST(SparseLinear, EllQuantized) {
  for (int64_t bits : {8, 4})
    for (bool zeroPoints : {false, true})
      for (bool int8Activations : {false, true})
        for (int64_t group : {7, 16, 45})
          for (int64_t m : {1, 3, 17}) {
            Case c = ell(16, 45, m, 23, 300, bits, group);
            c.zeroPoints = zeroPoints;
            c.int8Activations = int8Activations;
            check(c);
          }
}

TEST(SparseLinear, SlicesOfK) {
  // K long enough for several slices (a slice's activations fill 16 KB):
  // the sums carry over from slice to slice, ELL rows resume where the
  // last slice stopped.
  for (int64_t m : {1, 3, 9, 17, 40}) {
    check(nm(2, 4, m, 37, 4800));
    check(nm(4, 8, m, 21, 2400, 4, 64));
    check(ell(16, 900, m, 21, 4000));
    check(ell(32, 500, m, 21, 3000, 8, 32));
    // Groups inside a slice, and one (per channel) across all of them.
    for (int64_t group : {256, 2304})
      for (bool zeroPoints : {false, true}) {
        Case c = nm(2, 4, m, 21, 4608, 8, group);
        c.zeroPoints = zeroPoints;
        c.int8Activations = true;
        check(c);
      }
  }
}

TEST(SparseLinear, ManyRowsDensified) {
  // From kDenseRows rows on, weights at most kDenseMaxSparsity percent
  // sparse go through blocks densified for sgemm: N:M float and codes,
  // ELL (counts averaging 47% of K) in float and codes, with float or int8
  // activations; sparser patterns (1:4, 1:16, ELL at 87%) stay entry lists.
  // 150 channels: blocks of whole tiles and a partial last one.
  for (int64_t m : {65, 200}) {
    for (auto [keep, block, k] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
             {2, 4, 200}, {4, 8, 200}, {1, 4, 200}, {2, 3, 201}, {8, 16, 208}, {3, 8, 200},
             {1, 16, 208}})
      check(nm(keep, block, m, 150, k));
    for (int64_t bits : {8, 4})
      for (bool zeroPoints : {false, true})
        for (int64_t group : {100, 24})
          for (bool int8Activations : {false, true}) {
            Case c = nm(2, 4, m, 37, 200, bits, group);
            c.zeroPoints = zeroPoints;
            c.int8Activations = int8Activations;
            check(c);
            c = ell(16, 280, m, 23, 300, bits, group);
            c.zeroPoints = zeroPoints;
            c.int8Activations = int8Activations;
            check(c);
          }
    for (int64_t columnBits : {16, 32}) {
      check(ell(columnBits, 140, m, 150, 150));
      check(ell(columnBits, 40, m, 37, 150));
    }
    check(nm(2, 4, m, 21, 4800));
    check(ell(32, 3000, m, 21, 4000));
  }
}

TEST(SparseLinear, InfinityAtColumnsNotStored) {
  // ELL padding points at column 0; a pruned N:M column inside the last,
  // partial chunk (its window still loads it).
  for (int64_t m : {1, 3, 16, 33}) {
    for (int64_t columnBits : {16, 32}) {
      Case c = ell(columnBits, 30, m, 37, 150);
      c.infinity = true;
      check(c);
    }
    for (int64_t bits : {0, 8}) {
      Case c = nm(2, 4, m, 37, 200, bits, 100);
      c.infinity = true;
      check(c);
    }
  }
}

TEST(SparseLinear, EllColumnsOfSixteenBitsAreUnsigned) {
  // K = 65536: column 65535 is stored (read as signed, it would be -1).
  for (int64_t m : {1, 2, 17}) {
    check(ell(16, 8, m, 5, 65536));
    check(ell(16, 8, m, 5, 65536, 8, 8));
  }
}

} // namespace
