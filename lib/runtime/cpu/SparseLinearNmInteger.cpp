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
//
// K goes in slices whose activations stay in L1 while a block of rows of W
// reads them; a group's integer sums become float (times its scale) at the
// group's end or the slice's, whichever comes first.
#include "lib/runtime/cpu/ActivationQuantization.h"
#include "lib/runtime/cpu/SparseLinearKernels.h"

#include <immintrin.h>

#include <algorithm>
#include <numeric>
#include <vector>

using namespace compress;
using namespace compress::sparse_linear;

namespace {

#define COMPRESS_AVX512_VBMI_VNNI                                                            \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,avx512vnni")))

// GCC's partial redundancy elimination gives the accumulators second live
// ranges and a register copy per dot product (as in TiledQuantizedLinear.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#define COMPRESS_NO_TREE_PRE __attribute__((optimize("no-tree-pre")))
#else
#define COMPRESS_NO_TREE_PRE
#endif

constexpr int64_t kChunk = 64;
/// Rows of x per pass over a row of W (int32 and float sums of each in
/// registers).
constexpr int kRows = 8;
/// Bytes past the end of a row of activations that a window may read.
constexpr int64_t kWindowSlack = 256;

/// The activations as unsigned bytes (q + 128), rows `stride` apart and
/// padded so that windows never leave them, and the scale of each row.
struct Activations {
  LineAligned<uint8_t> bytes;
  std::vector<float> scales;
  int64_t stride;
};

/// What every chunk of the product shares.
struct Pattern {
  int64_t keep, block, indexBits, indexRowBytes, group, valueRowBytes;
  const Activations *xq;
  alignas(64) uint8_t base[kChunk]; // column of each byte's block in the window

  Pattern(const Weight &w, const Activations &activations)
      : keep(w.keep), block(w.block), indexBits(w.indexBits()), indexRowBytes(w.indexRowBytes()),
        group(w.group), valueRowBytes(w.valueRowBytes()), xq(&activations) {
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
/// Plain: a full chunk, read without masks.
template <bool Plain>
COMPRESS_AVX512_VBMI_VNNI inline __m512i chunkOffsets(const Pattern &t, const Row &row,
                                                      int64_t j0) {
  int64_t ib = t.indexBits, at = j0 * ib / 8;
  __mmask64 present = Plain ? ~__mmask64(0) : firstBits(t.indexRowBytes - at);
  __m512i packed, shifts, mask;
  if (ib == 2) {
    // 16 bytes; quadword q reads bits 16q.. of the 128: source quadword q / 4.
    __m128i bytes = Plain ? _mm_loadu_si128(reinterpret_cast<const __m128i *>(row.indices + at))
                          : _mm_maskz_loadu_epi8(__mmask16(present), row.indices + at);
    packed = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 0, 0, 0, 1, 1, 1, 1),
                                      _mm512_zextsi128_si512(bytes));
    shifts = _mm512_set1_epi64(0x0E0C0A0806040200);
    shifts = _mm512_add_epi8(shifts, _mm512_setr_epi64(0, 0x1010101010101010,
                                                       0x2020202020202020, 0x3030303030303030,
                                                       0, 0x1010101010101010,
                                                       0x2020202020202020, 0x3030303030303030));
    mask = _mm512_set1_epi8(3);
  } else {
    // 32 bytes; quadword q reads bits 32q.. of the 256: source quadword q / 2.
    __m256i bytes = Plain
                        ? _mm256_loadu_si256(reinterpret_cast<const __m256i *>(row.indices + at))
                        : _mm256_maskz_loadu_epi8(__mmask32(present), row.indices + at);
    packed = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 0, 1, 1, 2, 2, 3, 3),
                                      _mm512_zextsi256_si512(bytes));
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
template <int Bits, bool ZeroPoints, bool Plain>
COMPRESS_AVX512_VBMI_VNNI inline __m512i chunkCodes(const Pattern &t, const Row &row, int64_t j0,
                                                    __mmask64 valid, uint8_t zero) {
  __m512i codes;
  if constexpr (Bits == 8) {
    codes = Plain ? _mm512_loadu_si512(row.codes + j0)
                  : _mm512_maskz_loadu_epi8(valid, row.codes + j0);
    if (ZeroPoints)
      codes = _mm512_xor_si512(codes, _mm512_set1_epi8(char(0x80)));
  } else {
    // Word w holds entries 2w (low nibble) and 2w + 1 (high): w | w << 4
    // brings the high nibble to the word's second byte.
    const uint8_t *at = row.codes + j0 / 2;
    __m256i bytes = Plain ? _mm256_loadu_si256(reinterpret_cast<const __m256i *>(at))
                          : _mm256_maskz_loadu_epi8(
                                __mmask32(firstBits(t.valueRowBytes - j0 / 2)), at);
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
  return Plain ? codes : _mm512_maskz_mov_epi8(valid, codes);
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

/// One chunk into the sums of a group (sliceKernel's): acc[r] += its
/// products with row r, codeSums += its codes, and for 8-bit codes with
/// zero points selected[r] += the activations it gathers, counts += 1 per
/// entry. Plain: a full chunk.
template <int Rows, int Parts, int Bits, bool ZeroPoints, bool Plain>
COMPRESS_AVX512_VBMI_VNNI inline void
multiplyChunk(const Pattern &t, const Row &row, int64_t j0, int64_t end, uint8_t zero,
              const uint8_t *x, __m512i (&acc)[Rows],
              __m512i (&selected)[ZeroPoints && Bits == 8 ? Rows : 1], __m512i &codeSums,
              __m512i &counts) {
  constexpr bool kSelectedSums = ZeroPoints && Bits == 8;
  const __m512i ones = _mm512_set1_epi8(1);
  __mmask64 valid = Plain ? ~__mmask64(0) : firstBits(end - j0);
  __m512i offsets = chunkOffsets<Plain>(t, row, j0);
  __m512i codes = chunkCodes<Bits, ZeroPoints, Plain>(t, row, j0, valid, zero);
  __m512i validOnes = Plain ? ones : _mm512_maskz_mov_epi8(valid, ones);
  codeSums = _mm512_dpbusd_epi32(codeSums, ones, codes);
  if (kSelectedSums)
    counts = _mm512_dpbusd_epi32(counts, ones, validOnes);
  const uint8_t *window = x + j0 / kChunk * (kChunk / t.keep * t.block);
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) {
    __m512i xs = gatherWindow<Parts>(window + r * t.xq->stride, offsets);
    acc[r] = _mm512_dpbusd_epi32(acc[r], xs, codes);
    if (kSelectedSums)
      selected[r] = _mm512_dpbusd_epi32(selected[r], xs, validOnes);
  }
}

/// totals[r] += the products of entries [begin, end) of a row of W (begin
/// a multiple of 64) with row r of the activations from `x`, a group (or
/// the part of one in the slice) at a time: a group's exact integer sum,
/// then its scale.
template <int Rows, int Parts, int Bits, bool ZeroPoints>
COMPRESS_AVX512_VBMI_VNNI COMPRESS_NO_TREE_PRE void
sliceKernel(const Pattern &t, const Row &row, int64_t begin, int64_t end, const uint8_t *x,
            float *totals) {
  // 8-bit codes with zero points also sum the gathered activations.
  constexpr bool kSelectedSums = ZeroPoints && Bits == 8;
  __m512 total[Rows];
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r)
    total[r] = _mm512_loadu_ps(totals + 16 * r);
  for (int64_t g0 = begin; g0 < end;) {
    int64_t g = g0 / t.group, g1 = std::min(end, (g + 1) * t.group);
    uint8_t zero = ZeroPoints ? row.zeros[g] : 0;
    __m512i acc[Rows], selected[kSelectedSums ? Rows : 1];
    __m512i codeSums = _mm512_setzero_si512(), counts = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      acc[r] = _mm512_setzero_si512();
      if (kSelectedSums)
        selected[r] = _mm512_setzero_si512();
    }
    for (int64_t j0 = g0; j0 < g1; j0 += kChunk) {
      if (j0 + kChunk <= g1)
        multiplyChunk<Rows, Parts, Bits, ZeroPoints, true>(t, row, j0, g1, zero, x, acc,
                                                           selected, codeSums, counts);
      else
        multiplyChunk<Rows, Parts, Bits, ZeroPoints, false>(t, row, j0, g1, zero, x, acc,
                                                            selected, codeSums, counts);
    }
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
    g0 = g1;
  }
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r)
    _mm512_storeu_ps(totals + 16 * r, total[r]);
}

