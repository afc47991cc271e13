// Checks the int4 g128 linear kernels against a float64 reference and times
// them, every variant and split, beside cuBLAS fp16, with the weights rotated
// over >= 400 MB of copies so that L2 cannot hold them (one CUDA graph of all
// copies per figure; median replay over the copies).
//
// Build: nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -I. \
//   bench/cuda/int4_linear_bench.cu lib/runtime/cuda/Int4Linear.cu -lcublas
// Run:   int4_linear_bench [--quick]
#include "lib/runtime/cuda/Int4Linear.cuh"

#include <cublas_v2.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

using namespace compress::gpu;

#define CHECK(call)                                                            \
  do {                                                                         \
    cudaError_t err_ = (call);                                                 \
    if (err_ != cudaSuccess) {                                                 \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,            \
              cudaGetErrorString(err_));                                       \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)
#define CHECK_BLAS(call)                                                       \
  do {                                                                         \
    cublasStatus_t st_ = (call);                                               \
    if (st_ != CUBLAS_STATUS_SUCCESS) {                                        \
      fprintf(stderr, "%s:%d: %s: cublas status %d\n", __FILE__, __LINE__,     \
              #call, static_cast<int>(st_));                                   \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

namespace {

constexpr double kRotateBytes = 400e6;
constexpr double kMaxRelError = 2e-3;
constexpr int kRefMaxM = 128;

struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  float uniform(float lo, float hi) {
    return lo + (hi - lo) * static_cast<float>(next() >> 40) / 16777216.0f;
  }
};

/// The dialect's codes and scales dequantised: fp32 for the reference, fp16
/// for cuBLAS.
__global__ void dequantKernel(const uint8_t *codes, const float *scales, int n,
                              int k, float *wf, __half *wh) {
  size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<size_t>(n) * k)
    return;
  size_t row = i / k, col = i % k;
  uint8_t byte = codes[row * (k / 2) + col / 2];
  int q = (col & 1) ? byte >> 4 : byte & 0xf;
  q = q >= 8 ? q - 16 : q;
  float v = static_cast<float>(q) * scales[row * (k / 128) + col / 128];
  wf[i] = v;
  wh[i] = __float2half_rn(v);
}

/// out[t][j] = sum_k x[t][k] * wf[j][k] in float64; a block takes 32 output
/// channels for all tokens, one thread per token.
__global__ void referenceKernel(const __half *x, const float *wf, int m, int n,
                                int k, double *out) {
  __shared__ float xs[kRefMaxM][33];
  __shared__ float ws[32][32];
  const int t = threadIdx.x, j0 = blockIdx.x * 32;
  double acc[32] = {};
  for (int k0 = 0; k0 < k; k0 += 32) {
    for (int e = t; e < kRefMaxM * 32; e += blockDim.x) {
      int r = e / 32, c = e % 32;
      xs[r][c] =
          r < m ? __half2float(x[static_cast<size_t>(r) * k + k0 + c]) : 0.0f;
    }
    for (int e = t; e < 32 * 32; e += blockDim.x) {
      int r = e / 32, c = e % 32;
      ws[r][c] =
          j0 + r < n ? wf[static_cast<size_t>(j0 + r) * k + k0 + c] : 0.0f;
    }
    __syncthreads();
    for (int c = 0; c < 32; ++c) {
      double xv = xs[t][c];
#pragma unroll
      for (int r = 0; r < 32; ++r)
        acc[r] += xv * ws[r][c];
    }
    __syncthreads();
  }
  if (t < m)
    for (int r = 0; r < 32; ++r)
      if (j0 + r < n)
        out[static_cast<size_t>(t) * n + j0 + r] = acc[r];
}

/// ||y - ref|| / ||ref|| over m x n; NaN (the poison) anywhere gives +inf.
double relError(const std::vector<__half> &y, const std::vector<double> &ref,
                int m, int n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < static_cast<size_t>(m) * n; ++i) {
    double v = __half2float(y[i]);
    if (!std::isfinite(v))
      return INFINITY;
    num += (v - ref[i]) * (v - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / den);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Microseconds per launch: `launch(copy)` for every copy captured in one
/// graph, the median of its timed replays divided by the copies. NaN if a
/// launch fails.
double timeRotated(const std::function<cudaError_t(int, cudaStream_t)> &launch,
                   int copies, cudaStream_t stream, int replays = 25) {
  cudaGraph_t graph;
  CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  cudaError_t err = cudaSuccess;
  for (int c = 0; c < copies && err == cudaSuccess; ++c)
    err = launch(c, stream);
  CHECK(cudaStreamEndCapture(stream, &graph));
  if (err != cudaSuccess) {
    cudaGraphDestroy(graph);
    cudaGetLastError();
    return NAN;
  }
  cudaGraphExec_t exec;
  CHECK(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 3; ++i)
    CHECK(cudaGraphLaunch(exec, stream));
  std::vector<double> us;
  for (int i = 0; i < replays; ++i) {
    CHECK(cudaEventRecord(start, stream));
    CHECK(cudaGraphLaunch(exec, stream));
    CHECK(cudaEventRecord(stop, stream));
    CHECK(cudaEventSynchronize(stop));
    float ms;
    CHECK(cudaEventElapsedTime(&ms, start, stop));
    us.push_back(ms * 1000.0 / copies);
  }
  CHECK(cudaEventDestroy(start));
  CHECK(cudaEventDestroy(stop));
  CHECK(cudaGraphExecDestroy(exec));
  CHECK(cudaGraphDestroy(graph));
  return median(us);
}

__global__ void copyKernel(const uint4 *a, uint4 *b, size_t n) {
  size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
       i < n; i += 4 * stride) {
    uint4 v[4];
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if (i + j * stride < n)
        v[j] = a[i + j * stride];
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if (i + j * stride < n)
        b[i + j * stride] = v[j];
  }
}

__global__ void readKernel(const uint4 *a, size_t n, unsigned *sink) {
  size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  unsigned acc = 0;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
       i < n; i += 4 * stride) {
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if (i + j * stride < n) {
        uint4 v = a[i + j * stride];
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
      }
  }
  if (acc == 0x12345678u)
    *sink = acc;
}

/// Device-to-device copy bandwidth through a kernel (bytes read plus bytes
/// written) and through cudaMemcpyAsync, and read-only bandwidth.
void bandwidths(cudaStream_t stream, int sms, double *copyKernelBw,
                double *memcpyBw, double *readBw) {
  const size_t bytes = size_t(1) << 30, n = bytes / 16;
  void *a, *b;
  CHECK(cudaMalloc(&a, bytes));
  CHECK(cudaMalloc(&b, bytes));
  CHECK(cudaMemset(a, 1, bytes));
  double us = timeRotated(
      [&](int, cudaStream_t s) {
        copyKernel<<<sms * 8, 256, 0, s>>>(static_cast<const uint4 *>(a),
                                           static_cast<uint4 *>(b), n);
        return cudaGetLastError();
      },
      1, stream, 15);
  *copyKernelBw = 2.0 * bytes / (us * 1e-6);
  us = timeRotated(
      [&](int, cudaStream_t s) {
        return cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s);
      },
      1, stream, 15);
  *memcpyBw = 2.0 * bytes / (us * 1e-6);
  us = timeRotated(
      [&](int, cudaStream_t s) {
        readKernel<<<sms * 8, 256, 0, s>>>(static_cast<const uint4 *>(a), n,
                                           static_cast<unsigned *>(b));
        return cudaGetLastError();
      },
      1, stream, 15);
  *readBw = bytes / (us * 1e-6);
  CHECK(cudaFree(a));
  CHECK(cudaFree(b));
}

