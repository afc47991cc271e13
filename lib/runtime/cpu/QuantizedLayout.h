// The tiled layout of quantized linear weights that the CPU microkernels
// read, and the re-layout from the dialect's row-major form. The compiler
// (compress-cpu-tile-quantized-weights) lays constant weights out this way
// once; the kernels then stream each tile with one aligned load.
//
// Output channels go in tiles of 16, one per 32-bit lane of an AVX-512
// register; each lane holds consecutive input features of its channel, the
// order integer dot-product instructions (VNNI vpdpbusd: four byte products
// summed into each 32-bit lane) consume:
//   - 2..4 bits: a lane holds 8 features k0..k0+7, byte b holding feature
//     k0+b in its low nibble and k0+4+b in its high nibble, so the low
//     nibbles of a tile are the 16 x 4 bytes of features k0..k0+3 and the
//     high nibbles those of k0+4..k0+7;
//   - 5..8 bits: a lane holds 4 features, one per byte.
// Tiles of one channel block follow each other along K, so a block's weights
// are contiguous. Scales (and zero points) are [N/16, groups, 16]: the 16
// channels of a block side by side for each group. Values keep the dialect's
// encoding (two's complement when symmetric, unsigned with zero points).
#ifndef COMPRESS_LIB_RUNTIME_CPU_QUANTIZEDLAYOUT_H
#define COMPRESS_LIB_RUNTIME_CPU_QUANTIZEDLAYOUT_H

#include <cstdint>

namespace compress::quantized_layout {

/// Output channels per tile, and bytes per tile.
inline constexpr int64_t kTileChannels = 16;
inline constexpr int64_t kTileBytes = 64;

/// Input features per 32-bit lane of a tile.
inline int64_t featuresPerLane(int64_t bits) { return bits <= 4 ? 8 : 4; }

/// Whether a [n, k] weight in groups of `group` can be tiled.
inline bool canTile(int64_t n, int64_t k, int64_t bits, int64_t group) {
  int64_t depth = featuresPerLane(bits);
  return n > 0 && k > 0 && n % kTileChannels == 0 && k % depth == 0 && group % depth == 0 &&
         k % group == 0;
}

/// Element (row, col) of a row-major [n, k] weight in the dialect's packing
/// (two values per byte at 4 bits or fewer, low nibble first), masked to
/// `bits` bits.
inline uint8_t rowMajorValue(const uint8_t *q, int64_t k, int64_t bits, int64_t row,
                             int64_t col) {
  uint8_t mask = uint8_t((1u << bits) - 1);
  if (bits <= 4) {
    uint8_t byte = q[row * ((k + 1) / 2) + col / 2];
    return (col % 2 ? byte >> 4 : byte) & mask;
  }
  return q[row * k + col] & mask;
}

/// Bytes of the tiled weight (the same as the row-major packing's when
/// canTile holds).
inline int64_t tiledWeightBytes(int64_t n, int64_t k, int64_t bits) {
  return bits <= 4 ? n * k / 2 : n * k;
}

/// Writes the tiled form of the row-major weight `q` ([n, k]) to `dst`.
inline void tileWeights(const uint8_t *q, int64_t n, int64_t k, int64_t bits, uint8_t *dst) {
  int64_t depth = featuresPerLane(bits), blocks = k / depth;
  for (int64_t nb = 0; nb < n / kTileChannels; ++nb)
    for (int64_t kb = 0; kb < blocks; ++kb)
      for (int64_t c = 0; c < kTileChannels; ++c)
        for (int64_t b = 0; b < 4; ++b) {
          int64_t row = nb * kTileChannels + c, col = kb * depth + b;
          uint8_t value = rowMajorValue(q, k, bits, row, col);
          if (bits <= 4)
            value |= uint8_t(rowMajorValue(q, k, bits, row, col + 4) << 4);
          dst[((nb * blocks + kb) * kTileChannels + c) * 4 + b] = value;
        }
}

/// Element (row, col) of a tiled weight, as rowMajorValue gives it.
inline uint8_t tiledValue(const uint8_t *tiles, int64_t k, int64_t bits, int64_t row,
                          int64_t col) {
  int64_t depth = featuresPerLane(bits), blocks = k / depth;
  int64_t nb = row / kTileChannels, c = row % kTileChannels;
  int64_t kb = col / depth, within = col % depth;
  uint8_t byte = tiles[((nb * blocks + kb) * kTileChannels + c) * 4 + within % 4];
  if (bits <= 4)
    byte = within < 4 ? byte & 0x0F : byte >> 4;
  return byte;
}

/// Re-lays a per-(channel, group) table ([n, groups] row-major) as
/// [n / 16, groups, 16].
template <typename T>
void tileGroupTable(const T *table, int64_t n, int64_t groups, T *dst) {
  for (int64_t row = 0; row < n; ++row)
    for (int64_t g = 0; g < groups; ++g)
      dst[((row / kTileChannels) * groups + g) * kTileChannels + row % kTileChannels] =
          table[row * groups + g];
}

} // namespace compress::quantized_layout

#endif