template <int Parts, int Bits, bool ZeroPoints, int Rows = kRows>
void slice(const Pattern &t, const Row &row, int64_t begin, int64_t end, const uint8_t *x,
           float *totals, int64_t rows) {
  if constexpr (Rows > 1)
    if (rows < Rows)
      return slice<Parts, Bits, ZeroPoints, Rows - 1>(t, row, begin, end, x, totals, rows);
  sliceKernel<Rows, Parts, Bits, ZeroPoints>(t, row, begin, end, x, totals);
}

template <int Parts, int Bits, bool ZeroPoints>
void product(const Weight &w, const Activations &xq, const Product &p) {
  Pattern t(w, xq);
  // Slices of whole chunks whose activations (bytes) fill kSliceBytes.
  int64_t window = kChunk / w.keep * w.block;
  int64_t passRows = std::min<int64_t>(p.m, kRows);
  int64_t sliceColumns = std::max(window, kSliceBytes / passRows / window * window);
  int64_t sliceEntries = sliceColumns / w.block * w.keep;
  int64_t blocks = (w.n + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel
  {
    // The float sums of a block of rows of W: [channel][row][16 lanes].
    std::vector<float> totals(kChannelBlock * kRows * 16);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      int64_t c0 = b * kChannelBlock, c1 = std::min(w.n, c0 + kChannelBlock);
      for (int64_t r0 = 0; r0 < p.m; r0 += kRows) {
        int64_t rows = std::min<int64_t>(kRows, p.m - r0);
        std::fill(totals.begin(), totals.end(), 0.0f);
        for (int64_t begin = 0; begin < w.stored; begin += sliceEntries)
          for (int64_t c = c0; c < c1; ++c) {
            int64_t end = std::min(w.stored, begin + sliceEntries);
            if (sliceEntries < w.stored) // rows read in one slice stream by themselves
              prefetchSlice(w, c, end, end + sliceEntries);
            Row row{w.valueRow(c), w.indexRow(c), w.scaleRow(c), w.zeroRow(c)};
            slice<Parts, Bits, ZeroPoints>(t, row, begin, end,
                                           xq.bytes.data() + r0 * xq.stride,
                                           &totals[(c - c0) * kRows * 16], rows);
          }
        for (int64_t c = c0; c < c1; ++c)
          for (int64_t r = 0; r < rows; ++r) {
            const float *lanes = &totals[((c - c0) * kRows + r) * 16];
            p.store(r0 + r, c, xq.scales[r0 + r] * std::accumulate(lanes, lanes + 16, 0.0f));
          }
      }
    }
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
      xq.bytes.data()[r * xq.stride + c] = uint8_t(quantized.values[r * w.k + c] + 128);
  xq.scales = std::move(quantized.scales);
  if (kChunk / w.keep * w.block <= 128)
    productOfParts<2>(w, xq, p);
  else
    productOfParts<4>(w, xq, p);
}
