// Quantized linear kernels over the tiled weight layout (QuantizedLayout.h):
// out[M, N] += x[M, K] * deq(W)^T, the weight read once per block of rows
// and never written out in float.
//
// Two kernels, chosen per call by the number of rows:
//   - integer: activations quantized per row to int8, products by VNNI
//     (vpdpbusd: 64 byte products per instruction); each lane accumulates
//     one output channel, so there are no horizontal sums. The weight's
//     codes go in as unsigned bytes (u = q + offset: 2^(bits-1) when
//     symmetric, else the code itself with the zero point as offset) and
//     the offset comes out per group as offset * sum(x_q);
//   - float: codes widened to float in registers and multiplied with float
//     activations (weight-only semantics exactly).
// Both process 16 output channels per register, a few rows at a time, and
// apply each group's scale once per group.
#include "lib/runtime/cpu/ActivationQuantization.h"
#include "lib/runtime/cpu/Contraction.h"
#include "lib/runtime/cpu/QuantizedLayout.h"

#include <oneapi/dnnl/dnnl.h>

#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <vector>

using namespace compress;
using namespace compress::quantized_layout;

namespace {

struct Problem {
  int64_t m, n, k;
  const float *x;
  int64_t xStride;
  const uint8_t *tiles;
  const float *scales;        // [n / 16, groups, 16]
  const uint8_t *zeroPoints;  // [n / 16, groups, 16], or null when symmetric
  float *out;
  int64_t outStride;
  int64_t bits, group;
  bool accumulate; // add to out, or overwrite it

  int64_t groups() const { return k / group; }
  int64_t depth() const { return featuresPerLane(bits); }
  const uint8_t *tileBlock(int64_t nb) const { return tiles + nb * (k / depth()) * kTileBytes; }
  int64_t table(int64_t nb, int64_t g) const { return (nb * groups() + g) * kTileChannels; }
  /// The offset taken off every code: zero points, or half the range.
  float symmetricOffset() const { return float(1 << (bits - 1)); }
};

#define COMPRESS_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define COMPRESS_AVX512 __attribute__((target("avx512f,avx512bw")))
// GCC's partial redundancy elimination gives the integer kernel's
// accumulators second live ranges, and a register copy per dot product
// (the loop 2x longer, measured 35% slower at 128 rows).
#if defined(__GNUC__) && !defined(__clang__)
#define COMPRESS_NO_TREE_PRE __attribute__((optimize("no-tree-pre")))
#else
#define COMPRESS_NO_TREE_PRE
#endif

/// Four int8 activations as one 32-bit lane value.
inline int32_t fourBytes(const int8_t *at) {
  int32_t value;
  __builtin_memcpy(&value, at, sizeof(value));
  return value;
}

/// The 16 offsets of tile block `nb` for group `g`, as floats.
COMPRESS_AVX512 inline __m512 groupOffsets(const Problem &p, int64_t nb, int64_t g) {
  if (!p.zeroPoints)
    return _mm512_set1_ps(p.symmetricOffset());
  __m128i zeros = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p.zeroPoints + p.table(nb, g)));
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(zeros));
}

/// Where the integer kernel adds the float sums of its groups when they do
/// not stay in registers: [rows, stride] per thread, 16 * Blocks channels
/// of each row used.
struct IntegerTotals {
  float *sums;
  int64_t stride;
};

