// N:M sparse weights of 8- or 4-bit codes times int8 activations, in
// integers (AVX-512 VNNI and VBMI). A chunk of 64 stored entries (keep
// dividing 64) covers 64 / keep blocks: a window of at most 256 bytes of a
// row of quantized activations. Its packed indices become 64 byte offsets
// into the window (vpmultishiftqb spreads the fields to bytes), one or two
// two-register byte permutes (vpermt2b) gather the 64 activations, and one
// vpdpbusd multiplies them with the 64 codes.
//
// vpdpbusd multiplies unsigned bytes by signed ones: the activations go in
// offset by 128 (u = q + 128) and the codes as signed bytes, 128 times their
// sum (vpdpbusd against ones, once per chunk for all rows) taken off per
// group. Codes with zero points become signed bytes first: 4-bit ones as
// code - zero, 8-bit ones as code - 128, the rest of their zero point then
// coming out as (128 - zero) * the sum of the gathered activations (a
// second vpdpbusd per row, against ones).
#include "lib/runtime/cpu/ActivationQuantization.h"
#include "lib/runtime/cpu/SparseLinearKernels.h"

#include <immintrin.h>

#include <algorithm>
#include <vector>

using namespace compress;
using namespace compress::sparse_linear;

namespace {

#define COMPRESS_AVX512_VBMI_VNNI                                                            \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,avx512vnni")))

constexpr int64_t kChunk = 64;
/// Rows of x per pass over a row of W (int32 and float sums of each in
/// registers).
constexpr int kRows = 8;
/// Bytes past the end of a row of activations that a window may read.
constexpr int64_t kWindowSlack = 256;

/// The activations as unsigned bytes (q + 128), rows `stride` apart and
/// padded so that windows never leave them, and the scale of each row.
struct Activations {
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
  int64_t stride;
};

struct Pattern {
  int64_t stored, keep, block, indexBits, indexRowBytes, group, groupSize, valueRowBytes;
  const Activations *xq;
  const Product *p;
  alignas(64) uint8_t base[kChunk]; // column of each byte's block in the window

  Pattern(const Weight &w, const Activations &activations, const Product &product)
      : stored(w.stored), keep(w.keep), block(w.block), indexBits(w.indexBits()),
        indexRowBytes(w.indexRowBytes()), group(w.group),
        groupSize(std::min(w.group, w.stored)), valueRowBytes(w.valueRowBytes()),
        xq(&activations), p(&product) {
    for (int64_t lane = 0; lane < kChunk; ++lane)
      base[lane] = uint8_t(lane / keep * block);
  }
};

struct Row {
  const uint8_t *codes, *indices;
  const float *scales;
  const uint8_t *zeros;
};

/// The first `count` bits of a 64-bit mask.
inline __mmask64 firstBits(int64_t count) {
  return count >= 64 ? ~__mmask64(0) : (__mmask64(1) << count) - 1;
}

/// Byte offsets in its window of the chunk at entry j0: entry e's field at
/// bit e * indexBits, entries 8q..8q+7 from quadword q of the result.
COMPRESS_AVX512_VBMI_VNNI inline __m512i chunkOffsets(const Pattern &t, const Row &row,
                                                      int64_t j0) {
  int64_t ib = t.indexBits, at = j0 * ib / 8;
  __mmask64 present = firstBits(t.indexRowBytes - at);
  __m512i packed, shifts, mask;
  if (ib == 2) {
    // 16 bytes; quadword q reads bits 16q.. of the 128: source quadword q / 4.
    packed = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 0, 0, 0, 1, 1, 1, 1),
                                      _mm512_zextsi128_si512(_mm_maskz_loadu_epi8(
                                          __mmask16(present), row.indices + at)));
    shifts = _mm512_set1_epi64(0x0E0C0A0806040200);
    shifts = _mm512_add_epi8(shifts, _mm512_setr_epi64(0, 0x1010101010101010,
                                                       0x2020202020202020, 0x3030303030303030,
                                                       0, 0x1010101010101010,
                                                       0x2020202020202020, 0x3030303030303030));
    mask = _mm512_set1_epi8(3);
  } else {
    // 32 bytes; quadword q reads bits 32q.. of the 256: source quadword q / 2.
    packed = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 0, 1, 1, 2, 2, 3, 3),
                                      _mm512_zextsi256_si512(_mm256_maskz_loadu_epi8(
                                          __mmask32(present), row.indices + at)));
    shifts = _mm512_set1_epi64(0x1C1814100C080400);
    shifts = _mm512_add_epi8(shifts, _mm512_setr_epi64(0, 0x2020202020202020, 0,
                                                       0x2020202020202020, 0,
                                                       0x2020202020202020, 0,
                                                       0x2020202020202020));
    mask = _mm512_set1_epi8(15);
  }
  __m512i fields = _mm512_and_si512(_mm512_multishift_epi64_epi8(shifts, packed), mask);
  return _mm512_add_epi8(fields, _mm512_load_si512(t.base));
}

