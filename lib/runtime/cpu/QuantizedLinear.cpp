// The quantized linear microkernel for weights in the dialect's row-major
// packing (those that compress-cpu-tile-quantized-weights could not tile:
// not constant, or channels not a multiple of 16): out += x * deq(W)^T, with
// W held as 2..8-bit integers, dequantised a block of output channels at a
// time into a small per-thread buffer (never a full float copy of W).
#include "lib/runtime/cpu/ActivationQuantization.h"
#include "lib/runtime/cpu/Contraction.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace {

// Output channels dequantised together: few for a handful of rows (the
// dot products stay in cache), more for a real product (wider sgemm calls).
constexpr int64_t kSmallBlock = 16, kLargeBlock = 128;

/// Dequantises rows [row, row + count) of W into `dst` ([count, k] floats).
__attribute__((target_clones("avx512f", "avx2", "default"))) void
dequantizeRows(const int8_t *q, const float *scales, const int8_t *zeros, int64_t row,
               int64_t count, int64_t k, int64_t bits, int64_t group, float *dst) {
  int64_t rowBytes = bits <= 4 ? (k + 1) / 2 : k;
  int64_t groups = (k + group - 1) / group; // the last one may be partial
  bool symmetric = zeros == nullptr;
  int32_t mask = (1 << bits) - 1, sign = 1 << (bits - 1);
  for (int64_t r = 0; r < count; ++r) {
    const uint8_t *bytes = reinterpret_cast<const uint8_t *>(q) + (row + r) * rowBytes;
    float *out = dst + r * k;
    for (int64_t g = 0; g < groups; ++g) {
      float scale = scales[(row + r) * groups + g];
      int32_t zero = symmetric ? 0 : int32_t(uint8_t(zeros[(row + r) * groups + g]));
      int64_t begin = g * group, end = std::min(begin + group, k);
      if (bits <= 4 && begin % 2 == 0 && end % 2 == 0) {
        // Two values per byte: the loop over bytes vectorises.
        int32_t offset = symmetric ? sign : zero;
        for (int64_t j = begin / 2; j < end / 2; ++j) {
          int32_t lo = bytes[j] & mask, hi = (bytes[j] >> 4) & mask;
          if (symmetric) {
            lo ^= sign;
            hi ^= sign;
          }
          out[2 * j] = float(lo - offset) * scale;
          out[2 * j + 1] = float(hi - offset) * scale;
        }
        continue;
      }
      for (int64_t i = begin; i < end; ++i) {
        int32_t v = bits <= 4 ? (bytes[i / 2] >> (4 * (i & 1))) & mask : bytes[i] & mask;
        v = symmetric ? (v ^ sign) - sign : v - zero;
        out[i] = float(v) * scale;
      }
    }
  }
}

/// out[i, j] += sum_p x[i, p] * w[j, p] for a few rows of x.
__attribute__((target_clones("avx512f", "avx2", "default"))) void
smallProduct(const float *x, int64_t xStride, const float *w, int64_t count, int64_t m,
             int64_t k, float *out, int64_t outStride) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < count; ++j) {
      float acc = 0;
      const float *a = x + i * xStride, *b = w + j * k;
#pragma omp simd reduction(+ : acc)
      for (int64_t p = 0; p < k; ++p)
        acc += a[p] * b[p];
      out[i * outStride + j] += acc;
    }
}

/// For up to 4 rows of x: out[i, j] += sum_g scale[j, g] * sum_{p in g}
/// x[i, p] * (q[j, p] - offset[j, g]), reading the packed weight once and
/// never writing it out in float. The offset (8 for signed 4-bit values
/// after flipping their sign bit, 0 for signed 8-bit ones, else the zero
/// point) comes out as offset * sum_{p in g} x[i, p].
__attribute__((target("avx512f,avx512bw"))) void
fusedProductAvx512(const float *x, int64_t xStride, int64_t m, const uint8_t *q,
                   const float *scales, const int8_t *zeros, int64_t n, int64_t k, int64_t bits,
                   int64_t group, float *out, int64_t outStride) {
  constexpr int64_t kMaxRows = 4;
  int64_t groups = k / group;
  bool packed = bits <= 4, symmetric = zeros == nullptr;
  int64_t rowBytes = packed ? k / 2 : k;
  // Per row of x: its elements split by parity (packed values pair with
  // them) and its per-group sums.
  std::vector<float> even(m * k / 2), odd(m * k / 2), sums(m * groups);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t p = 0; p < k; ++p) {
      float v = x[i * xStride + p];
      if (packed)
        (p % 2 ? odd : even)[i * (k / 2) + p / 2] = v;
      sums[i * groups + p / group] += v;
    }
  }
  const __m512i lowNibbles = _mm512_set1_epi8(0x0F);
  const __m512i flip = _mm512_set1_epi8(symmetric ? 0x88 : 0x00);
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < n; ++j) {
    const uint8_t *row = q + j * rowBytes;
    float total[kMaxRows] = {};
    for (int64_t g = 0; g < groups; ++g) {
      __m512 acc[kMaxRows];
      for (int64_t i = 0; i < m; ++i)
        acc[i] = _mm512_setzero_ps();
      if (packed) {
        // 64 bytes hold 128 values: low nibbles pair with even x, high with odd.
        for (int64_t b = g * group / 2; b < (g + 1) * group / 2; b += 64) {
          __m512i bytes = _mm512_xor_si512(_mm512_loadu_si512(row + b), flip);
          __m512i lo = _mm512_and_si512(bytes, lowNibbles);
          __m512i hi = _mm512_and_si512(_mm512_srli_epi16(bytes, 4), lowNibbles);
          // extracti32x4 takes its lane as a constant, hence a macro (a lambda
          // would not inherit this function's target).
#define COMPRESS_QUARTER(PART)                                                             \
  {                                                                                        \
    __m512 flo = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(lo, PART))); \
    __m512 fhi = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(hi, PART))); \
    int64_t at = b + 16 * (PART);                                                          \
    for (int64_t i = 0; i < m; ++i) {                                                      \
      acc[i] = _mm512_fmadd_ps(flo, _mm512_loadu_ps(even.data() + i * (k / 2) + at), acc[i]); \
      acc[i] = _mm512_fmadd_ps(fhi, _mm512_loadu_ps(odd.data() + i * (k / 2) + at), acc[i]);  \
    }                                                                                      \
  }
          COMPRESS_QUARTER(0)
          COMPRESS_QUARTER(1)
          COMPRESS_QUARTER(2)
          COMPRESS_QUARTER(3)
