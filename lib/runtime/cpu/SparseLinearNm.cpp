// N:M sparse weights multiplied in float on AVX-512. A chunk of 16 stored
// entries (keep dividing 16) covers 16 / keep blocks: a window of at most
// 64 consecutive columns of x, two or four registers. Its indices become
// one vector of offsets into the window, and a two-register permute
// (vpermt2ps) gathers the 16 activations that meet the 16 values, so each
// register of x read feeds only kept products. A chunk's offsets and values
// serve several rows of x; codes go in less their zero point, their group's
// scale applied once per group.
#include "lib/runtime/cpu/SparseLinearKernels.h"

#include <immintrin.h>

#include <algorithm>
#include <vector>

using namespace compress;
using namespace compress::sparse_linear;

namespace {

#define COMPRESS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

constexpr int64_t kChunk = 16;
/// Rows of x per pass over a row of W: their sums stay in registers next
/// to the window being permuted.
constexpr int kRows = 8;

/// One row of W, as the chunks read it.
struct Row {
  const uint8_t *values, *indices;
  const float *scales;
  const uint8_t *zeros;
};

/// What every chunk of the product shares.
struct Pattern {
  int64_t k, stored, indexBits, indexRowBytes, valueRowBytes, group;
  int64_t window;      // columns a chunk spans
  int64_t plainChunks; // leading chunks that are full and whose registers of x stay in the rows
  int64_t groupSize;   // entries between scales (a whole row for float values)
  const Product *p;
  alignas(64) int32_t base[kChunk]; // column of each lane's block in the window

  Pattern(const Weight &w, const Product &product, int64_t parts, bool scaled)
      : k(w.k), stored(w.stored), indexBits(w.indexBits()), indexRowBytes(w.indexRowBytes()),
        valueRowBytes(w.valueRowBytes()), group(w.group), window(kChunk / w.keep * w.block),
        plainChunks(std::min(w.stored / kChunk,
                             w.k < 16 * parts ? 0 : (w.k - 16 * parts) / window + 1)),
        groupSize(scaled ? std::min(w.group, w.stored) : w.stored), p(&product) {
    for (int64_t lane = 0; lane < kChunk; ++lane)
      base[lane] = int32_t(lane / w.keep * w.block);
  }
};

/// Up to 8 bytes from `at`, at most `bytes` of them (the rest 0), as one
/// integer: the packed fields of a row's last chunk.
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

/// 16 fields of 4 bits (lane i: bits 4i..4i+3) spread to 32-bit lanes.
COMPRESS_AVX512 inline __m512i nibbles(uint64_t packed) {
  const __m512i halves = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const __m512i shifts = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24,
                                           28);
  __m512i words = _mm512_permutexvar_epi32(halves, _mm512_set1_epi64(int64_t(packed)));
  return _mm512_and_si512(_mm512_srlv_epi32(words, shifts), _mm512_set1_epi32(0x0F));
}

/// One chunk's operands: offsets into its window, and its values (codes
/// less their zero point, the scale applied per group), finite in every
/// lane (those outside `valid` meet activations gatherWindow zeroes).
struct Chunk {
  __m512i offsets;
  __m512 values;
  __mmask16 valid;
  int64_t column; // the window's first
};

