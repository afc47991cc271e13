// Quantized linear layers on the GPU (QuantizedLinear.h): a decoding kernel
// per precision, over the CUDA runtime API in the driver's primary context
// (the one DeviceRuntime.cpp makes current), on the runtime's stream.
#include "lib/runtime/cuda/Int4Linear.cuh"
#include "lib/runtime/cuda/QuantizedLinear.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <vector>

using namespace compress::cuda;

namespace {

// The decoding kernel takes rows kRowsPerPass at a time, up to kMaxRows (a
// warp's row of W stays in L1 between passes); more rows go through a
// decoded copy of W and the GEMM.
constexpr int kThreads = 256, kWarps = kThreads / 32, kRowsPerPass = 8, kMaxRows = 32;

/// Code `i` of a row of W as a signed integer less its zero point, as
/// lib/runtime/cpu/QuantizedLinear.cpp decodes it.
__device__ __forceinline__ int decode(const uint8_t *row, int64_t i, int bits, int zero,
                                      bool symmetric) {
  int mask = (1 << bits) - 1, sign = 1 << (bits - 1);
  int v = bits <= 4 ? (row[i / 2] >> (4 * (i & 1))) & mask : row[i] & mask;
  return symmetric ? (v ^ sign) - sign : v - zero;
}

/// One warp per output channel j: decodes W's row as it reads it, for
/// kRowsPerPass rows of x at a time (at most kMaxRows).
__global__ void __launch_bounds__(kThreads) decodingRowsKernel(QuantizedLinearArgs p) {
  int64_t j = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (j >= p.n)
    return;
  int64_t rowBytes = p.bits <= 4 ? (p.k + 1) / 2 : p.k;
  int64_t groups = (p.k + p.group - 1) / p.group;
  const uint8_t *row = p.codes + j * rowBytes;
  for (int64_t first = 0; first < p.m; first += kRowsPerPass) {
    const float *x = p.x + first * p.xStride;
    int rows = int(min(int64_t(kRowsPerPass), p.m - first));
    float acc[kRowsPerPass] = {};
    for (int64_t g = 0; g < groups; ++g) {
      float scale = p.scales[j * groups + g];
      int zero = p.zeros ? p.zeros[j * groups + g] : 0;
      int64_t end = min(p.k, (g + 1) * p.group);
      for (int64_t i = g * p.group + lane; i < end; i += 32) {
        float w = float(decode(row, i, int(p.bits), zero, !p.zeros)) * scale;
#pragma unroll
        for (int r = 0; r < kRowsPerPass; ++r)
          if (r < rows)
            acc[r] = fmaf(x[r * p.xStride + i], w, acc[r]);
      }
    }
#pragma unroll
    for (int r = 0; r < kRowsPerPass; ++r) {
      float v = acc[r];
      for (int offset = 16; offset > 0; offset /= 2)
        v += __shfl_down_sync(0xffffffffu, v, offset);
      float *o = p.out + (first + r) * p.outStride + j;
      if (lane == 0 && r < rows)
        *o = p.accumulate ? *o + v : v;
    }
  }
}

/// w[j, i] = deq(W)[j, i], one thread per weight.
__global__ void decodeWeightsKernel(QuantizedLinearArgs p, float *w) {
  int64_t at = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (at >= p.n * p.k)
    return;
  int64_t j = at / p.k, i = at % p.k;
  int64_t rowBytes = p.bits <= 4 ? (p.k + 1) / 2 : p.k;
  int64_t groups = (p.k + p.group - 1) / p.group, g = i / p.group;
  int zero = p.zeros ? p.zeros[j * groups + g] : 0;
  w[at] = float(decode(p.codes + j * rowBytes, i, int(p.bits), zero, !p.zeros)) *
          p.scales[j * groups + g];
}

__global__ void toHalfKernel(const float *x, int64_t xStride, int64_t m, int64_t k, __half *h) {
  int64_t at = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (at < m * k)
    h[at] = __float2half_rn(x[(at / k) * xStride + at % k]);
}

__global__ void addHalfKernel(const __half *y, int64_t m, int64_t n, float *out,
                              int64_t outStride, bool accumulate) {
  int64_t at = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (at >= m * n)
    return;
  float *o = out + (at / n) * outStride + at % n;
  *o = accumulate ? *o + __half2float(y[at]) : __half2float(y[at]);
}

unsigned blocksFor(int64_t count) { return unsigned((count + kThreads - 1) / kThreads); }

std::string failure(cudaError_t error, const char *what) {
  if (error == cudaSuccess)
    return "";
  return std::string(what) + " failed: " + cudaGetErrorString(error);
}

/// Weights repacked for Int4Linear.cu, by the address of their codes.
struct PackedWeights {
  std::mutex mutex;
  std::map<const void *, compress::gpu::PackedInt4Weight> byCodes;
};
PackedWeights &packedWeights() {
  static PackedWeights packed;
  return packed;
}

} // namespace

bool compress::cuda::takesHalfPrecisionInt4(const QuantizedLinearArgs &p) {
  return p.bits == 4 && !p.zeros && p.group == compress::gpu::kInt4GroupSize && p.n % 16 == 0 &&
         p.k % compress::gpu::kInt4GroupSize == 0 && p.n < (int64_t(1) << 30) &&
         p.k < (int64_t(1) << 30) && p.m < (int64_t(1) << 30);
}

