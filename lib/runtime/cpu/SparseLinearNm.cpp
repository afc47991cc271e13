// N:M sparse weights multiplied in float on AVX-512. A chunk of 16 stored
// entries (keep dividing 16) covers 16 / keep blocks: a window of at most
// 64 consecutive columns of x, two or four registers. Its indices become
// one vector of offsets into the window, and a two-register permute
// (vpermt2ps) gathers the 16 activations that meet the 16 values, so each
// register of x read feeds only kept products. A chunk's offsets and values
// serve several rows of x. K goes in slices whose activations stay in L1
// while a block of rows of W reads them; quantized values are dequantised
// a slice of a row at a time, for all rows of x.
#include "lib/runtime/cpu/SparseLinearKernels.h"

#include <immintrin.h>

#include <algorithm>
#include <numeric>
#include <vector>

using namespace compress;
using namespace compress::sparse_linear;

namespace {

#define COMPRESS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

constexpr int64_t kChunk = 16;
/// Rows of x per pass over a row of W: their sums stay in registers next
/// to the window being permuted.
constexpr int kRows = 8;

/// What every chunk of the product shares.
struct Pattern {
  int64_t k, stored, indexBits, indexRowBytes, xStride;
  int64_t window;      // columns a chunk spans
  int64_t plainChunks; // leading chunks that are full and whose registers of x stay in the rows
  alignas(64) int32_t base[kChunk]; // column of each lane's block in the window

  Pattern(const Weight &w, int64_t xStride)
      : k(w.k), stored(w.stored), indexBits(w.indexBits()), indexRowBytes(w.indexRowBytes()),
        xStride(xStride), window(kChunk / w.keep * w.block) {
    int64_t parts = window <= 32 ? 2 : 4;
    int64_t inRows = w.k < 16 * parts ? 0 : (w.k - 16 * parts) / window + 1;
    plainChunks = std::min(w.stored / kChunk, inRows);
    for (int64_t lane = 0; lane < kChunk; ++lane)
      base[lane] = int32_t(lane / w.keep * w.block);
  }
};

/// Up to 8 bytes from `at`, at most `bytes` of them (the rest 0), as one
/// integer: the packed indices of a row's last chunk.
inline uint64_t loadBits(const uint8_t *at, int64_t bytes) {
  uint64_t value = 0;
  std::memcpy(&value, at, std::min<int64_t>(bytes, sizeof(value)));
  return value;
}

template <typename T>
inline T load(const uint8_t *at) {
  T value;
  std::memcpy(&value, at, sizeof(value));
  return value;
}

/// The offsets in its window of the chunk at entry j0 of a row of indices.
/// Plain: a full chunk (Pattern::plainChunks), read without bounds.
template <bool Plain>
COMPRESS_AVX512 inline __m512i chunkOffsets(const Pattern &t, const uint8_t *indices, int64_t j0) {
  __m512i fields;
  if (t.indexBits == 2) {
    const __m512i shifts =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const uint8_t *at = indices + j0 / 4;
    uint32_t packed = Plain ? load<uint32_t>(at) : uint32_t(loadBits(at, t.indexRowBytes - j0 / 4));
    fields = _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32(int32_t(packed)), shifts),
                              _mm512_set1_epi32(3));
  } else {
    // 16 fields of 4 bits: lanes 0-7 from the low half, 8-15 the high one.
    const __m512i halves = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i shifts =
        _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
    const uint8_t *at = indices + j0 / 2;
    uint64_t packed = Plain ? load<uint64_t>(at) : loadBits(at, t.indexRowBytes - j0 / 2);
    __m512i words = _mm512_permutexvar_epi32(halves, _mm512_set1_epi64(int64_t(packed)));
    fields = _mm512_and_si512(_mm512_srlv_epi32(words, shifts), _mm512_set1_epi32(0x0F));
  }
  return _mm512_add_epi32(fields, _mm512_load_si512(t.base));
}

