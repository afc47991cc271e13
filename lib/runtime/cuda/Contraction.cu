// The CUDA target's float32 matrix products: C[b, m, n] += sum_k A[b, m, k] *
// B[b, k, n] over strided views (compress-gpu-contraction-to-kernel), up to
// three batch dimensions folded into the grid's z.
// - compress_contract_f32: 64 x 64 tiles of C per block of 256 threads, 4 x 4
//   outputs per thread, 16-deep slices of A and B staged in shared memory;
//   loads walk the operand's unit-stride dimension across neighbouring
//   threads when it has one.
// - compress_contract_rows_f32, for at most kMaxRows rows of A against a B
//   whose k is contiguous (a linear layer's [N, K] weight, decoding): one
//   warp per column n reads B's row once, coalesced, for all rows of A; a
//   64-row tile would waste most of its work there. Compiled by nvcc at build
// time into a fatbin (sm_90 code, compute_90 PTX) that DeviceRuntime.cpp
// loads through the driver API.
#include "lib/runtime/cuda/ContractionArgs.h"

namespace {

constexpr int kTile = 64, kDepth = 16, kThreads = 256, kPerThread = 4;
constexpr int kMaxRows = 4, kWarps = kThreads / 32;

/// Stages A[m0.., k0..] as As[k][m] (kTile x kDepth values, 4 per thread).
__device__ void loadA(float (*As)[kTile + 1], const float *A, const ContractionArgs &p,
                      long long m0, long long k0) {
  for (int i = threadIdx.x; i < kTile * kDepth; i += kThreads) {
    int mm, kk;
    if (p.ak == 1) { // row-major A: neighbouring threads read neighbouring k
      kk = i % kDepth;
      mm = i / kDepth;
    } else {
      mm = i % kTile;
      kk = i / kTile;
    }
    long long m = m0 + mm, k = k0 + kk;
    As[kk][mm] = m < p.m && k < p.k ? A[m * p.am + k * p.ak] : 0.0f;
  }
}

/// Stages B[k0.., n0..] as Bs[k][n].
__device__ void loadB(float (*Bs)[kTile + 1], const float *B, const ContractionArgs &p,
                      long long k0, long long n0) {
  for (int i = threadIdx.x; i < kTile * kDepth; i += kThreads) {
    int nn, kk;
    if (p.bn == 1 || p.bk != 1) { // row-major B (or no unit stride): n across threads
      nn = i % kTile;
      kk = i / kTile;
    } else { // a weight stored [N, K]: k across threads
      kk = i % kDepth;
      nn = i / kDepth;
    }
    long long n = n0 + nn, k = k0 + kk;
    Bs[kk][nn] = n < p.n && k < p.k ? B[k * p.bk + n * p.bn] : 0.0f;
  }
}

} // namespace

/// Programmatic dependent launch (DeviceRuntime.cpp launches every kernel
/// compiled for compute capability 9.0 so): nothing is read before the
/// kernels this one follows have finished; the next may be scheduled at once.
__device__ __forceinline__ void followPrevious() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}

extern "C" __global__ void __launch_bounds__(kThreads) compress_contract_f32(ContractionArgs p) {
  followPrevious();
  __shared__ float As[kDepth][kTile + 1];
  __shared__ float Bs[kDepth][kTile + 1];
  long long z = blockIdx.z;
  long long i2 = z % p.b2, i1 = (z / p.b2) % p.b1, i0 = z / (p.b2 * p.b1);
  const float *A = reinterpret_cast<const float *>(p.a) + i0 * p.ab0 + i1 * p.ab1 + i2 * p.ab2;
  const float *B = reinterpret_cast<const float *>(p.b) + i0 * p.bb0 + i1 * p.bb1 + i2 * p.bb2;
  float *C = reinterpret_cast<float *>(p.c) + i0 * p.cb0 + i1 * p.cb1 + i2 * p.cb2;
  long long m0 = (long long)blockIdx.y * kTile, n0 = (long long)blockIdx.x * kTile;
  // Thread (tx, ty) owns rows ty + 16 r and columns tx + 16 c of the tile:
  // neighbouring threads read neighbouring shared-memory words.
  int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[kPerThread][kPerThread] = {};
  for (long long k0 = 0; k0 < p.k; k0 += kDepth) {
    loadA(As, A, p, m0, k0);
    loadB(Bs, B, p, k0, n0);
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kDepth; ++kk) {
      float a[kPerThread], b[kPerThread];
#pragma unroll
      for (int r = 0; r < kPerThread; ++r)
        a[r] = As[kk][ty + 16 * r];
#pragma unroll
      for (int c = 0; c < kPerThread; ++c)
        b[c] = Bs[kk][tx + 16 * c];
#pragma unroll
      for (int r = 0; r < kPerThread; ++r)
#pragma unroll
        for (int c = 0; c < kPerThread; ++c)
          acc[r][c] = fmaf(a[r], b[c], acc[r][c]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int r = 0; r < kPerThread; ++r)
#pragma unroll
    for (int c = 0; c < kPerThread; ++c) {
      long long m = m0 + ty + 16 * r, n = n0 + tx + 16 * c;
      if (m < p.m && n < p.n)
        C[m * p.cm + n * p.cn] += acc[r][c];
    }
}

extern "C" __global__ void __launch_bounds__(kThreads) compress_contract_rows_f32(ContractionArgs p) {
  followPrevious();
  long long z = blockIdx.z;
  long long i2 = z % p.b2, i1 = (z / p.b2) % p.b1, i0 = z / (p.b2 * p.b1);
  const float *A = reinterpret_cast<const float *>(p.a) + i0 * p.ab0 + i1 * p.ab1 + i2 * p.ab2;
  const float *B = reinterpret_cast<const float *>(p.b) + i0 * p.bb0 + i1 * p.bb1 + i2 * p.bb2;
  float *C = reinterpret_cast<float *>(p.c) + i0 * p.cb0 + i1 * p.cb1 + i2 * p.cb2;
  long long n = (long long)blockIdx.x * kWarps + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (n >= p.n)
    return;
  const float *column = B + n * p.bn; // B[k, n] at column[k] (bk == 1)
  float acc[kMaxRows] = {};
#pragma unroll 4
  for (long long k = lane; k < p.k; k += 32) {
    float w = column[k];
#pragma unroll
    for (int r = 0; r < kMaxRows; ++r)
      if (r < p.m)
        acc[r] = fmaf(A[r * p.am + k * p.ak], w, acc[r]);
  }
#pragma unroll
  for (int r = 0; r < kMaxRows; ++r) {
    float v = acc[r];
    for (int offset = 16; offset > 0; offset /= 2)
      v += __shfl_down_sync(0xffffffffu, v, offset);
    if (lane == 0 && r < p.m)
      C[r * p.cm + n * p.cn] += v;
  }
}
