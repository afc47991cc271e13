// Entry points of the sparse linear microkernels (SparseLinear.h): the
// call's arguments as a Weight and a Product, int8 activations quantized,
// and the kernel chosen by the CPU's features and the weight's pattern.
// Also the portable kernel, correct on any x86-64 CPU.
#include "lib/runtime/cpu/SparseLinear.h"
#include "lib/runtime/cpu/ActivationQuantization.h"
#include "lib/runtime/cpu/SparseLinearKernels.h"

#include <algorithm>
#include <vector>

using namespace compress;
using namespace compress::sparse_linear;

void sparse_linear::decodeColumns(const Weight &w, int64_t row, int64_t begin, int64_t end,
                                  int32_t *dst) {
  if (w.columns16)
    std::copy(w.columns16 + row * w.stored + begin, w.columns16 + row * w.stored + end, dst);
  else if (w.columns32)
    std::copy(w.columns32 + row * w.stored + begin, w.columns32 + row * w.stored + end, dst);
  else
    for (int64_t j = begin; j < end; ++j)
      dst[j - begin] = int32_t(w.column(row, j));
}

// One loop per group and code width, which compilers vectorise.
__attribute__((target_clones("avx512f", "avx2", "default"))) void
sparse_linear::dequantizeValues(const Weight &w, int64_t row, int64_t begin, int64_t end,
                                float *dst) {
  const uint8_t *codes = w.valueRow(row);
  if (w.bits == 0) {
    std::memcpy(dst, codes + 4 * begin, (end - begin) * sizeof(float));
    return;
  }
  const float *scales = w.scaleRow(row);
  const uint8_t *zeros = w.zeroRow(row);
  for (int64_t g = begin / w.group; g * w.group < end; ++g) {
    int64_t first = std::max(begin, g * w.group), last = std::min(end, (g + 1) * w.group);
    float scale = scales[g];
    int32_t zero = zeros ? zeros[g] : 0;
    if (w.bits == 8 && zeros) {
      for (int64_t j = first; j < last; ++j)
        dst[j - begin] = float(int32_t(codes[j]) - zero) * scale;
    } else if (w.bits == 8) {
      for (int64_t j = first; j < last; ++j)
        dst[j - begin] = float(int8_t(codes[j])) * scale;
    } else {
      // Nibbles: sign-extended ((v ^ 8) - 8) without zero points.
      int32_t flip = zeros ? 0 : 8;
      for (int64_t j = first; j < last; ++j) {
        int32_t nibble = (codes[j / 2] >> (4 * (j % 2))) & 0x0F;
        dst[j - begin] = float((nibble ^ flip) - flip - zero) * scale;
      }
    }
  }
}

void sparse_linear::prefetchSlice(const Weight &w, int64_t row, int64_t begin, int64_t end) {
  if (begin >= w.stored) {
    row += kChannelBlock;
    end -= begin;
    begin = 0;
  }
  if (row >= w.n)
    return;
  end = std::min(end, w.stored);
  auto prefetch = [](const uint8_t *from, const uint8_t *to) {
    for (const uint8_t *line = from; line < to; line += 64)
      __builtin_prefetch(line);
  };
  int64_t valueBits = w.bits ? w.bits : 32;
  const uint8_t *values = w.valueRow(row);
  prefetch(values + begin * valueBits / 8, values + (end * valueBits + 7) / 8);
  if (w.nm())
    prefetch(w.indexRow(row) + begin * w.indexBits() / 8,
             w.indexRow(row) + (end * w.indexBits() + 7) / 8);
  else if (w.columns16)
    prefetch(reinterpret_cast<const uint8_t *>(w.columns16 + row * w.stored + begin),
             reinterpret_cast<const uint8_t *>(w.columns16 + row * w.stored + end));
  else
    prefetch(reinterpret_cast<const uint8_t *>(w.columns32 + row * w.stored + begin),
             reinterpret_cast<const uint8_t *>(w.columns32 + row * w.stored + end));
}