/// The activations of the rows of x from `x` that meet the chunk at j0
/// (offsets as chunkOffsets gives them); lanes outside `valid` 0,
/// whatever x holds.
template <int Parts, bool Plain>
COMPRESS_AVX512 inline __m512 gatherWindow(const Pattern &t, const float *x, int64_t column,
                                           __m512i offsets, __mmask16 valid) {
  __m512 part[Parts];
#pragma GCC unroll 4
  for (int i = 0; i < Parts; ++i) {
    int64_t left = t.k - column - 16 * i; // columns of x from this register on
    __mmask16 present = left >= 16 ? 0xFFFF : left > 0 ? __mmask16((1u << left) - 1) : 0;
    part[i] = Plain ? _mm512_loadu_ps(x + column + 16 * i)
                    : _mm512_maskz_loadu_ps(present, x + column + 16 * i);
  }
  __m512 low = _mm512_maskz_permutex2var_ps(valid, part[0], offsets, part[1]);
  if constexpr (Parts == 2)
    return low;
  __m512 high = _mm512_maskz_permutex2var_ps(valid, part[2], offsets, part[3]);
  return _mm512_mask_blend_ps(_mm512_test_epi32_mask(offsets, _mm512_set1_epi32(32)), low, high);
}

/// acc[r] += the products of the chunk at j0 (values: its 16 float values)
/// with row r of x.
template <int Rows, int Parts, bool Plain>
COMPRESS_AVX512 inline void multiplyChunk(const Pattern &t, const uint8_t *indices,
                                          const float *values, int64_t j0, const float *x,
                                          __m512 (&acc)[Rows]) {
  __mmask16 valid =
      Plain || t.stored - j0 >= kChunk ? 0xFFFF : __mmask16((1u << (t.stored - j0)) - 1);
  __m512i offsets = chunkOffsets<Plain>(t, indices, j0);
  __m512 w = Plain ? _mm512_loadu_ps(values) : _mm512_maskz_loadu_ps(valid, values);
  int64_t column = j0 / kChunk * t.window;
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r)
    acc[r] = _mm512_fmadd_ps(
        gatherWindow<Parts, Plain>(t, x + r * t.xStride, column, offsets, valid), w, acc[r]);
}

/// sums[r] += the products of entries [begin, end) of a row of W (begin a
/// multiple of 16; values[0] is entry begin's) with row r of x, for `Rows`
/// rows. Few rows keep several sums each: a multiply-add waits 4 cycles for
/// the one before.
template <int Rows, int Parts>
COMPRESS_AVX512 void sliceKernel(const Pattern &t, const uint8_t *indices, const float *values,
                                 int64_t begin, int64_t end, const float *x, float *sums) {
  constexpr int kChains = Rows >= 4 ? 1 : 4 / Rows;
  __m512 acc[kChains][Rows];
#pragma GCC unroll 4
  for (int c = 0; c < kChains; ++c)
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r)
      acc[c][r] = c == 0 ? _mm512_loadu_ps(sums + 16 * r) : _mm512_setzero_ps();
  int64_t plainEnd = std::min(end, t.plainChunks * kChunk), j = begin;
  for (; j + kChains * kChunk <= plainEnd; j += kChains * kChunk)
#pragma GCC unroll 4
    for (int c = 0; c < kChains; ++c)
      multiplyChunk<Rows, Parts, true>(t, indices, values + (j - begin) + c * kChunk,
                                       j + c * kChunk, x, acc[c]);
  for (; j < plainEnd; j += kChunk)
    multiplyChunk<Rows, Parts, true>(t, indices, values + (j - begin), j, x, acc[0]);
  for (; j < end; j += kChunk)
    multiplyChunk<Rows, Parts, false>(t, indices, values + (j - begin), j, x, acc[0]);
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) {
    __m512 sum = acc[0][r];
#pragma GCC unroll 4
    for (int c = 1; c < kChains; ++c)
      sum = _mm512_add_ps(sum, acc[c][r]);
    _mm512_storeu_ps(sums + 16 * r, sum);
  }
}

template <int Parts, int Rows = kRows>
void slice(const Pattern &t, const uint8_t *indices, const float *values, int64_t begin,
           int64_t end, const float *x, float *sums, int64_t rows) {
  if constexpr (Rows > 1)
    if (rows < Rows)
      return slice<Parts, Rows - 1>(t, indices, values, begin, end, x, sums, rows);
  sliceKernel<Rows, Parts>(t, indices, values, begin, end, x, sums);
}

