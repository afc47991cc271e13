// What the sparse linear kernels (SparseLinear.h) share: the weight's format
// read entry by entry, the activations and result of a call, and the
// kernels of each file. Internal to the runtime.
#ifndef COMPRESS_LIB_RUNTIME_CPU_SPARSELINEARKERNELS_H
#define COMPRESS_LIB_RUNTIME_CPU_SPARSELINEARKERNELS_H

#include <cstdint>
#include <cstring>
#include <vector>

namespace compress::sparse_linear {

/// A sparse weight [n, k] in either format (SparseLinear.h), with readers
/// of single entries (the portable kernel's definition of the format).
struct Weight {
  int64_t n, k;
  /// Entries a row of `values` holds: S for N:M, L for ELL.
  int64_t stored;
  const uint8_t *values; // float32 when bits is 0, else codes
  int64_t bits;          // 0, 8 or 4
  const float *scales;   // [n, groups()] when bits > 0
  const uint8_t *zeros;  // [n, groups()], or null: codes are signed
  int64_t group;
  // N:M (keep > 0)
  int64_t keep, block;
  const uint8_t *indices;
  // ELL (keep == 0): one of the two column arrays, and the counts
  const uint16_t *columns16;
  const int32_t *columns32;
  const int32_t *counts;

  bool nm() const { return keep > 0; }
  int64_t groups() const { return bits ? (stored + group - 1) / group : 0; }
  int64_t indexBits() const { return block <= 4 ? 2 : 4; }
  int64_t indexRowBytes() const { return (stored * indexBits() + 7) / 8; }
  int64_t valueRowBytes() const {
    return bits == 0 ? 4 * stored : bits == 8 ? stored : (stored + 1) / 2;
  }
  const uint8_t *valueRow(int64_t row) const { return values + row * valueRowBytes(); }
  const float *scaleRow(int64_t row) const { return scales + row * groups(); }
  const uint8_t *zeroRow(int64_t row) const { return zeros ? zeros + row * groups() : nullptr; }
  const uint8_t *indexRow(int64_t row) const { return indices + row * indexRowBytes(); }

  /// Entries of `row` that are not padding.
  int64_t count(int64_t row) const { return nm() ? stored : counts[row]; }

  int64_t column(int64_t row, int64_t j) const {
    if (!nm())
      return columns16 ? columns16[row * stored + j] : columns32[row * stored + j];
    int64_t ib = indexBits(), bit = j * ib;
    int64_t idx = (indexRow(row)[bit / 8] >> (bit % 8)) & ((1 << ib) - 1);
    return j / keep * block + idx;
  }

  /// The integer an entry's code stands for, its zero point taken off.
  int32_t centredCode(int64_t row, int64_t j) const {
    const uint8_t *codes = valueRow(row);
    int32_t code;
    if (bits == 8) {
      code = zeros ? int32_t(codes[j]) : int32_t(int8_t(codes[j]));
    } else {
      int32_t nibble = (codes[j / 2] >> (4 * (j % 2))) & 0x0F;
      code = zeros ? nibble : (nibble ^ 8) - 8;
    }
    return zeros ? code - int32_t(zeroRow(row)[j / group]) : code;
  }

  float value(int64_t row, int64_t j) const {
    if (bits == 0) {
      float v;
      std::memcpy(&v, valueRow(row) + 4 * j, sizeof(v));
      return v;
    }
    return float(centredCode(row, j)) * scaleRow(row)[j / group];
  }
};

/// Activations (float; already fake-quantized when the call asks for int8
/// activations and runs in float) and the result, row-major.
struct Product {
  int64_t m;
  const float *x;
  int64_t xStride;
  float *out;
  int64_t outStride;
  bool accumulate;

  void store(int64_t row, int64_t channel, float value) const {
    float &at = out[row * outStride + channel];
    at = accumulate ? at + value : value;
  }
};

/// Scratch memory from a cache-line boundary: vector loads of activations
/// copied there do not straddle two lines (which costs twice the L1
/// bandwidth the kernels are bound by).
template <typename T>
struct LineAligned {
  std::vector<T> storage;

