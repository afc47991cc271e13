// The CPU runtime's sparse linear microkernels, called from the lowering of
// compress.sparse_linear: out[M, N] (+)= x[M, K] * W^T for a pruned weight W
// ([N, K] logically) held in one of the dialect's two sparse formats.
//
// Both formats store, per row of W, a list of entries (a value and, by one
// means or another, its column), the values as float32 or as 8- or 4-bit
// codes dequantised as (code - zero) * scale with one scale (and zero point,
// unless `zeros` is 0: signed codes) per `group` stored entries of a row:
//   - N:M: `keep` entries kept of every `block` consecutive columns
//     (1 <= keep < block <= 16, K a multiple of block), S = K / block * keep
//     entries a row; entry j lies in block j / keep at column
//     (j / keep) * block + idx(j), the idx of a block strictly increasing;
//     `indices` packs them in 2 bits each (block <= 4) or 4, low bits first,
//     [N, ceil(S * bits / 8)] bytes;
//   - ELL: row r has counts[r] (int32) <= `entries` (L) entries, at columns
//     columns[r * L + j] (uint16 when `columnBits` is 16, int32 when 32),
//     strictly increasing; entries from counts[r] on are padding, never read.
// Values: float32 [N, S] (`bits` 0; scales, zeros and group unused), int8
// codes [N, S] (`bits` 8), or two 4-bit codes a byte, entry 2t in the low
// nibble ([N, ceil(S / 2)], `bits` 4); scales float32 and zero points uint8,
// [N, ceil(S / group)] (S read as L for ELL).
//
// x is row-major float32, rows `xStride` elements apart; out likewise with
// `outStride`; M may be 0. `accumulate` 0 overwrites out, 1 adds to it. With
// `int8Activations` (bits 8 or 4), each row of x is first quantized to int8
// as ActivationQuantization.h does, and the product is the one of the
// quantized activations with the dequantised weight. Generated code passes
// every argument as a 64-bit integer, pointers included.
//
// From 64 rows on, weights at most 60% sparse are densified a block of
// output channels at a time and multiplied by sgemm (a dense product wins
// there); like any dense product, an inf or NaN in x then turns the zeros
// of columns a row does not store into NaN, which the list kernels of
// fewer rows never read.
#ifndef COMPRESS_LIB_RUNTIME_CPU_SPARSELINEAR_H
#define COMPRESS_LIB_RUNTIME_CPU_SPARSELINEAR_H

#include <cstdint>

extern "C" {

/// out[M, N] (+)= x[M, K] * W^T for an N:M-sparse W.
void compress_rt_nm_sparse_linear_f32(int64_t m, int64_t n, int64_t k, int64_t x,
                                      int64_t xStride, int64_t values, int64_t indices,
                                      int64_t scales, int64_t zeros, int64_t out,
                                      int64_t outStride, int64_t keep, int64_t block,
                                      int64_t bits, int64_t group, int64_t int8Activations,
                                      int64_t accumulate);

/// The same for an unstructured-sparse W in ELL form.
void compress_rt_ell_sparse_linear_f32(int64_t m, int64_t n, int64_t k, int64_t x,
                                       int64_t xStride, int64_t values, int64_t columns,
                                       int64_t columnBits, int64_t counts, int64_t entries,
                                       int64_t scales, int64_t zeros, int64_t out,
                                       int64_t outStride, int64_t bits, int64_t group,
                                       int64_t int8Activations, int64_t accumulate);
}

namespace compress {
/// Names of the entry points, as generated code calls them.
inline constexpr const char *kNmSparseLinearF32Symbol = "compress_rt_nm_sparse_linear_f32";
inline constexpr const char *kEllSparseLinearF32Symbol = "compress_rt_ell_sparse_linear_f32";
} // namespace compress

#endif