/// Rows of x copied `stride` floats apart: a stride of a multiple of 4 KB
/// would map the windows of every row to the same L1 sets.
LineAligned<float> staggeredRows(const Weight &w, Product &p) {
  int64_t stride = (w.k + 15) / 16 * 16 + 16;
  LineAligned<float> rows;
  rows.assign(p.m * stride, 0.0f);
  for (int64_t r = 0; r < p.m; ++r)
    std::copy(p.x + r * p.xStride, p.x + r * p.xStride + w.k, rows.data() + r * stride);
  p.x = rows.data();
  p.xStride = stride;
  return rows;
}

template <int Parts>
void product(const Weight &w, Product p) {
  LineAligned<float> staggered;
  if (p.m > 1)
    staggered = staggeredRows(w, p);
  Pattern t(w, p.xStride);
  // Slices of whole chunks.
  int64_t passRows = std::min<int64_t>(p.m, kRows);
  int64_t sliceColumns = std::max(t.window, kSliceBytes / (4 * passRows) / t.window * t.window);
  int64_t sliceEntries = sliceColumns / w.block * w.keep;
  int64_t blocks = (w.n + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel
  {
    std::vector<float> dequantized(w.bits ? sliceEntries : 0);
    // The sums of a block of rows of W: [channel][row][16 lanes].
    std::vector<float> sums(kChannelBlock * kRows * kChunk);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      int64_t c0 = b * kChannelBlock, c1 = std::min(w.n, c0 + kChannelBlock);
      for (int64_t r0 = 0; r0 < p.m; r0 += kRows) {
        int64_t rows = std::min<int64_t>(kRows, p.m - r0);
        std::fill(sums.begin(), sums.end(), 0.0f);
        for (int64_t begin = 0; begin < w.stored; begin += sliceEntries) {
          int64_t end = std::min(w.stored, begin + sliceEntries);
          for (int64_t c = c0; c < c1; ++c) {
            if (sliceEntries < w.stored) // rows read in one slice stream by themselves
              prefetchSlice(w, c, end, end + sliceEntries);
            const float *values = reinterpret_cast<const float *>(w.valueRow(c)) + begin;
            if (w.bits) {
              dequantizeValues(w, c, begin, end, dequantized.data());
              values = dequantized.data();
            }
            slice<Parts>(t, w.indexRow(c), values, begin, end, p.x + r0 * p.xStride,
                         &sums[(c - c0) * kRows * kChunk], rows);
          }
        }
        for (int64_t c = c0; c < c1; ++c)
          for (int64_t r = 0; r < rows; ++r) {
            const float *lanes = &sums[((c - c0) * kRows + r) * kChunk];
            p.store(r0 + r, c, std::accumulate(lanes, lanes + kChunk, 0.0f));
          }
      }
    }
  }
}

} // namespace

bool sparse_linear::floatNmSupported(const Weight &w) {
  // A chunk spans whole blocks, at most 64 columns (four registers).
  return kChunk % w.keep == 0 && kChunk / w.keep * w.block <= 64;
}

void sparse_linear::floatNmProduct(const Weight &w, const Product &p) {
  if (kChunk / w.keep * w.block <= 32)
    product<2>(w, p);
  else
    product<4>(w, p);
}