  void assign(size_t count, T fill) { storage.assign(count + 64 / sizeof(T), fill); }
  T *data() {
    auto at = reinterpret_cast<uintptr_t>(storage.data());
    return reinterpret_cast<T *>((at + 63) / 64 * 64);
  }
  const T *data() const { return const_cast<LineAligned *>(this)->data(); }
};

/// Output channels a task of the parallel loops covers: enough work to
/// amortise a task, few enough that two threads balance on any layer.
inline constexpr int64_t kChannelBlock = 16;
/// Bytes of activations a slice of K holds for the rows of a pass: they
/// stay in L1 (32 KB a core on AMD Zen 4) while every row of a block of W
/// reads them, instead of coming again from L2 for each row of W.
inline constexpr int64_t kSliceBytes = 16384;

/// Asks for entries [begin, end) of a row of W (values, indices or
/// columns) ahead of their use: the rows of a block read slice by slice are
/// too many short streams for the hardware prefetchers. Past the end of the
/// row, the next block's first slice: the block a thread takes next.
void prefetchSlice(const Weight &w, int64_t row, int64_t begin, int64_t end);

/// Any CPU: each row of W decoded into columns and float values, then dot
/// products (SparseLinear.cpp).
void portableProduct(const Weight &w, const Product &p);

/// The columns, and the float values, of entries [begin, end) of a row of
/// W into dst[0, end - begin), for the kernels that take entries one at a
/// time.
void decodeColumns(const Weight &w, int64_t row, int64_t begin, int64_t end, int32_t *dst);
void dequantizeValues(const Weight &w, int64_t row, int64_t begin, int64_t end, float *dst);

/// AVX-512: N:M weights in float, a register permute gathering the
/// activations of 16 entries at once (SparseLinearNm.cpp), for the patterns
/// floatNmSupported accepts. Each row of x costs a permute per multiply-add:
/// beyond kNmPermuteRows rows, floatNmRowsProduct (2:4) or floatListProduct
/// is faster (2:4, 4096 x 11008 on AMD Zen 4, two threads: 7.5 ms against
/// 8.4 for the list kernel at 8 rows; at 16, 13.1 against 9.8, and 7.3 for
/// floatNmRowsProduct).
inline constexpr int64_t kNmPermuteRows = 8;
bool floatNmSupported(const Weight &w);
void floatNmProduct(const Weight &w, const Product &p);
/// AVX-512 and BMI2: 2:4 weights in float (K a multiple of 8), more than
/// kNmPermuteRows rows of x: x transposed 16 rows at a time, one
/// multiply-add per entry, the columns of 8 entries from one bit deposit
/// (SparseLinearNm.cpp).
bool floatNmRowsSupported(const Weight &w);
void floatNmRowsProduct(const Weight &w, const Product &p);

/// AVX-512 VNNI and VBMI: N:M weights of 8- or 4-bit codes with int8
/// activations, in integers (SparseLinearNmInteger.cpp).
bool integerNmSupported(const Weight &w);
void integerNmProduct(const Weight &w, const Product &p);

/// Many rows of x: blocks of output channels of W densified (dequantised)
/// into a per-thread float buffer, each multiplied by x with oneDNN's sgemm
/// (SparseLinear.cpp), as QuantizedLinear.cpp does for its row-major codes.
/// The list kernel spends an L1 load and a broadcast multiply-add per entry
/// and 16 rows; sgemm keeps a tile of the product in registers and reaches
/// several times its rate, which outweighs the zeros it multiplies from
/// about kDenseRows rows on, for weights at most kDenseMaxSparsity percent
/// sparse (SmolLM2's 576 x 1536, 512 rows, two threads on AMD Zen 4: dense
/// fp32 4.6 ms, ELL 50% 6.3, 80% 3.0).
inline constexpr int64_t kDenseRows = 64;
inline constexpr int64_t kDenseMaxSparsity = 60;
bool denseWins(const Weight &w, int64_t m);
void denseProduct(const Weight &w, const Product &p);

/// AVX-512: any weight as lists of entries, x transposed so that one entry
/// multiplies a vector of rows (SparseLinearEll.cpp).
void floatListProduct(const Weight &w, const Product &p);

} // namespace compress::sparse_linear

#endif
