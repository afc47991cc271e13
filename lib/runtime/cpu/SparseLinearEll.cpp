// Weights as lists of entries on AVX-512: ELL, and the N:M patterns the
// chunked kernels do not take. The rows of x are transposed a pass at a
// time, so that the activations of one column for all rows of the pass are
// one vector: each stored entry then costs one load and one multiply-add
// with its value broadcast, whatever its column. (Gathering the activations
// instead, vgatherdps, takes ~18 cycles for 16 on AMD Zen 4.) A single row
// needs no transposition: its entries are scalar multiply-adds.
#include "lib/runtime/cpu/SparseLinearKernels.h"

#include <immintrin.h>

#include <algorithm>
#include <vector>

using namespace compress;
using namespace compress::sparse_linear;

namespace {

#define COMPRESS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))

/// Rows of x per pass: two registers of activations per entry.
constexpr int64_t kMaxLanes = 32;
/// Independent sums per row of W: a multiply-add waits 4 cycles for the
/// one before.
constexpr int kChains = 4;

/// The activations of one column for `Lanes` rows, in registers of `Width`
/// floats.
template <int Lanes>
struct Vector {
  static constexpr int kWidth = Lanes >= 16 ? 16 : Lanes;
  static constexpr int kParts = Lanes / kWidth;
};

COMPRESS_AVX512 inline void setZero(float &v) { v = 0; }
COMPRESS_AVX512 inline void setZero(__m128 &v) { v = _mm_setzero_ps(); }
COMPRESS_AVX512 inline void setZero(__m256 &v) { v = _mm256_setzero_ps(); }
COMPRESS_AVX512 inline void setZero(__m512 &v) { v = _mm512_setzero_ps(); }
COMPRESS_AVX512 inline void multiplyAdd(float &acc, const float *x, float w) { acc += *x * w; }
COMPRESS_AVX512 inline void multiplyAdd(__m128 &acc, const float *x, float w) {
  acc = _mm_fmadd_ps(_mm_loadu_ps(x), _mm_set1_ps(w), acc);
}
COMPRESS_AVX512 inline void multiplyAdd(__m256 &acc, const float *x, float w) {
  acc = _mm256_fmadd_ps(_mm256_loadu_ps(x), _mm256_set1_ps(w), acc);
}
COMPRESS_AVX512 inline void multiplyAdd(__m512 &acc, const float *x, float w) {
  acc = _mm512_fmadd_ps(_mm512_loadu_ps(x), _mm512_set1_ps(w), acc);
}
COMPRESS_AVX512 inline float add(float a, float b) { return a + b; }
COMPRESS_AVX512 inline __m128 add(__m128 a, __m128 b) { return _mm_add_ps(a, b); }
COMPRESS_AVX512 inline __m256 add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
COMPRESS_AVX512 inline __m512 add(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
COMPRESS_AVX512 inline void store(float *at, float v) { *at = v; }
COMPRESS_AVX512 inline void store(float *at, __m128 v) { _mm_storeu_ps(at, v); }
COMPRESS_AVX512 inline void store(float *at, __m256 v) { _mm256_storeu_ps(at, v); }
COMPRESS_AVX512 inline void store(float *at, __m512 v) { _mm512_storeu_ps(at, v); }

template <int Width>
struct Register;
template <> struct Register<1> { using Type = float; };
template <> struct Register<4> { using Type = __m128; };
template <> struct Register<8> { using Type = __m256; };
template <> struct Register<16> { using Type = __m512; };

/// sums[0 .. Lanes) = the products of one row of W with the `Lanes` rows of
/// `xT` ([k, Lanes]).
template <int Lanes, typename Column>
COMPRESS_AVX512 void listKernel(const Column *columns, const float *values, int64_t count,
                                const float *xT, float *sums) {
  constexpr int kWidth = Vector<Lanes>::kWidth, kParts = Vector<Lanes>::kParts;
  using V = typename Register<kWidth>::Type;
  V acc[kChains][kParts];
#pragma GCC unroll 4
  for (int c = 0; c < kChains; ++c)
#pragma GCC unroll 2
    for (int part = 0; part < kParts; ++part)
      setZero(acc[c][part]);
  int64_t j = 0;
  for (; j + kChains <= count; j += kChains)
#pragma GCC unroll 4
    for (int c = 0; c < kChains; ++c) {
      const float *x = xT + int64_t(columns[j + c]) * Lanes;
#pragma GCC unroll 2
      for (int part = 0; part < kParts; ++part)
        multiplyAdd(acc[c][part], x + part * kWidth, values[j + c]);
    }
  for (; j < count; ++j)
#pragma GCC unroll 2
    for (int part = 0; part < kParts; ++part)
      multiplyAdd(acc[0][part], xT + int64_t(columns[j]) * Lanes + part * kWidth, values[j]);
#pragma GCC unroll 2
  for (int part = 0; part < kParts; ++part)
    store(sums + part * kWidth,
          add(add(acc[0][part], acc[1][part]), add(acc[2][part], acc[3][part])));
}

/// A pass: rows [r0, r0 + rows) of x, `lanes` of them wide (the rest 0).
struct Pass {
  int64_t r0, rows, lanes;
  const float *xT; // [k, lanes], or the row of x itself when lanes is 1
};

template <typename Column>
COMPRESS_AVX512 void passKernel(const Pass &pass, const Column *columns, const float *values,
                                int64_t count, float *sums) {
  switch (pass.lanes) {
  case 1: return listKernel<1>(columns, values, count, pass.xT, sums);
  case 4: return listKernel<4>(columns, values, count, pass.xT, sums);
  case 8: return listKernel<8>(columns, values, count, pass.xT, sums);
  case 16: return listKernel<16>(columns, values, count, pass.xT, sums);
  default: return listKernel<kMaxLanes>(columns, values, count, pass.xT, sums);
  }
}

/// Passes of kMaxLanes rows, the last one as narrow as its rows allow, and
/// their transposed activations.
std::vector<Pass> planPasses(const Weight &w, const Product &p, std::vector<float> &storage) {
  std::vector<Pass> passes;
  int64_t total = 0;
  for (int64_t r0 = 0; r0 < p.m; r0 += kMaxLanes) {
    int64_t rows = std::min(kMaxLanes, p.m - r0), lanes = 1;
    while (lanes < rows)
      lanes = lanes == 1 ? 4 : 2 * lanes;
    passes.push_back({r0, rows, lanes, nullptr});
    total += lanes > 1 ? w.k * lanes : 0;
  }
  storage.assign(total, 0.0f);
  float *next = storage.data();
  for (Pass &pass : passes) {
    if (pass.lanes == 1) {
      pass.xT = p.x + pass.r0 * p.xStride;
      continue;
    }
    for (int64_t r = 0; r < pass.rows; ++r)
      for (int64_t c = 0; c < w.k; ++c)
        next[c * pass.lanes + r] = p.x[(pass.r0 + r) * p.xStride + c];
    pass.xT = next;
    next += w.k * pass.lanes;
  }
  return passes;
}

template <typename Column>
void product(const Weight &w, const Product &p, const Column *columns) {
  std::vector<float> storage;
  std::vector<Pass> passes = planPasses(w, p, storage);
  int64_t blocks = (w.n + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel
  {
    std::vector<int32_t> decodedColumns(columns ? 0 : w.stored);
    std::vector<float> decodedValues(w.bits ? w.stored : 0);
    float sums[kMaxLanes];
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; ++b)
      for (int64_t c = b * kChannelBlock; c < std::min(w.n, (b + 1) * kChannelBlock); ++c) {
        int64_t count = w.count(c);
        const Column *rowColumns = columns ? columns + c * w.stored : nullptr;
        const float *values = reinterpret_cast<const float *>(w.valueRow(c));
        if (!columns)
          decodeColumns(w, c, decodedColumns.data());
        if (w.bits) {
          dequantizeValues(w, c, decodedValues.data());
          values = decodedValues.data();
        }
        for (const Pass &pass : passes) {
          if (rowColumns)
            passKernel(pass, rowColumns, values, count, sums);
          else
            passKernel(pass, decodedColumns.data(), values, count, sums);
          for (int64_t r = 0; r < pass.rows; ++r)
            p.store(pass.r0 + r, c, sums[r]);
        }
      }
  }
}

} // namespace

void sparse_linear::floatListProduct(const Weight &w, const Product &p) {
  if (w.columns16)
    product(w, p, w.columns16);
  else
    product(w, p, w.columns32);
}