struct Row {
  int n, k, m;
  double ours, oursErr, best, bestErr, cublas, cublasErr, floorUs, oursPdl,
      bestPdl, readUs;
  std::string bestName;
};

struct Shape {
  int n, k;
};

} // namespace

/// One launch of each kernel worth a look, for ncu (--profile): no graphs,
/// no checks.
int profile(cudaStream_t stream, cublasHandle_t blas, int sms) {
  const int n = 11008, k = 4096, groups = k / 128;
  Rng rng{42};
  std::vector<uint8_t> codes(static_cast<size_t>(n) * k / 2);
  std::vector<float> scales(static_cast<size_t>(n) * groups);
  for (auto &c : codes)
    c = static_cast<uint8_t>(rng.next() >> 56);
  for (auto &v : scales)
    v = rng.uniform(0.005f, 0.015f);
  PackedInt4Weight w;
  CHECK(packInt4Weights(codes.data(), scales.data(), n, k, &w));
  std::vector<__half> hx(static_cast<size_t>(128) * k);
  for (auto &v : hx)
    v = __float2half(rng.uniform(-1.0f, 1.0f));
  __half *x, *y, *wh;
  CHECK(cudaMalloc(&x, hx.size() * 2));
  CHECK(cudaMalloc(&y, static_cast<size_t>(128) * n * 2));
  CHECK(cudaMalloc(&wh, static_cast<size_t>(n) * k * 2));
  CHECK(cudaMemset(wh, 0x11, static_cast<size_t>(n) * k * 2));
  CHECK(cudaMemcpy(x, hx.data(), hx.size() * 2, cudaMemcpyHostToDevice));
  struct Item {
    const char *variant;
    int m, split;
  };
  const Item items[] = {{"s1w8d2", 1, 1},    {"s1w8d2e", 1, 1},
                        {"s1w8d2f", 1, 1},   {"t8x1s1t2p4e", 16, 0},
                        {"q2w16d2f", 16, 0}, {"t4x1s2t8p3", 128, 0}};
  for (const Item &it : items) {
    int v = -1;
    for (int i = 0; i < int4VariantCount(); ++i)
      if (strcmp(int4VariantInfo(i).name, it.variant) == 0)
        v = i;
    Int4LaunchOptions opt;
    opt.kSplit = it.split;
    cudaError_t err = int4LinearVariant(x, w, y, it.m, v, opt, stream);
    printf("profile %s M=%d: %s\n", it.variant, it.m, cudaGetErrorString(err));
  }
  readKernel<<<sms * 8, 256, 0, stream>>>(w.codes,
                                          static_cast<size_t>(n) * k / 32,
                                          reinterpret_cast<unsigned *>(y));
  const float one = 1.0f, zero = 0.0f;
  for (int m : {1, 128})
    CHECK_BLAS(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, wh,
                            CUDA_R_16F, k, x, CUDA_R_16F, k, &zero, y,
                            CUDA_R_16F, n, CUBLAS_COMPUTE_32F,
                            CUBLAS_GEMM_DEFAULT));
  CHECK(cudaStreamSynchronize(stream));
  freeInt4Weights(&w);
  return 0;
}