/// The chunk's codes as signed bytes (see the top of the file); entries
/// outside `valid` 0.
template <int Bits, bool ZeroPoints>
COMPRESS_AVX512_VBMI_VNNI inline __m512i chunkCodes(const Pattern &t, const Row &row, int64_t j0,
                                                    __mmask64 valid, uint8_t zero) {
  __m512i codes;
  if constexpr (Bits == 8) {
    codes = valid == ~__mmask64(0) ? _mm512_loadu_si512(row.codes + j0)
                                   : _mm512_maskz_loadu_epi8(valid, row.codes + j0);
    if (ZeroPoints)
      codes = _mm512_xor_si512(codes, _mm512_set1_epi8(char(0x80)));
  } else {
    // Word w holds entries 2w (low nibble) and 2w + 1 (high): w | w << 4
    // brings the high nibble to the word's second byte.
    __m256i bytes = _mm256_maskz_loadu_epi8(__mmask32(firstBits(t.valueRowBytes - j0 / 2)),
                                            row.codes + j0 / 2);
    __m512i words = _mm512_cvtepu8_epi16(bytes);
    codes = _mm512_and_si512(_mm512_or_si512(words, _mm512_slli_epi16(words, 4)),
                             _mm512_set1_epi8(0x0F));
    if (ZeroPoints) {
      codes = _mm512_sub_epi8(codes, _mm512_set1_epi8(char(zero)));
    } else {
      const __m512i sign = _mm512_set1_epi8(8);
      codes = _mm512_sub_epi8(_mm512_xor_si512(codes, sign), sign);
    }
  }
  return _mm512_maskz_mov_epi8(valid, codes);
}

/// The 64 activations of a row at `offsets` into its window from `window`.
template <int Parts>
COMPRESS_AVX512_VBMI_VNNI inline __m512i gatherWindow(const uint8_t *window, __m512i offsets) {
  __m512i low = _mm512_permutex2var_epi8(_mm512_loadu_si512(window), offsets,
                                         _mm512_loadu_si512(window + 64));
  if constexpr (Parts == 2)
    return low;
  __m512i high = _mm512_permutex2var_epi8(_mm512_loadu_si512(window + 128), offsets,
                                          _mm512_loadu_si512(window + 192));
  return _mm512_mask_blend_epi8(_mm512_movepi8_mask(offsets), low, high);
}