std::string compress::cuda::quantizedLinearF32(const QuantizedLinearArgs &p, void *stream,
                                               bool halfPrecision,
                                               void (*contract)(const ContractionArgs &, bool)) {
  auto s = static_cast<cudaStream_t>(stream);
  if (p.m <= kMaxRows) {
    decodingRowsKernel<<<blocksFor(p.n * 32), kThreads, 0, s>>>(p);
    return failure(cudaGetLastError(), "launching the quantized linear kernel");
  }
  if (!p.accumulate)
    if (std::string error =
            failure(cudaMemset2DAsync(p.out, p.outStride * sizeof(float), 0, p.n * sizeof(float),
                                      p.m, s),
                    "clearing a quantized linear layer's output");
        !error.empty())
      return error;
  float *w = nullptr;
  if (std::string error = failure(cudaMallocAsync(&w, p.n * p.k * sizeof(float), s),
                                  "allocating a decoded weight (cudaMallocAsync)");
      !error.empty())
    return error;
  decodeWeightsKernel<<<blocksFor(p.n * p.k), kThreads, 0, s>>>(p, w);
  std::string error = failure(cudaGetLastError(), "launching the weight decoding kernel");
  if (error.empty()) {
    // B[i, j] is w[j * k + i]: the GEMM reads W^T with k contiguous.
    auto address = [](const void *q) { return (long long)reinterpret_cast<intptr_t>(q); };
    contract({1, 1, 1, p.m, p.n, p.k, address(p.x), 0, 0, 0, p.xStride, 1, address(w), 0, 0, 0, 1,
              p.k, address(p.out), 0, 0, 0, p.outStride, 1},
             halfPrecision);
  }
  cudaFreeAsync(w, s);
  return error;
}

std::string compress::cuda::quantizedLinearInt4Half(const QuantizedLinearArgs &p, void *stream,
                                                    bool overlapPrevious) {
  auto s = static_cast<cudaStream_t>(stream);
  compress::gpu::PackedInt4Weight weight;
  {
    PackedWeights &packed = packedWeights();
    std::lock_guard<std::mutex> lock(packed.mutex);
    auto at = packed.byCodes.find(p.codes);
    if (at == packed.byCodes.end()) {
      // First use: read the dialect's codes and scales back and repack them.
      std::vector<uint8_t> codes(size_t(p.n) * p.k / 2);
      std::vector<float> scales(size_t(p.n) * (p.k / p.group));
      std::string error =
          failure(cudaMemcpyAsync(codes.data(), p.codes, codes.size(), cudaMemcpyDeviceToHost, s),
                  "reading an int4 weight back for repacking");
      if (error.empty())
        error = failure(cudaMemcpyAsync(scales.data(), p.scales, scales.size() * sizeof(float),
                                        cudaMemcpyDeviceToHost, s),
                        "reading int4 scales back for repacking");
      if (error.empty())
        error = failure(cudaStreamSynchronize(s), "reading an int4 weight back for repacking");
      if (error.empty())
        error = failure(compress::gpu::packInt4Weights(codes.data(), scales.data(), int(p.n),
                                                       int(p.k), &weight),
                        "uploading a repacked int4 weight");
      if (!error.empty())
        return error;
      packed.byCodes.emplace(p.codes, weight);
    } else {
      weight = at->second;
    }
  }
  // A few rows (a decode step): one kernel reading and writing float32.
  cudaError_t direct = compress::gpu::int4LinearF32(p.x, p.xStride, weight, p.out, p.outStride,
                                                    p.accumulate, int(p.m), s, overlapPrevious);
  if (direct != cudaErrorNotSupported)
    return failure(direct, "launching the int4 tensor-core kernel");
  // Else fp16 copies of x and y around the fp16 kernels.
  __half *xh = nullptr, *yh = nullptr;
  std::string error =
      failure(cudaMallocAsync(&xh, p.m * p.k * sizeof(__half), s), "allocating fp16 activations");
  if (error.empty())
    error = failure(cudaMallocAsync(&yh, p.m * p.n * sizeof(__half), s),
                    "allocating fp16 results");
  if (error.empty()) {
    toHalfKernel<<<blocksFor(p.m * p.k), kThreads, 0, s>>>(p.x, p.xStride, p.m, p.k, xh);
    error = failure(cudaGetLastError(), "launching the fp16 conversion kernel");
  }
  if (error.empty())
    error = failure(compress::gpu::int4Linear(xh, weight, yh, int(p.m), s),
                    "launching the int4 tensor-core kernel");
  if (error.empty()) {
    addHalfKernel<<<blocksFor(p.m * p.n), kThreads, 0, s>>>(yh, p.m, p.n, p.out, p.outStride,
                                                           p.accumulate);
    error = failure(cudaGetLastError(), "launching the fp16 result kernel");
  }
  if (xh)
    cudaFreeAsync(xh, s);
  if (yh)
    cudaFreeAsync(yh, s);
  return error;
}

void compress::cuda::forgetPackedWeights(const void *begin, size_t bytes) {
  PackedWeights &packed = packedWeights();
  std::lock_guard<std::mutex> lock(packed.mutex);
  auto first = static_cast<const uint8_t *>(begin);
  for (auto at = packed.byCodes.lower_bound(first);
       at != packed.byCodes.end() && static_cast<const uint8_t *>(at->first) < first + bytes;) {
    compress::gpu::freeInt4Weights(&at->second);
    at = packed.byCodes.erase(at);
  }
}