int main(int argc, char **argv) {
  bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  bool profiling = argc > 1 && strcmp(argv[1], "--profile") == 0;
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  printf("device: %s, %d SMs, L2 %d MB, cc %d.%d\n", prop.name,
         prop.multiProcessorCount, prop.l2CacheSize >> 20, prop.major,
         prop.minor);
  cudaStream_t stream;
  CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cublasHandle_t blas;
  CHECK_BLAS(cublasCreate(&blas));
  CHECK_BLAS(cublasSetStream(blas, stream));
  void *blasWorkspace;
  const size_t blasWorkspaceBytes = 64 << 20;
  CHECK(cudaMalloc(&blasWorkspace, blasWorkspaceBytes));
  CHECK_BLAS(cublasSetWorkspace(blas, blasWorkspace, blasWorkspaceBytes));

  if (profiling)
    return profile(stream, blas, prop.multiProcessorCount);
  double bandwidth, memcpyBw, readBw;
  bandwidths(stream, prop.multiProcessorCount, &bandwidth, &memcpyBw, &readBw);
  printf("copy bandwidth (read + write): kernel %.2f TB/s, cudaMemcpy %.2f "
         "TB/s; read-only %.2f TB/s\n",
         bandwidth / 1e12, memcpyBw / 1e12, readBw / 1e12);

  const std::vector<Shape> shapes = {
      {4096, 4096}, {11008, 4096}, {4096, 11008}};
  const std::vector<int> timedM = {1, 16, 128};
  const std::vector<int> checkedOnlyM = {3, 8, 24, 33, 77};
  const std::vector<int> splits = {0, 1, 2, 3, 4, 6, 8};
  std::vector<Row> rows;
  bool failed = false;
  Rng rng{0x9e3779b97f4a7c15ull};

  for (const Shape &shape : shapes) {
    const int n = shape.n, k = shape.k, groups = k / 128;
    std::vector<uint8_t> codes(static_cast<size_t>(n) * k / 2);
    std::vector<float> scales(static_cast<size_t>(n) * groups);
    std::vector<__half> x(static_cast<size_t>(kRefMaxM) * k);
    for (auto &c : codes)
      c = static_cast<uint8_t>(rng.next() >> 56);
    for (auto &s : scales)
      s = rng.uniform(0.5f, 1.5f) * 0.01f;
    for (auto &v : x)
      v = __float2half(rng.uniform(-1.0f, 1.0f));

    PackedInt4Weight w0;
    CHECK(packInt4Weights(codes.data(), scales.data(), n, k, &w0));
    const size_t codeBytes = static_cast<size_t>(n) * k / 2,
                 scaleBytes = static_cast<size_t>(n) * groups * 2;
    const double weightBytes = codeBytes + scaleBytes;
    const int copies =
        std::max(2, static_cast<int>(std::ceil(kRotateBytes / weightBytes)));
    std::vector<PackedInt4Weight> ws(copies, w0);
    for (int c = 1; c < copies; ++c) {
      CHECK(cudaMalloc(&ws[c].codes, codeBytes));
      CHECK(cudaMalloc(&ws[c].scales, scaleBytes));
      CHECK(cudaMemcpy(ws[c].codes, w0.codes, codeBytes,
                       cudaMemcpyDeviceToDevice));
      CHECK(cudaMemcpy(ws[c].scales, w0.scales, scaleBytes,
                       cudaMemcpyDeviceToDevice));
    }

    // Reference and cuBLAS weights from the dialect's layout.
    uint8_t *dCodes;
    float *dScales, *wf;
    __half *dx, *dy;
    double *dRef;
    CHECK(cudaMalloc(&dCodes, codeBytes));
    CHECK(cudaMalloc(&dScales, scales.size() * sizeof(float)));
    CHECK(cudaMalloc(&wf, static_cast<size_t>(n) * k * sizeof(float)));
    CHECK(cudaMalloc(&dx, x.size() * sizeof(__half)));
    CHECK(cudaMalloc(&dy, static_cast<size_t>(kRefMaxM) * n * sizeof(__half)));
    CHECK(
        cudaMalloc(&dRef, static_cast<size_t>(kRefMaxM) * n * sizeof(double)));
    CHECK(cudaMemcpy(dCodes, codes.data(), codeBytes, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(dScales, scales.data(), scales.size() * sizeof(float),
                     cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(dx, x.data(), x.size() * sizeof(__half),
                     cudaMemcpyHostToDevice));
    const size_t whBytes = static_cast<size_t>(n) * k * sizeof(__half);
    const int copies16 =
        std::max(2, static_cast<int>(std::ceil(kRotateBytes / whBytes)));
    std::vector<__half *> wh(copies16);
    for (auto &p : wh)
      CHECK(cudaMalloc(&p, whBytes));
    size_t elems = static_cast<size_t>(n) * k;
    dequantKernel<<<(elems + 255) / 256, 256, 0, stream>>>(dCodes, dScales, n,
                                                           k, wf, wh[0]);
    CHECK(cudaGetLastError());
    referenceKernel<<<(n + 31) / 32, kRefMaxM, 0, stream>>>(dx, wf, kRefMaxM, n,
                                                            k, dRef);
    CHECK(cudaGetLastError());
    CHECK(cudaStreamSynchronize(stream));
    for (int c = 1; c < copies16; ++c)
      CHECK(cudaMemcpy(wh[c], wh[0], whBytes, cudaMemcpyDeviceToDevice));
    std::vector<double> ref(static_cast<size_t>(kRefMaxM) * n);
    CHECK(cudaMemcpy(ref.data(), dRef, ref.size() * sizeof(double),
                     cudaMemcpyDeviceToHost));
    std::vector<__half> y(ref.size());

    // Runs `launch` on poisoned output and returns its relative error.
    auto check = [&](int m,
                     const std::function<cudaError_t(cudaStream_t)> &launch,
                     bool *launched) -> double {
      CHECK(cudaMemsetAsync(dy, 0xff, static_cast<size_t>(m) * n * 2, stream));
      cudaError_t err = launch(stream);
      *launched = err == cudaSuccess;
      if (!*launched) {
        cudaGetLastError();
        return NAN;
      }
      CHECK(cudaStreamSynchronize(stream));
      CHECK(cudaMemcpy(y.data(), dy, static_cast<size_t>(m) * n * 2,
                       cudaMemcpyDeviceToHost));
      return relError(y, ref, m, n);
    };
    auto cublasLaunch = [&](int m, const __half *w, cudaStream_t) {
      const float one = 1.0f, zero = 0.0f;
      cublasStatus_t st =
          cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, w,
                       CUDA_R_16F, k, dx, CUDA_R_16F, k, &zero, dy, CUDA_R_16F,
                       n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
      return st == CUBLAS_STATUS_SUCCESS ? cudaSuccess : cudaErrorUnknown;
    };

    printf("\n== N x K = %d x %d: int4 %.2f MB, %d copies; fp16 %d copies\n", n,
           k, weightBytes / 1e6, copies, copies16);
    // The practical floor: a plain read of each copy's codes, same rotation.
    unsigned *sink;
    CHECK(cudaMalloc(&sink, sizeof(unsigned)));
    const double readUs = timeRotated(
        [&](int c, cudaStream_t s) {
          readKernel<<<prop.multiProcessorCount * 8, 256, 0, s>>>(
              ws[c].codes, codeBytes / 16, sink);
          return cudaGetLastError();
        },
        copies, stream);
    printf("read kernel over the codes (%.2f MB): %.2f us, %.2f TB/s\n",
           codeBytes / 1e6, readUs, codeBytes / (readUs * 1e-6) / 1e12);
    CHECK(cudaFree(sink));
    std::vector<int> allM = timedM;
    if (!quick)
      allM.insert(allM.end(), checkedOnlyM.begin(), checkedOnlyM.end());
    for (int m : allM) {
      bool timed = std::find(timedM.begin(), timedM.end(), m) != timedM.end();
      bool ok;
      double oursErr = check(
          m, [&](cudaStream_t s) { return int4Linear(dx, w0, dy, m, s); }, &ok);
      bool good = ok && oursErr <= kMaxRelError;
      printf("M=%-4d int4Linear rel.err %.2e%s\n", m, oursErr,
             good ? "" : "  <-- FAIL");
      failed |= !good;
      // The same again: a moving error is a race.
      double again = check(
          m, [&](cudaStream_t s) { return int4Linear(dx, w0, dy, m, s); }, &ok);
      // Split-K sums are added in any order: allow rounding, not more.
      if (!(std::fabs(again - oursErr) <= 0.1 * oursErr)) {
        printf("M=%-4d int4Linear error moved to %.3e  <-- FAIL (race?)\n", m,
               again);
        failed = true;
      }
      Row row{n,   k,   m, NAN, oursErr, INFINITY, NAN,
              NAN, NAN, 0, NAN, NAN,     readUs,   "-"};
      int bestVariant = -1, bestSplit = 0;
      row.floorUs = (weightBytes + 2.0 * m * (n + k)) / bandwidth * 1e6;
      for (int v = 0; v < int4VariantCount(); ++v) {
        Int4Variant info = int4VariantInfo(v);
        if (m > info.maxM)
          continue;
        for (int split : splits) {
          if (quick && split > 2)
            continue;
          Int4LaunchOptions opt;
          opt.kSplit = split;
          double err = check(
              m,
              [&](cudaStream_t s) {
                return int4LinearVariant(dx, w0, dy, m, v, opt, s);
              },
              &ok);
          if (!ok)
            continue;
          bool vGood = err <= kMaxRelError;
          failed |= !vGood;
          double us = NAN;
          if (timed)
            us = timeRotated(
                [&](int c, cudaStream_t s) {
                  return int4LinearVariant(dx, ws[c], dy, m, v, opt, s);
                },
                copies, stream);
          if (timed || !vGood)
            printf("  M=%-4d %-12s split %d: err %.2e%s  %7.2f us\n", m,
                   info.name, split, err, vGood ? "" : " <-- FAIL", us);
          if (timed && vGood && us < row.best) {
            bestVariant = v;
            bestSplit = split;
            row.best = us;
            row.bestErr = err;
            row.bestName =
                std::string(info.name) + "/k" + std::to_string(split);
          }
        }
      }
      if (!timed)
        continue;
      row.ours = timeRotated(
          [&](int c, cudaStream_t s) {
            return int4Linear(dx, ws[c], dy, m, s);
          },
          copies, stream);
      // The same with programmatic dependent launch (each call overlaps the
      // previous one's tail); checked first.
      double pdlErr = check(
          m, [&](cudaStream_t s) { return int4Linear(dx, w0, dy, m, s, true); },
          &ok);
      if (!ok || !(pdlErr <= kMaxRelError)) {
        printf("M=%-4d int4Linear with PDL: err %.2e  <-- FAIL\n", m, pdlErr);
        failed = true;
      }
      row.oursPdl = timeRotated(
          [&](int c, cudaStream_t s) {
            return int4Linear(dx, ws[c], dy, m, s, true);
          },
          copies, stream);
      if (bestVariant >= 0) {
        Int4LaunchOptions opt;
        opt.kSplit = bestSplit;
        opt.overlapPrevious = true;
        row.bestPdl = timeRotated(
            [&](int c, cudaStream_t s) {
              return int4LinearVariant(dx, ws[c], dy, m, bestVariant, opt, s);
            },
            copies, stream);
      }
      row.cublasErr = check(
          m, [&](cudaStream_t s) { return cublasLaunch(m, wh[0], s); }, &ok);
      row.cublas = timeRotated(
          [&](int c, cudaStream_t s) { return cublasLaunch(m, wh[c], s); },
          copies16, stream);
      printf("M=%-4d ours %.2f us (PDL %.2f), best %.2f us (%s; PDL %.2f), "
             "cuBLAS fp16 %.2f us (err %.2e), floor %.2f us\n",
             m, row.ours, row.oursPdl, row.best, row.bestName.c_str(),
             row.bestPdl, row.cublas, row.cublasErr, row.floorUs);
      rows.push_back(row);
    }

    for (int c = 1; c < copies; ++c) {
      CHECK(cudaFree(ws[c].codes));
      CHECK(cudaFree(ws[c].scales));
    }
    freeInt4Weights(&w0);
    for (auto p : wh)
      CHECK(cudaFree(p));
    CHECK(cudaFree(dCodes));
    CHECK(cudaFree(dScales));
    CHECK(cudaFree(wf));
    CHECK(cudaFree(dx));
    CHECK(cudaFree(dy));
    CHECK(cudaFree(dRef));
  }

  printf("\ncopy bandwidth %.2f TB/s; floor = int4 codes + fp16 scales + x + y "
         "at that rate; PDL = programmatic dependent launch\n",
         bandwidth / 1e12);
  printf("| N x K | M | ours us | ours PDL us | err | best us (variant/split) "
         "| best PDL us | cuBLAS fp16 us | err | floor us | read us | "
         "floor/ours |\n");
  printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Row &r : rows)
    printf("| %dx%d | %d | %.2f | %.2f | %.1e | %.2f (%s) | %.2f | %.2f | "
           "%.1e | %.2f | %.2f | %.0f%% |\n",
           r.n, r.k, r.m, r.ours, r.oursPdl, r.oursErr, r.best,
           r.bestName.c_str(), r.bestPdl, r.cublas, r.cublasErr, r.floorUs,
           r.readUs, 100.0 * r.floorUs / r.ours);
  if (failed)
    printf("\nFAILED: a check was above %.0e or unwritten\n", kMaxRelError);
  CHECK_BLAS(cublasDestroy(blas));
  return failed ? 1 : 0;
}