/// out[r0 .. r0 + Rows, channel] for one row of W.
template <int Rows, int Parts, int Bits, bool ZeroPoints>
COMPRESS_AVX512_VBMI_VNNI void rowsKernel(const Pattern &t, const Row &row, int64_t channel,
                                          int64_t r0) {
  // 8-bit codes with zero points also sum the gathered activations.
  constexpr bool kSelectedSums = ZeroPoints && Bits == 8;
  const Product &p = *t.p;
  const uint8_t *x = t.xq->bytes.data() + r0 * t.xq->stride;
  const int64_t stride = t.xq->stride, perWindow = kChunk / t.keep * t.block;
  const __m512i ones = _mm512_set1_epi8(1);
  __m512 total[Rows];
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r)
    total[r] = _mm512_setzero_ps();
  for (int64_t g0 = 0; g0 < t.stored; g0 += t.groupSize) {
    int64_t g = g0 / t.group, end = std::min(t.stored, g0 + t.groupSize);
    uint8_t zero = ZeroPoints ? row.zeros[g] : 0;
    __m512i acc[Rows], selected[kSelectedSums ? Rows : 1];
    __m512i codeSums = _mm512_setzero_si512(), counts = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      acc[r] = _mm512_setzero_si512();
      if (kSelectedSums)
        selected[r] = _mm512_setzero_si512();
    }
    for (int64_t j0 = g0; j0 < end; j0 += kChunk) {
      __mmask64 valid = firstBits(end - j0);
      __m512i offsets = chunkOffsets(t, row, j0);
      __m512i codes = chunkCodes<Bits, ZeroPoints>(t, row, j0, valid, zero);
      __m512i validOnes = _mm512_maskz_mov_epi8(valid, ones);
      codeSums = _mm512_dpbusd_epi32(codeSums, ones, codes);
      if (kSelectedSums)
        counts = _mm512_dpbusd_epi32(counts, ones, validOnes);
      const uint8_t *window = x + j0 / kChunk * perWindow;
#pragma GCC unroll 8
      for (int r = 0; r < Rows; ++r) {
        __m512i xs = gatherWindow<Parts>(window + r * stride, offsets);
        acc[r] = _mm512_dpbusd_epi32(acc[r], xs, codes);
        if (kSelectedSums)
          selected[r] = _mm512_dpbusd_epi32(selected[r], xs, validOnes);
      }
    }
    // Exact integer sums of the group, then its scale.
    __m512i offset = _mm512_slli_epi32(codeSums, 7);
    __m512 scale = _mm512_set1_ps(row.scales[g]);
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      __m512i sum = _mm512_sub_epi32(acc[r], offset);
      if (kSelectedSums) {
        __m512i activations = _mm512_sub_epi32(selected[r], _mm512_slli_epi32(counts, 7));
        sum = _mm512_add_epi32(
            sum, _mm512_mullo_epi32(activations, _mm512_set1_epi32(128 - int32_t(zero))));
      }
      total[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), scale, total[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r)
    p.store(r0 + r, channel, t.xq->scales[r0 + r] * _mm512_reduce_add_ps(total[r]));
}

template <int Parts, int Bits, bool ZeroPoints, int Rows = kRows>
void rows(const Pattern &t, const Row &row, int64_t channel, int64_t r0, int64_t count) {
  if constexpr (Rows > 1)
    if (count < Rows)
      return rows<Parts, Bits, ZeroPoints, Rows - 1>(t, row, channel, r0, count);
  rowsKernel<Rows, Parts, Bits, ZeroPoints>(t, row, channel, r0);
}

template <int Parts, int Bits, bool ZeroPoints>
void product(const Weight &w, const Activations &xq, const Product &p) {
  Pattern t(w, xq, p);
  int64_t blocks = (w.n + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t c = b * kChannelBlock; c < std::min(w.n, (b + 1) * kChannelBlock); ++c) {
      Row row{w.valueRow(c), w.indexRow(c), w.scaleRow(c), w.zeroRow(c)};
      for (int64_t r0 = 0; r0 < p.m; r0 += kRows)
        rows<Parts, Bits, ZeroPoints>(t, row, c, r0, std::min<int64_t>(kRows, p.m - r0));
    }
}

template <int Parts>
void productOfParts(const Weight &w, const Activations &xq, const Product &p) {
  bool zeroPoints = w.zeros != nullptr;
  if (w.bits == 8)
    return zeroPoints ? product<Parts, 8, true>(w, xq, p) : product<Parts, 8, false>(w, xq, p);
  zeroPoints ? product<Parts, 4, true>(w, xq, p) : product<Parts, 4, false>(w, xq, p);
}

} // namespace

bool sparse_linear::integerNmSupported(const Weight &w) {
  // A chunk spans whole blocks, at most 256 columns, and one group.
  return w.nm() && (w.bits == 8 || w.bits == 4) && w.stored > 0 && kChunk % w.keep == 0 &&
         kChunk / w.keep * w.block <= 256 && (w.group % kChunk == 0 || w.group >= w.stored) &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vnni");
}

void sparse_linear::integerNmProduct(const Weight &w, const Product &p) {
  QuantizedActivations quantized;
  quantizeActivations(p.x, p.m, w.k, p.xStride, w.k, quantized);
  Activations xq;
  xq.stride = (w.k + 63) / 64 * 64 + kWindowSlack;
  xq.bytes.assign(p.m * xq.stride, 128); // slack: any value; 128 stands for 0
  for (int64_t r = 0; r < p.m; ++r)
    for (int64_t c = 0; c < w.k; ++c)
      xq.bytes[r * xq.stride + c] = uint8_t(quantized.values[r * w.k + c] + 128);
  xq.scales = std::move(quantized.scales);
  if (kChunk / w.keep * w.block <= 128)
    productOfParts<2>(w, xq, p);
  else
    productOfParts<4>(w, xq, p);
}
