// Per-token (per-row) symmetric int8 quantization of activations.
#include "lib/runtime/cpu/ActivationQuantization.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

using namespace compress;

namespace {

/// The scale of one row: max|x| / 127, or 1 for a row of zeros (any scale
/// represents it exactly).
float rowScale(const float *row, int64_t k) {
  float largest = 0;
#pragma omp simd reduction(max : largest)
  for (int64_t p = 0; p < k; ++p)
    largest = std::max(largest, std::fabs(row[p]));
  return largest > 0 ? largest / 127.0f : 1.0f;
}

/// round-to-nearest-even(x / scale) in [-127, 127]. Multiplying by the
/// reciprocal would round differently from the division in a few cases;
/// the division keeps every kernel on the same integers.
int8_t quantize(float value, float scale) {
  float q = std::nearbyint(value / scale);
  return int8_t(std::clamp(q, -127.0f, 127.0f));
}

/// quantize() over one group of 16-multiple length, returning the sum.
__attribute__((target("avx512f,avx512bw"))) int32_t quantizeGroupAvx512(const float *row,
                                                                        int64_t count,
                                                                        float scale,
                                                                        int8_t *out) {
  const __m512 divisor = _mm512_set1_ps(scale);
  const __m512 lowest = _mm512_set1_ps(-127.0f), highest = _mm512_set1_ps(127.0f);
  __m512i sum = _mm512_setzero_si512();
  for (int64_t p = 0; p < count; p += 16) {
    __m512 q = _mm512_roundscale_ps(_mm512_div_ps(_mm512_loadu_ps(row + p), divisor),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512i values = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(q, lowest), highest));
    sum = _mm512_add_epi32(sum, values);
    _mm_storeu_si128(reinterpret_cast<__m128i *>(out + p), _mm512_cvtepi32_epi8(values));
  }
  return _mm512_reduce_add_epi32(sum);
}

} // namespace

void compress::quantizeActivations(const float *x, int64_t m, int64_t k, int64_t xStride,
                                   int64_t group, QuantizedActivations &result) {
  int64_t groups = k / group;
  result.values.resize(m * k);
  result.groupSums.assign(m * groups, 0);
  result.scales.resize(m);
#pragma omp parallel for schedule(static) if (m * k > 32768)
  for (int64_t r = 0; r < m; ++r) {
    const float *row = x + r * xStride;
    float scale = rowScale(row, k);
    result.scales[r] = scale;
    int8_t *out = result.values.data() + r * k;
    bool vector = group % 16 == 0 && __builtin_cpu_supports("avx512bw");
    for (int64_t g = 0; g < groups; ++g) {
      if (vector) {
        result.groupSums[r * groups + g] =
            quantizeGroupAvx512(row + g * group, group, scale, out + g * group);
        continue;
      }
      int32_t sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t p = g * group; p < (g + 1) * group; ++p) {
        out[p] = quantize(row[p], scale);
        sum += out[p];
      }
      result.groupSums[r * groups + g] = sum;
    }
  }
}

void compress::fakeQuantizeActivations(const float *x, int64_t m, int64_t k, int64_t xStride,
                                       std::vector<float> &result) {
  result.resize(m * k);
#pragma omp parallel for schedule(static) if (m * k > 32768)
  for (int64_t r = 0; r < m; ++r) {
    const float *row = x + r * xStride;
    float scale = rowScale(row, k);
    for (int64_t p = 0; p < k; ++p)
      result[r * k + p] = float(quantize(row[p], scale)) * scale;
  }
}