/// Plain: a full chunk, read without masks (Pattern::plainChunks).
template <int Bits, bool Plain>
COMPRESS_AVX512 inline Chunk readChunk(const Pattern &t, const Row &row, int64_t j0,
                                       __m512i zero) {
  Chunk chunk;
  chunk.valid = Plain || t.stored - j0 >= kChunk ? 0xFFFF : __mmask16((1u << (t.stored - j0)) - 1);
  chunk.column = j0 / kChunk * t.window;
  __m512i fields;
  if (t.indexBits == 2) {
    const __m512i shifts =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const uint8_t *at = row.indices + j0 / 4;
    uint32_t packed = Plain ? load<uint32_t>(at) : uint32_t(loadBits(at, t.indexRowBytes - j0 / 4));
    fields = _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32(int32_t(packed)), shifts),
                              _mm512_set1_epi32(3));
  } else {
    const uint8_t *at = row.indices + j0 / 2;
    fields = nibbles(Plain ? load<uint64_t>(at) : loadBits(at, t.indexRowBytes - j0 / 2));
  }
  chunk.offsets = _mm512_add_epi32(fields, _mm512_load_si512(t.base));
  if constexpr (Bits == 0) {
    const float *values = reinterpret_cast<const float *>(row.values) + j0;
    chunk.values = Plain ? _mm512_loadu_ps(values) : _mm512_maskz_loadu_ps(chunk.valid, values);
    return chunk;
  }
  __m512i codes;
  if constexpr (Bits == 8) {
    __m128i bytes = Plain ? _mm_loadu_si128(reinterpret_cast<const __m128i *>(row.values + j0))
                          : _mm_maskz_loadu_epi8(chunk.valid, row.values + j0);
    codes = row.zeros ? _mm512_cvtepu8_epi32(bytes) : _mm512_cvtepi8_epi32(bytes);
  } else {
    const uint8_t *at = row.values + j0 / 2;
    codes = nibbles(Plain ? load<uint64_t>(at) : loadBits(at, t.valueRowBytes - j0 / 2));
    if (!row.zeros) { // sign-extend 4 bits
      const __m512i sign = _mm512_set1_epi32(8);
      codes = _mm512_sub_epi32(_mm512_xor_si512(codes, sign), sign);
    }
  }
  chunk.values = _mm512_cvtepi32_ps(_mm512_sub_epi32(codes, zero));
  return chunk;
}

/// The activations of the row of x at `x` (the window's first column)
/// that meet the chunk; lanes outside `valid` 0, whatever x holds.
template <int Parts, bool Plain>
COMPRESS_AVX512 inline __m512 gatherWindow(const Pattern &t, const Chunk &chunk, const float *x) {
  __m512 part[Parts];
#pragma GCC unroll 4
  for (int i = 0; i < Parts; ++i) {
    int64_t left = t.k - chunk.column - 16 * i; // columns of x from this register on
    part[i] = Plain || left >= 16 ? _mm512_loadu_ps(x + 16 * i)
                                  : _mm512_maskz_loadu_ps(
                                        left > 0 ? __mmask16((1u << left) - 1) : 0, x + 16 * i);
  }
  __m512 low = _mm512_maskz_permutex2var_ps(chunk.valid, part[0], chunk.offsets, part[1]);
  if constexpr (Parts == 2)
    return low;
  __m512 high = _mm512_maskz_permutex2var_ps(chunk.valid, part[2], chunk.offsets, part[3]);
  return _mm512_mask_blend_ps(_mm512_test_epi32_mask(chunk.offsets, _mm512_set1_epi32(32)), low,
                              high);
}

template <int Rows, int Parts, int Bits, bool Plain>
COMPRESS_AVX512 inline void multiplyChunk(const Pattern &t, const Row &row, const float *x,
                                          int64_t j0, __m512i zero, __m512 (&acc)[Rows]) {
  Chunk chunk = readChunk<Bits, Plain>(t, row, j0, zero);
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r)
    acc[r] = _mm512_fmadd_ps(
        gatherWindow<Parts, Plain>(t, chunk, x + r * t.p->xStride + chunk.column), chunk.values,
        acc[r]);
}