/// Integer kernel for `Rows` rows from `row0` and `Blocks` tile blocks from
/// `nb0` (16 channels each), over all of K. Packed: two codes per byte.
/// RegisterTotals: the float sums of the groups stay in registers and the
/// kernel writes the result to `out`; otherwise it adds them to `totals`
/// and the caller finishes the result.
template <int Rows, int Blocks, bool Packed, bool RegisterTotals>
COMPRESS_AVX512_VNNI COMPRESS_NO_TREE_PRE void
integerKernel(const Problem &p, const QuantizedActivations &xq, int64_t row0, int64_t nb0,
              const IntegerTotals &totals) {
  const int64_t depth = Packed ? 8 : 4, groups = p.groups();
  // Symmetric codes are two's complement: flipping the sign bit adds
  // 2^(bits-1), giving the unsigned u vpdpbusd needs.
  const uint8_t sign = uint8_t(1u << (p.bits - 1));
  const __m512i flip = _mm512_set1_epi8(p.zeroPoints ? 0 : Packed ? sign | sign << 4 : sign);
  const __m512i lowNibbles = _mm512_set1_epi8(0x0F);
  const uint8_t *blocks[Blocks];
#pragma GCC unroll 4
  for (int b = 0; b < Blocks; ++b)
    blocks[b] = p.tileBlock(nb0 + b);
  const int8_t *x = xq.values.data() + row0 * p.k;
  __m512 total[Rows][Blocks];
  if (RegisterTotals)
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
      for (int b = 0; b < Blocks; ++b)
        total[r][b] = _mm512_setzero_ps();

  for (int64_t g = 0; g < groups; ++g) {
    __m512i acc[Rows][Blocks];
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
      for (int b = 0; b < Blocks; ++b)
        acc[r][b] = _mm512_setzero_si512();
    for (int64_t kb = g * p.group / depth; kb < (g + 1) * p.group / depth; ++kb) {
      __m512i low[Blocks], high[Blocks];
#pragma GCC unroll 4
      for (int b = 0; b < Blocks; ++b) {
        __m512i bytes = _mm512_xor_si512(_mm512_loadu_si512(blocks[b] + kb * kTileBytes), flip);
        if (Packed) {
          low[b] = _mm512_and_si512(bytes, lowNibbles);
          high[b] = _mm512_and_si512(_mm512_srli_epi16(bytes, 4), lowNibbles);
        } else {
          low[b] = bytes;
        }
      }
      const int8_t *features = x + kb * depth;
#pragma GCC unroll 16
      for (int r = 0; r < Rows; ++r) {
        __m512i first = _mm512_set1_epi32(fourBytes(features + r * p.k));
#pragma GCC unroll 4
        for (int b = 0; b < Blocks; ++b)
          acc[r][b] = _mm512_dpbusd_epi32(acc[r][b], low[b], first);
        if (Packed) {
          __m512i second = _mm512_set1_epi32(fourBytes(features + r * p.k + 4));
#pragma GCC unroll 4
          for (int b = 0; b < Blocks; ++b)
            acc[r][b] = _mm512_dpbusd_epi32(acc[r][b], high[b], second);
        }
      }
    }
#pragma GCC unroll 4
    for (int b = 0; b < Blocks; ++b) {
      __m512 scale = _mm512_loadu_ps(p.scales + p.table(nb0 + b, g));
      __m512 offset = groupOffsets(p, nb0 + b, g);
#pragma GCC unroll 16
      for (int r = 0; r < Rows; ++r) {
        __m512 sum = _mm512_set1_ps(float(xq.groupSums[(row0 + r) * groups + g]));
        __m512 centred = _mm512_fnmadd_ps(offset, sum, _mm512_cvtepi32_ps(acc[r][b]));
        if (RegisterTotals) {
          total[r][b] = _mm512_fmadd_ps(scale, centred, total[r][b]);
        } else {
          float *sums = totals.sums + (row0 + r) * totals.stride + b * kTileChannels;
          _mm512_storeu_ps(sums, _mm512_fmadd_ps(scale, centred, _mm512_loadu_ps(sums)));
        }
      }
    }
  }
  if (RegisterTotals)
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r) {
      __m512 rowScale = _mm512_set1_ps(xq.scales[row0 + r]);
#pragma GCC unroll 4
      for (int b = 0; b < Blocks; ++b) {
        float *out = p.out + (row0 + r) * p.outStride + (nb0 + b) * kTileChannels;
        __m512 prior = p.accumulate ? _mm512_loadu_ps(out) : _mm512_setzero_ps();
        _mm512_storeu_ps(out, _mm512_fmadd_ps(rowScale, total[r][b], prior));
      }
    }
}