void sparse_linear::portableProduct(const Weight &w, const Product &p) {
  int64_t blocks = (w.n + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel
  {
    std::vector<int32_t> columns(w.stored);
    std::vector<float> values(w.stored);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; ++b)
      for (int64_t c = b * kChannelBlock; c < std::min(w.n, (b + 1) * kChannelBlock); ++c) {
        int64_t count = w.count(c);
        decodeColumns(w, c, 0, count, columns.data());
        dequantizeValues(w, c, 0, count, values.data());
        for (int64_t r = 0; r < p.m; ++r) {
          const float *x = p.x + r * p.xStride;
          float acc = 0;
          for (int64_t j = 0; j < count; ++j)
            acc += values[j] * x[columns[j]];
          p.store(r, c, acc);
        }
      }
  }
}

namespace {

bool hasAvx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
}

void run(const Weight &w, Product p, bool int8Activations) {
  if (p.m <= 0 || w.n <= 0)
    return;
  if (int8Activations && w.bits != 0 && integerNmSupported(w)) {
    integerNmProduct(w, p);
    return;
  }
  // Kernels that multiply in float see the activations the integer kernel
  // would: quantized and dequantised again.
  std::vector<float> fakeQuantized;
  if (int8Activations) {
    fakeQuantizeActivations(p.x, p.m, w.k, p.xStride, fakeQuantized);
    p.x = fakeQuantized.data();
    p.xStride = w.k;
  }
  if (!hasAvx512() || w.stored == 0)
    portableProduct(w, p);
  else if (w.nm() && floatNmSupported(w) && p.m <= kNmPermuteRows)
    floatNmProduct(w, p);
  else
    floatListProduct(w, p);
}

} // namespace

extern "C" void compress_rt_nm_sparse_linear_f32(int64_t m, int64_t n, int64_t k, int64_t x,
                                                 int64_t xStride, int64_t values,
                                                 int64_t indices, int64_t scales, int64_t zeros,
                                                 int64_t out, int64_t outStride, int64_t keep,
                                                 int64_t block, int64_t bits, int64_t group,
                                                 int64_t int8Activations, int64_t accumulate) {
  Weight w{n,
           k,
           k / block * keep,
           reinterpret_cast<const uint8_t *>(values),
           bits,
           reinterpret_cast<const float *>(scales),
           reinterpret_cast<const uint8_t *>(zeros),
           group,
           keep,
           block,
           reinterpret_cast<const uint8_t *>(indices),
           nullptr,
           nullptr,
           nullptr};
  run(w,
      {m, reinterpret_cast<const float *>(x), xStride, reinterpret_cast<float *>(out), outStride,
       accumulate != 0},
      int8Activations != 0);
}

extern "C" void compress_rt_ell_sparse_linear_f32(int64_t m, int64_t n, int64_t k, int64_t x,
                                                  int64_t xStride, int64_t values,
                                                  int64_t columns, int64_t columnBits,
                                                  int64_t counts, int64_t entries,
                                                  int64_t scales, int64_t zeros, int64_t out,
                                                  int64_t outStride, int64_t bits, int64_t group,
                                                  int64_t int8Activations, int64_t accumulate) {
  Weight w{n,
           k,
           entries,
           reinterpret_cast<const uint8_t *>(values),
           bits,
           reinterpret_cast<const float *>(scales),
           reinterpret_cast<const uint8_t *>(zeros),
           group,
           0,
           0,
           nullptr,
           columnBits == 16 ? reinterpret_cast<const uint16_t *>(columns) : nullptr,
           columnBits == 16 ? nullptr : reinterpret_cast<const int32_t *>(columns),
           reinterpret_cast<const int32_t *>(counts)};
  run(w,
      {m, reinterpret_cast<const float *>(x), xStride, reinterpret_cast<float *>(out), outStride,
       accumulate != 0},
      int8Activations != 0);
}