#undef COMPRESS_QUARTER
        }
      } else {
        for (int64_t p = g * group; p < (g + 1) * group; p += 16) {
          __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i *>(row + p));
          __m512 w = symmetric ? _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(raw))
                               : _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(raw));
          for (int64_t i = 0; i < m; ++i)
            acc[i] = _mm512_fmadd_ps(w, _mm512_loadu_ps(x + i * xStride + p), acc[i]);
        }
      }
      float scale = scales[j * groups + g];
      float offset = symmetric ? (packed ? 8.0f : 0.0f) : float(uint8_t(zeros[j * groups + g]));
      for (int64_t i = 0; i < m; ++i)
        total[i] += scale * (_mm512_reduce_add_ps(acc[i]) - offset * sums[i * groups + g]);
    }
    for (int64_t i = 0; i < m; ++i)
      out[i * outStride + j] += total[i];
  }
}

} // namespace

extern "C" void compress_rt_quantized_linear_f32(int64_t m, int64_t n, int64_t k, int64_t x,
                                                 int64_t xStride, int64_t q, int64_t scales,
                                                 int64_t zeros, int64_t out, int64_t outStride,
                                                 int64_t bits, int64_t group,
                                                 int64_t int8Activations,
                                                 int64_t accumulate) {
  const float *px = reinterpret_cast<const float *>(x);
  float *pout = reinterpret_cast<float *>(out);
  // The kernels below all add to out (this layout is the fallback for
  // weights that could not be tiled; the tiled kernels overwrite directly).
  if (!accumulate)
    for (int64_t i = 0; i < m; ++i)
      std::fill(pout + i * outStride, pout + i * outStride + n, 0.0f);
  // int8 activations: the products of the integer kernels, in float.
  std::vector<float> dequantized;
  if (int8Activations) {
    compress::fakeQuantizeActivations(px, m, k, xStride, dequantized);
    px = dequantized.data();
    xStride = k;
  }
  // Up to 4 rows on AVX-512: the fused kernel, when whole vectors tile the
  // groups (16 values at 8 bits, 128 at 4) and no group is partial.
  if (m <= 4 && __builtin_cpu_supports("avx512bw") && k % group == 0 &&
      ((bits == 8 && group % 16 == 0) || (bits == 4 && group % 128 == 0))) {
    fusedProductAvx512(px, xStride, m, reinterpret_cast<const uint8_t *>(q),
                       reinterpret_cast<const float *>(scales),
                       reinterpret_cast<const int8_t *>(zeros), n, k, bits, group, pout,
                       outStride);
    return;
  }
  const int64_t kBlock = m <= 4 ? kSmallBlock : kLargeBlock;
  int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel
  {
    std::vector<float> buffer(kBlock * k);
#pragma omp for schedule(static)
    for (int64_t block = 0; block < blocks; ++block) {
      int64_t row = block * kBlock, count = std::min(kBlock, n - row);
      dequantizeRows(reinterpret_cast<const int8_t *>(q), reinterpret_cast<const float *>(scales),
                     reinterpret_cast<const int8_t *>(zeros), row, count, k, bits, group,
                     buffer.data());
      if (m <= 4)
        smallProduct(px, xStride, buffer.data(), count, m, k, pout + row, outStride);
      else // oneDNN runs sequentially inside this parallel region
        dnnl_sgemm('N', 'T', m, count, k, 1.0f, px, xStride, buffer.data(), k, 1.0f,
                   pout + row, outStride);
    }
  }
}