/// Turns the codes of a tile into float values, code j of every lane at a
/// time: packed codes (16 possible) through a 16-entry table (vpermps takes
/// the low 4 bits of each lane as the index, so a shift brings each code
/// into place), wider ones by shifts and a conversion. Symmetric codes map
/// to their signed values; unsigned ones stay as they are.
template <bool Packed>
struct CodeDecoder {
  static constexpr int kWidth = Packed ? 4 : 8;
  __m512 codeValues;
  __m512i signShift;
  int bits;
  bool symmetric;

  COMPRESS_AVX512 explicit CodeDecoder(const Problem &p)
      : bits(int(p.bits)), symmetric(!p.zeroPoints) {
    const int32_t sign = 1 << (bits - 1);
    alignas(64) float table[16];
    for (int32_t code = 0; code < 16; ++code)
      table[code] = float(symmetric ? ((code ^ sign) - sign) : code);
    codeValues = _mm512_load_ps(table);
    signShift = _mm512_set1_epi32(32 - bits);
  }

  /// Code j of each lane (feature order: see QuantizedLayout.h) sits at bit
  /// 8 * (j % 4) + width * (j / 4).
  COMPRESS_AVX512 __m512 decode(__m512i lanes, int j) const {
    const int at = 8 * (j % 4) + kWidth * (j / 4);
    if (Packed)
      return _mm512_permutexvar_ps(_mm512_srli_epi32(lanes, at), codeValues);
    __m512i code = _mm512_sllv_epi32(lanes, _mm512_set1_epi32(32 - bits - at));
    code = symmetric ? _mm512_srav_epi32(code, signShift) : _mm512_srlv_epi32(code, signShift);
    return _mm512_cvtepi32_ps(code);
  }
};

/// Float kernel for `Rows` rows from `row0` and tile block `nb`: codes
/// become floats in registers (CodeDecoder); zero points come out per group
/// as zero * sum(x).
template <int Rows, bool Packed>
COMPRESS_AVX512 void floatKernel(const Problem &p, const float *x, int64_t xStride,
                                 const float *groupSums, int64_t row0, int64_t nb) {
  const int64_t depth = Packed ? 8 : 4, perGroup = p.group / depth, groups = p.groups();
  const bool symmetric = !p.zeroPoints;
  const CodeDecoder<Packed> decoder(p);
  const uint8_t *tiles = p.tileBlock(nb);
  __m512 total[Rows];
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r)
    total[r] = _mm512_setzero_ps();
  // Independent sums per row (fused multiply-adds take 4 cycles each: one
  // chain per row would stall a single row).
  constexpr int kChains = Rows >= 4 ? 1 : 4 / Rows;
  for (int64_t g = 0; g < groups; ++g) {
    __m512 acc[Rows][kChains];
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
      for (int c = 0; c < kChains; ++c)
        acc[r][c] = _mm512_setzero_ps();
    for (int64_t kb = g * perGroup; kb < (g + 1) * perGroup; ++kb) {
      __m512i lanes = _mm512_loadu_si512(tiles + kb * kTileBytes);
#pragma GCC unroll 8
      for (int j = 0; j < (Packed ? 8 : 4); ++j) {
        __m512 w = decoder.decode(lanes, j);
        int64_t feature = kb * depth + (j % 4) + (Packed ? 4 * (j / 4) : 0);
#pragma GCC unroll 8
        for (int r = 0; r < Rows; ++r)
          acc[r][j % kChains] = _mm512_fmadd_ps(
              w, _mm512_set1_ps(x[(row0 + r) * xStride + feature]), acc[r][j % kChains]);
      }
    }
    __m512 sums[Rows];
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      sums[r] = acc[r][0];
#pragma GCC unroll 4
      for (int c = 1; c < kChains; ++c)
        sums[r] = _mm512_add_ps(sums[r], acc[r][c]);
    }
    __m512 scale = _mm512_loadu_ps(p.scales + p.table(nb, g));
    if (symmetric) {
#pragma GCC unroll 8
      for (int r = 0; r < Rows; ++r)
        total[r] = _mm512_fmadd_ps(scale, sums[r], total[r]);
      continue;
    }
    __m512 offset = groupOffsets(p, nb, g);
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      __m512 sum = _mm512_set1_ps(groupSums[(row0 + r) * groups + g]);
      total[r] = _mm512_fmadd_ps(scale, _mm512_fnmadd_ps(offset, sum, sums[r]), total[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) {
    float *out = p.out + (row0 + r) * p.outStride + nb * kTileChannels;
    _mm512_storeu_ps(out, p.accumulate ? _mm512_add_ps(total[r], _mm512_loadu_ps(out)) : total[r]);
  }
}

