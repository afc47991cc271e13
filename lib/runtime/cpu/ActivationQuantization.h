// Dynamic per-token int8 quantization of a quantized linear layer's
// activations, shared by the integer kernels and the float fallbacks that
// must give the same numbers.
#ifndef COMPRESS_LIB_RUNTIME_CPU_ACTIVATIONQUANTIZATION_H
#define COMPRESS_LIB_RUNTIME_CPU_ACTIVATIONQUANTIZATION_H

#include <cstdint>
#include <vector>

namespace compress {

/// Rows of x as int8: row r is values[r * k ...] * scales[r], the scale being
/// max|x[r]| / 127 and each value round-to-nearest-even of x / scale. The
/// sums of the int8 values of each row over each group of `group` columns
/// ([m, k / group]) let integer kernels take zero points out of their inner
/// loop.
struct QuantizedActivations {
  std::vector<int8_t> values;
  std::vector<int32_t> groupSums;
  std::vector<float> scales;
};

void quantizeActivations(const float *x, int64_t m, int64_t k, int64_t xStride, int64_t group,
                         QuantizedActivations &result);

/// The same quantization, dequantised back to float ([m, k] dense): what the
/// integer kernels compute with, for kernels that multiply in float.
void fakeQuantizeActivations(const float *x, int64_t m, int64_t k, int64_t xStride,
                             std::vector<float> &result);

} // namespace compress

#endif
