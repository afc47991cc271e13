// The CPU runtime's matrix-product microkernel, called from generated code.
#ifndef COMPRESS_LIB_RUNTIME_CPU_CONTRACTION_H
#define COMPRESS_LIB_RUNTIME_CPU_CONTRACTION_H

#include <cstdint>

extern "C" {

/// C[b, m, n] += sum_k A[b, m, k] * B[b, k, n] over float32 views given by
/// base addresses and element strides per loop dimension (0 = broadcast).
/// Up to three batch dimensions b0..b2 (size 1 when unused). Generated code
/// passes every value as a 64-bit integer, pointers included.
void compress_rt_contract_f32(int64_t b0, int64_t b1, int64_t b2, int64_t m,
                              int64_t n, int64_t k, int64_t a, int64_t ab0,
                              int64_t ab1, int64_t ab2, int64_t am, int64_t ak,
                              int64_t b, int64_t bb0, int64_t bb1, int64_t bb2,
                              int64_t bk, int64_t bn, int64_t c, int64_t cb0,
                              int64_t cb1, int64_t cb2, int64_t cm, int64_t cn);

/// The same product where B is a constant (a weight): its packed, blocked
/// copy is made on first use and kept, keyed by B's address and layout and
/// the problem's shape.
void compress_rt_contract_f32_constant_b(int64_t b0, int64_t b1, int64_t b2, int64_t m,
                                         int64_t n, int64_t k, int64_t a, int64_t ab0,
                                         int64_t ab1, int64_t ab2, int64_t am, int64_t ak,
                                         int64_t b, int64_t bb0, int64_t bb1, int64_t bb2,
                                         int64_t bk, int64_t bn, int64_t c, int64_t cb0,
                                         int64_t cb1, int64_t cb2, int64_t cm, int64_t cn);

/// out[M, N] += x[M, K] * deq(W)^T for a quantized linear layer (out = ...
/// when `accumulate` is 0: the result overwrites whatever out holds): W is
/// [N, K] `bits`-bit integers (two per byte at 4 bits or fewer),
/// dequantised as (q - zero) * scale with one scale (and zero point, unless
/// `zeros` is 0: signed integers) per `group` columns of each row. Rows of x
/// and out are `xStride` and `outStride` elements apart; the last group of a
/// row is partial when `group` does not divide K. With `int8Activations`
/// (1), x is first quantized per row to int8 (ActivationQuantization.h),
/// whatever M is: the numerics never depend on the number of rows.
void compress_rt_quantized_linear_f32(int64_t m, int64_t n, int64_t k, int64_t x,
                                      int64_t xStride, int64_t q, int64_t scales, int64_t zeros,
                                      int64_t out, int64_t outStride, int64_t bits,
                                      int64_t group, int64_t int8Activations,
                                      int64_t accumulate);

/// The same product with W, scales and zero points in the tiled layout of
/// QuantizedLayout.h (groups divide K there); int8 activations run on
/// integer dot products.
void compress_rt_quantized_linear_tiled_f32(int64_t m, int64_t n, int64_t k, int64_t x,
                                            int64_t xStride, int64_t tiles, int64_t scales,
                                            int64_t zeros, int64_t out, int64_t outStride,
                                            int64_t bits, int64_t group,
                                            int64_t int8Activations, int64_t accumulate);

/// Drops every packed weight (their source memory is about to go away).
void compress_rt_forget_packed_weights(void);
}

namespace compress {
/// Name of the contraction entry point, as generated code calls it.
inline constexpr const char *kContractF32Symbol = "compress_rt_contract_f32";
inline constexpr const char *kContractF32ConstantBSymbol = "compress_rt_contract_f32_constant_b";
inline constexpr const char *kQuantizedLinearF32Symbol = "compress_rt_quantized_linear_f32";
inline constexpr const char *kTiledQuantizedLinearF32Symbol =
    "compress_rt_quantized_linear_tiled_f32";
} // namespace compress

#endif