/// Writes the dequantised weights of tile block `nb` as columns
/// [column0, column0 + 16) of `dst` ([k, columns] row-major: W^T), for a
/// product by a library GEMM.
template <bool Packed>
COMPRESS_AVX512 void dequantizeTileBlock(const Problem &p, int64_t nb, float *dst,
                                         int64_t columns, int64_t column0) {
  const int64_t depth = Packed ? 8 : 4, perGroup = p.group / depth;
  const bool symmetric = !p.zeroPoints;
  const CodeDecoder<Packed> decoder(p);
  const uint8_t *tiles = p.tileBlock(nb);
  for (int64_t g = 0; g < p.groups(); ++g) {
    __m512 scale = _mm512_loadu_ps(p.scales + p.table(nb, g));
    __m512 offset = symmetric ? _mm512_setzero_ps() : groupOffsets(p, nb, g);
    for (int64_t kb = g * perGroup; kb < (g + 1) * perGroup; ++kb) {
      __m512i lanes = _mm512_loadu_si512(tiles + kb * kTileBytes);
#pragma GCC unroll 8
      for (int j = 0; j < (Packed ? 8 : 4); ++j) {
        __m512 w = decoder.decode(lanes, j);
        int64_t feature = kb * depth + (j % 4) + (Packed ? 4 * (j / 4) : 0);
        _mm512_storeu_ps(dst + feature * columns + column0,
                         _mm512_mul_ps(_mm512_sub_ps(w, offset), scale));
      }
    }
  }
}

/// Many rows of float activations: blocks of output channels dequantised
/// per thread into a buffer, multiplied by oneDNN's sgemm (which beats
/// in-register dequantisation once the buffer is reused by enough rows).
template <bool Packed>
void dequantizedProduct(const Problem &p, const float *x, int64_t xStride) {
  constexpr int64_t kBlocksPerCall = 8; // 128 channels per sgemm call
  int64_t blocks = p.n / kTileChannels;
  int64_t calls = (blocks + kBlocksPerCall - 1) / kBlocksPerCall;
#pragma omp parallel
  {
    std::vector<float> buffer(p.k * kBlocksPerCall * kTileChannels);
#pragma omp for schedule(static)
    for (int64_t call = 0; call < calls; ++call) {
      int64_t first = call * kBlocksPerCall;
      int64_t count = std::min(kBlocksPerCall, blocks - first);
      int64_t columns = count * kTileChannels;
      for (int64_t b = 0; b < count; ++b)
        dequantizeTileBlock<Packed>(p, first + b, buffer.data(), columns, b * kTileChannels);
      // oneDNN runs sequentially inside this parallel region.
      dnnl_sgemm('N', 'N', p.m, columns, p.k, 1.0f, x, xStride, buffer.data(), columns,
                 p.accumulate ? 1.0f : 0.0f, p.out + first * kTileChannels, p.outStride);
    }
  }
}

