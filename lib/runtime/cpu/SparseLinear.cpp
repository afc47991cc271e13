// Entry points of the sparse linear microkernels (SparseLinear.h): the
// call's arguments as a Weight and a Product, int8 activations quantized,
// and the kernel chosen by the CPU's features and the weight's pattern.
// Also the portable kernel, correct on any x86-64 CPU.
#include "lib/runtime/cpu/SparseLinear.h"
#include "lib/runtime/cpu/ActivationQuantization.h"
#include "lib/runtime/cpu/SparseLinearKernels.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

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

/// Row c of W, densified into dst[0], dst[stride], ... dst[(k - 1) * stride]
/// (which hold zeros). `columns` and `values` hold w.stored entries.
void densifyRow(const Weight &w, int64_t c, float *dst, int64_t stride, int32_t *columns,
                float *values) {
  int64_t count = w.count(c);
  dequantizeValues(w, c, 0, count, values);
  if (!w.nm()) {
    decodeColumns(w, c, 0, count, columns);
    for (int64_t j = 0; j < count; ++j)
      dst[columns[j] * stride] = values[j];
    return;
  }
  // N:M: block by block, without dividing entry numbers by keep.
  const uint8_t *indices = w.indexRow(c);
  int64_t ib = w.indexBits(), mask = (1 << ib) - 1, j = 0;
  for (int64_t column = 0; column < w.k; column += w.block)
    for (int64_t e = 0; e < w.keep; ++e, ++j) {
      int64_t bit = j * ib;
      dst[(column + ((indices[bit / 8] >> (bit % 8)) & mask)) * stride] = values[j];
    }
}

constexpr int64_t kTile = 16;

/// dst[j * ld + r] = src[r * k + j] for r < rows (at most kTile), j < k.
__attribute__((target_clones("avx512f", "avx2", "default"))) void
transposeTile(const float *src, int64_t rows, int64_t k, float *dst, int64_t ld) {
  if (rows == kTile) {
    for (int64_t j = 0; j < k; ++j)
#pragma omp simd
      for (int64_t r = 0; r < kTile; ++r)
        dst[j * ld + r] = src[r * k + j];
    return;
  }
  for (int64_t j = 0; j < k; ++j)
    for (int64_t r = 0; r < rows; ++r)
      dst[j * ld + r] = src[r * k + j];
}

} // namespace

bool sparse_linear::denseWins(const Weight &w, int64_t m) {
  if (m < kDenseRows)
    return false;
  // Entries stored against K x N: N:M from its pattern, ELL from its counts
  // (cheap next to the product).
  int64_t total = w.keep * w.n * (w.k / std::max<int64_t>(w.block, 1));
  if (!w.nm()) {
    total = 0;
    for (int64_t c = 0; c < w.n; ++c)
      total += w.counts[c];
  }
  return 100 * total > (100 - kDenseMaxSparsity) * w.n * w.k;
}

void sparse_linear::denseProduct(const Weight &w, const Product &p) {
  // Blocks of up to 128 channels (as QuantizedLinear.cpp: wide sgemm calls,
  // a buffer in L2), as many in each thread's share: 576 channels on two
  // threads go as 6 blocks of 96, not 5 of 128 (3 against 2).
  constexpr int64_t kMaxBlock = 128;
  int64_t threads = omp_get_max_threads();
  int64_t rounds = (w.n + threads * kMaxBlock - 1) / (threads * kMaxBlock);
  int64_t blockRows = (w.n + threads * rounds - 1) / (threads * rounds);
  blockRows = std::min(kMaxBlock, (blockRows + 15) / 16 * 16);
  int64_t blocks = (w.n + blockRows - 1) / blockRows;
  float beta = p.accumulate ? 1.0f : 0.0f;
#pragma omp parallel
  {
    // Kept by each thread from call to call: a fresh buffer of a few
    // hundred KB comes from mmap, and faulting its pages in again on every
    // call costs as much as densifying it.
    thread_local LineAligned<float> buffer;
    thread_local std::vector<int32_t> columns;
    thread_local std::vector<float> values;
    thread_local LineAligned<float> tile;
    // assign() keeps 64 bytes for the alignment: more than that capacity
    // is what data() can count on.
    if (buffer.storage.size() < size_t(blockRows * w.k + 16))
      buffer.assign(blockRows * w.k, 0.0f);
    if (tile.storage.size() < size_t(kTile * w.k + 16))
      tile.assign(kTile * w.k, 0.0f);
    if (columns.size() < size_t(w.stored)) {
      columns.resize(w.stored);
      values.resize(w.stored);
    }
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      int64_t c0 = b * blockRows, count = std::min(blockRows, w.n - c0);
      // W^T's block, [k, count]: oneDNN's sgemm takes it (N, N) several
      // times faster than the block itself transposed (N, T) at 32 rows of
      // x (K 1536, 96 channels: 0.25 ms against 1.0), 15% at 512.
      // Rows go 16 at a time into a tile in their own order (writes within
      // a row, not a line apart each), then transposed into the block.
      for (int64_t t0 = 0; t0 < count; t0 += kTile) {
        int64_t rows = std::min(kTile, count - t0);
        std::fill(tile.data(), tile.data() + rows * w.k, 0.0f);
        for (int64_t r = 0; r < rows; ++r)
          densifyRow(w, c0 + t0 + r, tile.data() + r * w.k, 1, columns.data(), values.data());
        transposeTile(tile.data(), rows, w.k, buffer.data() + t0, count);
      }
      // oneDNN runs sequentially inside this parallel region.
      dnnl_sgemm('N', 'N', p.m, count, w.k, 1.0f, p.x, p.xStride, buffer.data(), count, beta,
                 p.out + c0, p.outStride);
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
  if (w.stored > 0 && denseWins(w, p.m))
    denseProduct(w, p);
  else if (!hasAvx512() || w.stored == 0)
    portableProduct(w, p);
  else if (w.nm() && floatNmSupported(w) && p.m <= kNmPermuteRows)
    floatNmProduct(w, p);
  else if (floatNmRowsSupported(w))
    floatNmRowsProduct(w, p);
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
