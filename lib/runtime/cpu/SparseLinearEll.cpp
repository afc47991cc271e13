// Weights as lists of entries on AVX-512: ELL, and N:M weights multiplied
// by many rows. The rows of x are transposed a pass at a time, so that the
// activations of one column for all rows of the pass are one vector: each
// stored entry then costs one load and one multiply-add with its value
// broadcast, whatever its column. (Gathering the activations instead,
// vgatherdps, takes ~18 cycles for 16 on AMD Zen 4; the permutes of the
// N:M kernel cost as much as the multiply-adds they feed.) A single row
// needs no transposition: its entries are scalar multiply-adds. For N:M
// weights K goes in slices whose activations stay in L1 while a block of
// rows of W reads them.
#include "lib/runtime/cpu/SparseLinearKernels.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <vector>

using namespace compress;
using namespace compress::sparse_linear;

namespace {

#define COMPRESS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))

/// Rows of x per pass: two registers of activations per entry.
constexpr int64_t kMaxLanes = 32;
/// Independent sums per row of W: a multiply-add waits 4 cycles for the
/// one before. Entries also go four at a time through the column sources.
constexpr int kChains = 4;

/// The activations of one column for `Lanes` rows, in registers of `Width`
/// floats.
template <int Lanes>
struct Vector {
  static constexpr int kWidth = Lanes >= 16 ? 16 : Lanes;
  static constexpr int kParts = Lanes / kWidth;
};

template <int Width>
struct Register;
template <> struct Register<1> { using Type = float; };
template <> struct Register<4> { using Type = __m128; };
template <> struct Register<8> { using Type = __m256; };
template <> struct Register<16> { using Type = __m512; };

COMPRESS_AVX512 inline void setZero(float &v) { v = 0; }
COMPRESS_AVX512 inline void setZero(__m128 &v) { v = _mm_setzero_ps(); }
COMPRESS_AVX512 inline void setZero(__m256 &v) { v = _mm256_setzero_ps(); }
COMPRESS_AVX512 inline void setZero(__m512 &v) { v = _mm512_setzero_ps(); }
COMPRESS_AVX512 inline void multiplyAdd(float &acc, const float *x, float w) { acc += *x * w; }
COMPRESS_AVX512 inline void multiplyAdd(__m128 &acc, const float *x, float w) {
  acc = _mm_fmadd_ps(_mm_loadu_ps(x), _mm_set1_ps(w), acc);
}
COMPRESS_AVX512 inline void multiplyAdd(__m256 &acc, const float *x, float w) {
  acc = _mm256_fmadd_ps(_mm256_loadu_ps(x), _mm256_set1_ps(w), acc);
}
COMPRESS_AVX512 inline void multiplyAdd(__m512 &acc, const float *x, float w) {
  acc = _mm512_fmadd_ps(_mm512_loadu_ps(x), _mm512_set1_ps(w), acc);
}
COMPRESS_AVX512 inline float add(float a, float b) { return a + b; }
COMPRESS_AVX512 inline __m128 add(__m128 a, __m128 b) { return _mm_add_ps(a, b); }
COMPRESS_AVX512 inline __m256 add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
COMPRESS_AVX512 inline __m512 add(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
/// *at += v.
COMPRESS_AVX512 inline void addTo(float *at, float v) { *at += v; }
COMPRESS_AVX512 inline void addTo(float *at, __m128 v) {
  _mm_storeu_ps(at, _mm_add_ps(v, _mm_loadu_ps(at)));
}
COMPRESS_AVX512 inline void addTo(float *at, __m256 v) {
  _mm256_storeu_ps(at, _mm256_add_ps(v, _mm256_loadu_ps(at)));
}
COMPRESS_AVX512 inline void addTo(float *at, __m512 v) {
  _mm512_storeu_ps(at, _mm512_add_ps(v, _mm512_loadu_ps(at)));
}

/// Columns stored with the entries (ELL), or decoded into a buffer.
template <typename Column>
struct ListedColumns {
  const Column *columns; // entry j's at columns[j]

  COMPRESS_AVX512 int64_t operator()(int64_t j) const { return columns[j]; }
  COMPRESS_AVX512 void four(int64_t j, int64_t (&column)[4]) const {
    for (int e = 0; e < 4; ++e)
      column[e] = columns[j + e];
  }
};

/// Columns of N:M entries decoded from their packed indices as they are
/// read: `keep` a power of two (1 << shift), `IndexBits` 2 or 4.
template <int IndexBits>
struct PackedColumns {
  const uint8_t *indices;
  int shift;
  int64_t block;
  int64_t within[4]; // of entries 4i + e: the column of e's block from 4i's

  PackedColumns(const uint8_t *indices, int64_t keep, int64_t block)
      : indices(indices), shift(__builtin_ctzll(keep)), block(block) {
    for (int e = 0; e < 4; ++e)
      within[e] = (e >> shift) * block;
  }
  COMPRESS_AVX512 int64_t operator()(int64_t j) const {
    int64_t bit = j * IndexBits;
    return (j >> shift) * block + ((indices[bit / 8] >> (bit % 8)) & ((1 << IndexBits) - 1));
  }
  /// Entries j..j+3, j a multiple of 4: their fields share one load, and
  /// keep divides 4 or 4 divides keep.
  COMPRESS_AVX512 void four(int64_t j, int64_t (&column)[4]) const {
    uint32_t fields = IndexBits == 2 ? indices[j / 4]
                                     : uint32_t(indices[j / 2]) | uint32_t(indices[j / 2 + 1]) << 8;
    int64_t first = (j >> shift) * block;
    for (int e = 0; e < 4; ++e)
      column[e] = first + within[e] + ((fields >> (IndexBits * e)) & ((1 << IndexBits) - 1));
  }
};

/// sums[0 .. Lanes) += the products of entries [begin, end) (values[0] is
/// entry begin's) with the `Lanes` rows of `xT` ([k, Lanes]).
template <int Lanes, typename Columns>
COMPRESS_AVX512 void listKernel(const Columns &columns, const float *values, int64_t begin,
                                int64_t end, const float *xT, float *sums) {
  constexpr int kWidth = Vector<Lanes>::kWidth, kParts = Vector<Lanes>::kParts;
  using V = typename Register<kWidth>::Type;
  V acc[kChains][kParts];
#pragma GCC unroll 4
  for (int c = 0; c < kChains; ++c)
#pragma GCC unroll 2
    for (int part = 0; part < kParts; ++part)
      setZero(acc[c][part]);
  int64_t j = begin;
  // Packed columns come four at a time from a multiple of 4.
  for (; j < end && j % kChains; ++j)
#pragma GCC unroll 2
    for (int part = 0; part < kParts; ++part)
      multiplyAdd(acc[0][part], xT + columns(j) * Lanes + part * kWidth, values[j - begin]);
  for (; j + kChains <= end; j += kChains) {
    int64_t column[kChains];
    columns.four(j, column);
#pragma GCC unroll 4
    for (int c = 0; c < kChains; ++c)
#pragma GCC unroll 2
      for (int part = 0; part < kParts; ++part)
        multiplyAdd(acc[c][part], xT + column[c] * Lanes + part * kWidth, values[j - begin + c]);
  }
  for (; j < end; ++j)
#pragma GCC unroll 2
    for (int part = 0; part < kParts; ++part)
      multiplyAdd(acc[0][part], xT + columns(j) * Lanes + part * kWidth, values[j - begin]);
#pragma GCC unroll 2
  for (int part = 0; part < kParts; ++part)
    addTo(sums + part * kWidth,
          add(add(acc[0][part], acc[1][part]), add(acc[2][part], acc[3][part])));
}

/// A pass: rows [r0, r0 + rows) of x, `lanes` of them wide (the rest 0).
struct Pass {
  int64_t r0, rows, lanes;
  const float *xT; // [k, lanes], or the row of x itself when lanes is 1
};

template <typename Columns>
void passKernel(const Pass &pass, const Columns &columns, const float *values, int64_t begin,
                int64_t end, float *sums) {
  switch (pass.lanes) {
  case 1: return listKernel<1>(columns, values, begin, end, pass.xT, sums);
  case 4: return listKernel<4>(columns, values, begin, end, pass.xT, sums);
  case 8: return listKernel<8>(columns, values, begin, end, pass.xT, sums);
  case 16: return listKernel<16>(columns, values, begin, end, pass.xT, sums);
  default: return listKernel<kMaxLanes>(columns, values, begin, end, pass.xT, sums);
  }
}

/// Passes of kMaxLanes rows, the last one as narrow as its rows allow, and
/// their transposed activations.
std::vector<Pass> planPasses(const Weight &w, const Product &p, LineAligned<float> &storage) {
  std::vector<Pass> passes;
  int64_t total = 0;
  for (int64_t r0 = 0; r0 < p.m; r0 += kMaxLanes) {
    int64_t rows = std::min(kMaxLanes, p.m - r0), lanes = 1;
    while (lanes < rows)
      lanes = lanes == 1 ? 4 : 2 * lanes;
    passes.push_back({r0, rows, lanes, nullptr});
    total += lanes > 1 ? w.k * lanes : 0;
  }
  storage.assign(total, 0.0f);
  float *next = storage.data();
  for (Pass &pass : passes) {
    if (pass.lanes == 1) {
      pass.xT = p.x + pass.r0 * p.xStride;
      continue;
    }
    for (int64_t r = 0; r < pass.rows; ++r)
      for (int64_t c = 0; c < w.k; ++c)
        next[c * pass.lanes + r] = p.x[(pass.r0 + r) * p.xStride + c];
    pass.xT = next;
    next += w.k * pass.lanes;
  }
  return passes;
}

bool packedColumns(const Weight &w) { return w.nm() && (w.keep & (w.keep - 1)) == 0; }

/// Columns of x in a slice for passes `lanes` wide: N:M slices end at
/// blocks, packed ones at 4 entries. ELL rows go whole: their random
/// columns give the rows of a block few activations of a slice to share,
/// and finding where each row's slice ends costs more than slices save
/// (4096 x 11008, 16 rows, AMD Zen 4: 80% sparse rows 7.3 ms in slices of
/// 256 columns, 4.6 whole; 50%: 13.3 and 13.6).
int64_t sliceColumns(const Weight &w, int64_t lanes) {
  if (!w.nm())
    return w.k;
  int64_t unit = packedColumns(w) ? std::max<int64_t>(1, 4 / w.keep) * w.block : w.block;
  return std::max(unit, kSliceBytes / (4 * lanes) / unit * unit);
}

/// The products of the rows of W in [c0, c1) with a pass, slice by slice,
/// added to sums ([kChannelBlock][kMaxLanes]). columnsOf(c, begin, end)
/// gives the column source of a row's entries in a slice.
template <typename ColumnsOf>
void blockPass(const Weight &w, const Pass &pass, int64_t c0, int64_t c1, float *sums,
               float *decodedValues, const ColumnsOf &columnsOf) {
  int64_t step = sliceColumns(w, pass.lanes);
  for (int64_t k0 = 0; k0 < w.k; k0 += step) {
    int64_t k1 = std::min(w.k, k0 + step);
    for (int64_t c = c0; c < c1; ++c) {
      int64_t begin = 0, end = w.count(c);
      if (w.nm()) {
        begin = k0 / w.block * w.keep;
        end = k1 / w.block * w.keep;
      }
      // Rows read in one slice stream by themselves.
      if (step < w.k)
        prefetchSlice(w, c, end, end + (end - begin));
      if (begin == end)
        continue;
      const float *values = reinterpret_cast<const float *>(w.valueRow(c)) + begin;
      if (w.bits) {
        dequantizeValues(w, c, begin, end, decodedValues);
        values = decodedValues;
      }
      passKernel(pass, columnsOf(c, begin, end), values, begin, end,
                 sums + (c - c0) * kMaxLanes);
    }
  }
}

template <typename ColumnsOf>
void product(const Weight &w, const Product &p, const ColumnsOf &columnsOf) {
  LineAligned<float> storage;
  std::vector<Pass> passes = planPasses(w, p, storage);
  int64_t blocks = (w.n + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel
  {
    std::vector<float> decodedValues(w.bits ? std::min(w.stored, sliceColumns(w, 1)) : 0);
    std::vector<float> sums(kChannelBlock * kMaxLanes);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      int64_t c0 = b * kChannelBlock, c1 = std::min(w.n, c0 + kChannelBlock);
      for (const Pass &pass : passes) {
        std::fill(sums.begin(), sums.end(), 0.0f);
        blockPass(w, pass, c0, c1, sums.data(), decodedValues.data(), columnsOf);
        for (int64_t c = c0; c < c1; ++c)
          for (int64_t r = 0; r < pass.rows; ++r)
            p.store(pass.r0 + r, c, sums[(c - c0) * kMaxLanes + r]);
      }
    }
  }
}

template <int IndexBits>
void packedProduct(const Weight &w, const Product &p) {
  product(w, p, [&](int64_t c, int64_t, int64_t) {
    return PackedColumns<IndexBits>(w.indexRow(c), w.keep, w.block);
  });
}

} // namespace

void sparse_linear::floatListProduct(const Weight &w, const Product &p) {
  if (w.columns16)
    return product(w, p, [&](int64_t c, int64_t, int64_t) {
      return ListedColumns<uint16_t>{w.columns16 + c * w.stored};
    });
  if (w.columns32)
    return product(w, p, [&](int64_t c, int64_t, int64_t) {
      return ListedColumns<int32_t>{w.columns32 + c * w.stored};
    });
  if (packedColumns(w))
    return w.indexBits() == 2 ? packedProduct<2>(w, p) : packedProduct<4>(w, p);
  // Other N:M patterns: each slice of a row decoded into a buffer first.
  std::vector<std::vector<int32_t>> buffers(omp_get_max_threads());
  product(w, p, [&](int64_t c, int64_t begin, int64_t end) {
    std::vector<int32_t> &columns = buffers[omp_get_thread_num()];
    columns.resize(end);
    decodeColumns(w, c, begin, end, columns.data() + begin);
    return ListedColumns<int32_t>{columns.data()};
  });
}