/// The integer product's blocking, by code width (measured on 4096 x 11008
/// and 11008 x 4096 at 16 and 128 rows). Rows: rows of the register block,
/// whose int32 accumulators (Rows x 2 tile blocks) leave registers for the
/// tiles and constants. Byte codes: 8 rows with the float sums in memory
/// (10 rows: no faster; 12: slower). Packed codes: 6 rows with the sums in
/// registers (5% faster than in memory); unpacking nibbles already gives
/// each loaded byte two uses. Every call goes over all of K: cutting K into
/// chunks whose weights stay in L1 (1024 or 2048 features) measured 3-7%
/// slower at 128 rows and up to 25% at 16.
template <bool Packed>
struct IntegerBlocking {
  static constexpr int kRows = Packed ? 6 : 8;
  static constexpr bool kRegisterTotals = Packed;
};
constexpr int kFloatRows = 4;
/// From this many rows, float activations go through dequantisation into a
/// buffer and sgemm (measured on 4096 x 11008: at 16 rows the in-register
/// kernel is twice as fast, at 128 the sgemm one 1.4x).
constexpr int64_t kDequantizedProductRows = 48;

template <int Blocks, bool Packed, int Rows = IntegerBlocking<Packed>::kRows>
void integerRows(const Problem &p, const QuantizedActivations &xq, int64_t row0, int64_t rows,
                 int64_t nb, const IntegerTotals &totals) {
  if constexpr (Rows > 1)
    if (rows < Rows)
      return integerRows<Blocks, Packed, Rows - 1>(p, xq, row0, rows, nb, totals);
  integerKernel<Rows, Blocks, Packed, IntegerBlocking<Packed>::kRegisterTotals>(p, xq, row0, nb,
                                                                              totals);
}

template <bool Packed>
void integerProduct(const Problem &p, const QuantizedActivations &xq) {
  // Pairs of tile blocks share each activation broadcast.
  int64_t blocks = p.n / kTileChannels, pairs = (blocks + 1) / 2;
  const int64_t stride = 2 * kTileChannels;
  constexpr bool registerTotals = IntegerBlocking<Packed>::kRegisterTotals;
  const int64_t rowBlock = IntegerBlocking<Packed>::kRows;
#pragma omp parallel
  {
    std::vector<float> sums(registerTotals ? 0 : p.m * stride);
    IntegerTotals totals{sums.data(), stride};
#pragma omp for schedule(static)
    for (int64_t pair = 0; pair < pairs; ++pair) {
      int64_t nb = 2 * pair;
      std::fill(sums.begin(), sums.end(), 0.0f);
      for (int64_t row = 0; row < p.m; row += rowBlock) {
        int64_t rows = std::min<int64_t>(rowBlock, p.m - row);
        if (nb + 1 < blocks)
          integerRows<2, Packed>(p, xq, row, rows, nb, totals);
        else
          integerRows<1, Packed>(p, xq, row, rows, nb, totals);
      }
      if (registerTotals)
        continue;
      int64_t channels = std::min<int64_t>(stride, p.n - nb * kTileChannels);
      for (int64_t row = 0; row < p.m; ++row) {
        float *out = p.out + row * p.outStride + nb * kTileChannels;
        for (int64_t c = 0; c < channels; ++c)
          out[c] = xq.scales[row] * sums[row * stride + c] + (p.accumulate ? out[c] : 0.0f);
      }
    }
  }
}

template <bool Packed>
void floatRows(const Problem &p, const float *x, int64_t xStride, const float *sums,
               int64_t row0, int64_t rows, int64_t nb) {
  switch (rows) {
  case 1: return floatKernel<1, Packed>(p, x, xStride, sums, row0, nb);
  case 2: return floatKernel<2, Packed>(p, x, xStride, sums, row0, nb);
  case 3: return floatKernel<3, Packed>(p, x, xStride, sums, row0, nb);
  default: return floatKernel<4, Packed>(p, x, xStride, sums, row0, nb);
  }
}

