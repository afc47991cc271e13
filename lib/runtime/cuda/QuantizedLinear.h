// The CUDA target's quantized linear layers on device buffers, for the
// runtime (DeviceRuntime.cpp). Plain C++: QuantizedLinear.cu holds the
// kernels, built by nvcc into an object of the runtime library.
#ifndef COMPRESS_LIB_RUNTIME_CUDA_QUANTIZEDLINEAR_H
#define COMPRESS_LIB_RUNTIME_CUDA_QUANTIZEDLINEAR_H

#include "lib/runtime/cuda/ContractionArgs.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace compress::cuda {

/// out[i, j] (+)= sum_p x[i, p] * deq(W)[j, p], W in the dialect's row-major
/// packing (the arguments of compress_rt_quantized_linear_f32): codes
/// [n, ceil(k / per byte)] of `bits` bits, scales [n, groups] and, when
/// asymmetric, unsigned zero points [n, groups] (the last group may be
/// partial).
struct QuantizedLinearArgs {
  int64_t m, n, k;
  const float *x;
  int64_t xStride;
  const uint8_t *codes;
  const float *scales;
  const uint8_t *zeros; // null: symmetric
  float *out;
  int64_t outStride;
  int64_t bits, group;
  bool accumulate;
};

/// Whether the fp16 tensor-core kernel of Int4Linear.cu takes the layer:
/// 4-bit symmetric codes in groups of 128, n a multiple of 16, k of 128.
bool takesHalfPrecisionInt4(const QuantizedLinearArgs &args);

/// Runs the layer on `stream` (a CUstream) in float32: up to 32 rows of x
/// by a kernel that decodes W as it reads it, more rows by decoding W into
/// a float32 scratch buffer that `contract` multiplies (the runtime's GEMM,
/// C += A B, given `halfPrecision`). Returns "" or an error.
std::string quantizedLinearF32(const QuantizedLinearArgs &args, void *stream, bool halfPrecision,
                               void (*contract)(const ContractionArgs &, bool halfPrecision));

/// Runs a layer takesHalfPrecisionInt4() accepts on the int4 tensor-core
/// kernel: x rounded to fp16, fp32 accumulation, the fp16 result added to
/// (or stored in) out. W is repacked for the kernel on its first use (read
/// back from the device once) and kept until forgetPackedWeights(). With
/// `overlapPrevious`, the one-kernel path for a few rows is a programmatic
/// dependent launch (it loads its first weights while the kernel before it
/// drains).
std::string quantizedLinearInt4Half(const QuantizedLinearArgs &args, void *stream,
                                    bool overlapPrevious);

/// Drops the repacked copies of weights in [begin, begin + bytes): that
/// device memory is being freed.
void forgetPackedWeights(const void *begin, size_t bytes);

} // namespace compress::cuda

#endif