// 2:4 weights in float times many rows of x: x transposed 16 rows at a
// time, so that one column's activations are one register and each stored
// entry costs one load and one multiply-add with its value broadcast (no
// permute). Two bytes of indices (8 entries in 16 columns) become the 8
// columns at once with one bit deposit, sparing per-entry shifts and masks.
// 4096 x 11008, 16 rows, two threads on AMD Zen 4: ~7.3 ms against ~10.2
// for floatListProduct.
namespace {

#define COMPRESS_AVX512_BMI2 __attribute__((target("avx512f,avx512bw,avx512vl,bmi2")))

constexpr int64_t kLanes = 16;

/// sum += an entry's value times the column of xT at `column`.
COMPRESS_AVX512 inline void entry(__m512 &sum, const float *column, const float *value) {
  sum = _mm512_fmadd_ps(_mm512_load_ps(column), _mm512_set1_ps(*value), sum);
}

/// For rows [c0, c1) of W: sums[c - c0][0, 16) += the entries of index
/// bytes [i0, i1) times xT ([k, 16]). The next slice of each row is asked
/// for ahead of its use (prefetchSlice).
COMPRESS_AVX512_BMI2 void rowsSlice(const Weight &w, int64_t c0, int64_t c1, int64_t i0,
                                    int64_t i1, const float *xT, float *sums) {
  // Two bytes of indices: 8 entries in 16 columns, their columns 8 bytes
  // of one integer (times 8, a scaled index reaching 64-byte columns).
  constexpr uint64_t kFields = 0x0303030303030303;
  constexpr uint64_t kBlocks = 0x6060404020200000; // blocks 0, 0, 4, 4, 8, 8, 12, 12
  int64_t indexBytes = w.k / 8;
  for (int64_t c = c0; c < c1; ++c) {
    if (i1 - i0 < indexBytes)
      prefetchSlice(w, c, 4 * i1, 4 * i1 + 4 * (i1 - i0));
    const uint8_t *indices = w.indexRow(c);
    const float *values = reinterpret_cast<const float *>(w.valueRow(c));
    __m512 acc[8];
#pragma GCC unroll 8
    for (int a = 0; a < 8; ++a)
      acc[a] = _mm512_setzero_ps();
    int64_t b = i0;
    for (; b + 2 <= i1; b += 2) {
      uint64_t columns = _pdep_u64(load<uint16_t>(indices + b), kFields) * 8 + kBlocks;
      const float *x = xT + b * 8 * kLanes, *v = values + 4 * b;
#pragma GCC unroll 8
      for (int e = 0; e < 8; ++e)
        entry(acc[e], x + ((columns >> (8 * e)) & 0xFF) * (kLanes / 8), v + e);
    }
    for (; b < i1; ++b)
#pragma GCC unroll 4
      for (int e = 0; e < 4; ++e)
        entry(acc[e], xT + (b * 8 + e / 2 * 4 + ((indices[b] >> (2 * e)) & 3)) * kLanes,
              values + 4 * b + e);
    __m512 total = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]),
                                               _mm512_add_ps(acc[2], acc[3])),
                                 _mm512_add_ps(_mm512_add_ps(acc[4], acc[5]),
                                               _mm512_add_ps(acc[6], acc[7])));
    float *at = sums + (c - c0) * kLanes;
    _mm512_store_ps(at, _mm512_add_ps(total, _mm512_load_ps(at)));
  }
}

} // namespace

bool sparse_linear::floatNmRowsSupported(const Weight &w) {
  return w.bits == 0 && w.keep == 2 && w.block == 4 && w.k % 8 == 0 &&
         __builtin_cpu_supports("bmi2");
}

void sparse_linear::floatNmRowsProduct(const Weight &w, const Product &p) {
  // Activations of a slice of columns, all 16 rows, stay in L1 while a
  // block of rows of W reads them.
  constexpr int64_t sliceBytes = kSliceBytes / (kLanes * sizeof(float)) / 8; // of indices
  int64_t indexBytes = w.k / 8;
  int64_t blocks = (w.n + kChannelBlock - 1) / kChannelBlock;
  LineAligned<float> xT;
  xT.assign(w.k * kLanes, 0.0f);
  for (int64_t r0 = 0; r0 < p.m; r0 += kLanes) {
    int64_t rows = std::min(kLanes, p.m - r0);
    float *t = xT.data();
    for (int64_t r = 0; r < kLanes; ++r)
      for (int64_t c = 0; c < w.k; ++c)
        t[c * kLanes + r] = r < rows ? p.x[(r0 + r) * p.xStride + c] : 0.0f;
#pragma omp parallel
    {
      LineAligned<float> sums;
      sums.assign(kChannelBlock * kLanes, 0.0f);
      float *s = sums.data();
#pragma omp for schedule(static)
      for (int64_t b = 0; b < blocks; ++b) {
        int64_t c0 = b * kChannelBlock, c1 = std::min(w.n, c0 + kChannelBlock);
        std::fill(s, s + kChannelBlock * kLanes, 0.0f);
        for (int64_t i0 = 0; i0 < indexBytes; i0 += sliceBytes)
          rowsSlice(w, c0, c1, i0, std::min(indexBytes, i0 + sliceBytes), t, s);
        for (int64_t c = c0; c < c1; ++c)
          for (int64_t r = 0; r < rows; ++r)
            p.store(r0 + r, c, s[(c - c0) * kLanes + r]);
      }
    }
  }
}
