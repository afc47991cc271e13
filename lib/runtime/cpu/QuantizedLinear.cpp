// The weight-only quantized linear microkernel: out += x * deq(W)^T, with W
// held as 2..8-bit integers, dequantised a block of output channels at a
// time into a small per-thread buffer (never a full float copy of W).
#include "lib/runtime/cpu/Contraction.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace {

constexpr int64_t kBlock = 16; // output channels dequantised together

/// Dequantises rows [row, row + count) of W into `dst` ([count, k] floats).
__attribute__((target_clones("avx512f", "avx2", "default"))) void
dequantizeRows(const int8_t *q, const float *scales, const int8_t *zeros, int64_t row,
               int64_t count, int64_t k, int64_t bits, int64_t group, float *dst) {
  int64_t rowBytes = bits <= 4 ? (k + 1) / 2 : k;
  int64_t groups = k / group;
  bool symmetric = zeros == nullptr;
  int32_t mask = (1 << bits) - 1, sign = 1 << (bits - 1);
  for (int64_t r = 0; r < count; ++r) {
    const uint8_t *bytes = reinterpret_cast<const uint8_t *>(q) + (row + r) * rowBytes;
    float *out = dst + r * k;
    for (int64_t g = 0; g < groups; ++g) {
      float scale = scales[(row + r) * groups + g];
      int32_t zero = symmetric ? 0 : int32_t(uint8_t(zeros[(row + r) * groups + g]));
      int64_t begin = g * group, end = begin + group;
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

} // namespace

extern "C" void compress_rt_quantized_linear_f32(int64_t m, int64_t n, int64_t k, int64_t x,
                                                 int64_t xStride, int64_t q, int64_t scales,
                                                 int64_t zeros, int64_t out, int64_t outStride,
                                                 int64_t bits, int64_t group) {
  const float *px = reinterpret_cast<const float *>(x);
  float *pout = reinterpret_cast<float *>(out);
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