/// out[r0 .. r0 + Rows, channel] for one row of W, a group at a time. Few
/// rows keep several sums each: a multiply-add waits 4 cycles for the one
/// before.
template <int Rows, int Parts, int Bits>
COMPRESS_AVX512 void rowsKernel(const Pattern &t, const Row &row, int64_t channel, int64_t r0) {
  constexpr int kChains = Rows >= 4 ? 1 : 4 / Rows;
  const Product &p = *t.p;
  const float *x = p.x + r0 * p.xStride;
  __m512 total[Rows];
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r)
    total[r] = _mm512_setzero_ps();
  for (int64_t g0 = 0; g0 < t.stored; g0 += t.groupSize) {
    int64_t g = g0 / t.group, end = std::min(t.stored, g0 + t.groupSize);
    int64_t plainEnd = std::min(end, t.plainChunks * kChunk);
    __m512i zero = _mm512_set1_epi32(Bits && row.zeros ? row.zeros[g] : 0);
    __m512 acc[kChains][Rows];
#pragma GCC unroll 4
    for (int c = 0; c < kChains; ++c)
#pragma GCC unroll 8
      for (int r = 0; r < Rows; ++r)
        acc[c][r] = _mm512_setzero_ps();
    int64_t j = g0;
    for (; j + kChains * kChunk <= plainEnd; j += kChains * kChunk)
#pragma GCC unroll 4
      for (int c = 0; c < kChains; ++c)
        multiplyChunk<Rows, Parts, Bits, true>(t, row, x, j + c * kChunk, zero, acc[c]);
    for (; j < plainEnd; j += kChunk)
      multiplyChunk<Rows, Parts, Bits, true>(t, row, x, j, zero, acc[0]);
    for (; j < end; j += kChunk)
      multiplyChunk<Rows, Parts, Bits, false>(t, row, x, j, zero, acc[0]);
    __m512 scale = _mm512_set1_ps(Bits ? row.scales[g] : 1.0f);
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      __m512 sum = acc[0][r];
#pragma GCC unroll 4
      for (int c = 1; c < kChains; ++c)
        sum = _mm512_add_ps(sum, acc[c][r]);
      total[r] = _mm512_fmadd_ps(sum, scale, total[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r)
    p.store(r0 + r, channel, _mm512_reduce_add_ps(total[r]));
}

template <int Parts, int Bits, int Rows = kRows>
void rows(const Pattern &t, const Row &row, int64_t channel, int64_t r0, int64_t count) {
  if constexpr (Rows > 1)
    if (count < Rows)
      return rows<Parts, Bits, Rows - 1>(t, row, channel, r0, count);
  rowsKernel<Rows, Parts, Bits>(t, row, channel, r0);
}

template <int Parts, int Bits>
void product(const Weight &w, const Product &p) {
  Pattern t(w, p, Parts, Bits != 0);
  // Quantized values whose groups split chunks: rows dequantised into a
  // buffer first, then multiplied as float values.
  bool buffered = Bits == 0 && w.bits != 0;
  int64_t blocks = (w.n + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel
  {
    std::vector<float> dequantized(buffered ? w.stored : 0);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; ++b)
      for (int64_t c = b * kChannelBlock; c < std::min(w.n, (b + 1) * kChannelBlock); ++c) {
        Row row{w.valueRow(c), w.indexRow(c), w.bits ? w.scaleRow(c) : nullptr, w.zeroRow(c)};
        if (buffered) {
          dequantizeValues(w, c, dequantized.data());
          row.values = reinterpret_cast<const uint8_t *>(dequantized.data());
        }
        for (int64_t r0 = 0; r0 < p.m; r0 += kRows)
          rows<Parts, Bits>(t, row, c, r0, std::min<int64_t>(kRows, p.m - r0));
      }
  }
}

template <int Parts>
void productOfParts(const Weight &w, const Product &p) {
  bool chunksInGroups = w.group % kChunk == 0 || w.group >= w.stored;
  if (w.bits == 8 && chunksInGroups)
    return product<Parts, 8>(w, p);
  if (w.bits == 4 && chunksInGroups)
    return product<Parts, 4>(w, p);
  product<Parts, 0>(w, p);
}

} // namespace

bool sparse_linear::floatNmSupported(const Weight &w) {
  // A chunk spans whole blocks, at most 64 columns (four registers).
  return kChunk % w.keep == 0 && kChunk / w.keep * w.block <= 64;
}

void sparse_linear::floatNmProduct(const Weight &w, const Product &p) {
  if (kChunk / w.keep * w.block <= 32)
    productOfParts<2>(w, p);
  else
    productOfParts<4>(w, p);
}