template <bool Packed>
void floatProduct(const Problem &p, const float *x, int64_t xStride) {
  // Per-group sums of x take the zero points out of the inner loop.
  std::vector<float> sums;
  if (p.zeroPoints) {
    sums.assign(p.m * p.groups(), 0.0f);
    for (int64_t r = 0; r < p.m; ++r)
      for (int64_t c = 0; c < p.k; ++c)
        sums[r * p.groups() + c / p.group] += x[r * xStride + c];
  }
#pragma omp parallel for schedule(static)
  for (int64_t nb = 0; nb < p.n / kTileChannels; ++nb)
    for (int64_t row = 0; row < p.m; row += kFloatRows)
      floatRows<Packed>(p, x, xStride, sums.data(), row,
                        std::min<int64_t>(kFloatRows, p.m - row), nb);
}

/// Any CPU: dequantise element by element (correct, not fast).
void portableProduct(const Problem &p, const float *x, int64_t xStride) {
  const bool symmetric = !p.zeroPoints;
  const int32_t sign = 1 << (p.bits - 1);
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < p.n; ++row) {
    int64_t nb = row / kTileChannels, c = row % kTileChannels;
    for (int64_t i = 0; i < p.m; ++i) {
      float acc = 0;
      for (int64_t g = 0; g < p.groups(); ++g) {
        float sum = 0;
        int32_t offset = symmetric ? 0 : p.zeroPoints[p.table(nb, g) + c];
        for (int64_t col = g * p.group; col < (g + 1) * p.group; ++col) {
          int32_t code = tiledValue(p.tiles, p.k, p.bits, row, col);
          int32_t value = symmetric ? (code ^ sign) - sign : code - offset;
          sum += float(value) * x[i * xStride + col];
        }
        acc += sum * p.scales[p.table(nb, g) + c];
      }
      float &result = p.out[i * p.outStride + row];
      result = p.accumulate ? result + acc : acc;
    }
  }
}

} // namespace

extern "C" void compress_rt_quantized_linear_tiled_f32(int64_t m, int64_t n, int64_t k, int64_t x,
                                                       int64_t xStride, int64_t tiles,
                                                       int64_t scales, int64_t zeros,
                                                       int64_t out, int64_t outStride,
                                                       int64_t bits, int64_t group,
                                                       int64_t int8Activations,
                                                       int64_t accumulate) {
  Problem p{m,
            n,
            k,
            reinterpret_cast<const float *>(x),
            xStride,
            reinterpret_cast<const uint8_t *>(tiles),
            reinterpret_cast<const float *>(scales),
            reinterpret_cast<const uint8_t *>(zeros),
            reinterpret_cast<float *>(out),
            outStride,
            bits,
            group,
            accumulate != 0};
  if (m <= 0)
    return;
  bool packed = bits <= 4;
  if (int8Activations && __builtin_cpu_supports("avx512vnni") &&
      __builtin_cpu_supports("avx512bw")) {
    QuantizedActivations xq;
    quantizeActivations(p.x, m, k, xStride, group, xq);
    packed ? integerProduct<true>(p, xq) : integerProduct<false>(p, xq);
    return;
  }
  // Without VNNI, int8 activations are quantized and dequantised again, so
  // every CPU computes the same products.
  std::vector<float> dequantized;
  const float *input = p.x;
  int64_t inputStride = xStride;
  if (int8Activations) {
    fakeQuantizeActivations(p.x, m, k, xStride, dequantized);
    input = dequantized.data();
    inputStride = k;
  }
  if (!__builtin_cpu_supports("avx512bw"))
    portableProduct(p, input, inputStride);
  else if (m >= kDequantizedProductRows)
    packed ? dequantizedProduct<true>(p, input, inputStride)
           : dequantizedProduct<false>(p, input, inputStride);
  else
    packed ? floatProduct<true>(p, input, inputStride) : floatProduct<false>(p, input, inputStride);
}
