// What compiled CUDA code calls and what engines and sessions use to move
// tensors to and from the GPU. One device and one stream per process:
// compiled code's launches, allocations and frees are all ordered on that
// stream, so the host waits only where it reads results back. No MLIR or
// LLVM: compiled CUDA artifacts link it.
#ifndef COMPRESS_LIB_RUNTIME_CUDA_DEVICERUNTIME_H
#define COMPRESS_LIB_RUNTIME_CUDA_DEVICERUNTIME_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace compress::cuda {

/// Uses device `ordinal` from now on; only before the first use of the GPU
/// (later, a different ordinal is an error). Returns an error or "".
std::string selectDevice(int ordinal);
/// The name of the device in use (starting it), or "" with `error` set.
std::string deviceName(std::string &error);

/// Copies `bytes` from the host into new device memory (`*device`).
std::string upload(void **device, const void *host, size_t bytes);
/// Copies `bytes` of device memory to the host, after all work issued so far.
std::string download(void *host, const void *device, size_t bytes);
/// Frees device memory from upload() or from compiled code, in stream order.
void release(void *device);
/// Waits for the work issued so far; returns the first failure of compiled
/// code since the last call (a launch, an allocation, a module load), or "".
std::string finishRun();

/// Copies `bytes` from the host into device memory that upload() gave.
std::string copyIn(void *device, const void *host, size_t bytes);

/// CUDA graphs: the work of one run of compiled code recorded once and
/// replayed as one launch. beginCapture() refuses once compiled code of the
/// process has read device memory on the host (a shape computed at run
/// time), which a graph cannot replay. Between beginCapture() and
/// endCapture() compiled code only records its work: nothing runs. endCapture() returns the graph ready to
/// launch, or null with `error` set (the recorded work is dropped). The
/// index checks of a captured run are copied to status slots that replay()
/// reads after the launch.
std::string beginCapture();
void *endCapture(std::string &error);
/// Launches the graph and waits for it; the first failure, as finishRun().
std::string replay(void *graph);
void destroyGraph(void *graph);

} // namespace compress::cuda

extern "C" {
/// Device allocations of compiled host code (compress-gpu-device-allocator).
void *compress_cuda_alloc(uint64_t bytes);
void *compress_cuda_aligned_alloc(uint64_t alignment, uint64_t bytes);
void compress_cuda_free(void *device);
/// Reads back the index-check status buffer of a run (compress-gpu-lower-
/// index-checks: site + 1, index, extent) and reports a failure as the CPU
/// runtime does (compress_rt_index_out_of_range). Its memref<3xi64> arrives
/// as the expanded descriptor.
void compress_cuda_index_status(int64_t *allocated, int64_t *aligned, int64_t offset,
                                int64_t size, int64_t stride);

/// Copies a small device buffer the host code reads (a shape given as an
/// input; compress-gpu-host-shapes) to host memory, after the work issued
/// so far.
void compress_cuda_copy_to_host(int64_t host, int64_t device, int64_t bytes);

/// C[b, m, n] += sum_k A[b, m, k] * B[b, k, n] on device buffers, with the
/// arguments of compress_rt_contract_f32 (compress-gpu-contraction-to-
/// kernel), in float32 on the run's stream: through cuBLASLt (CublasLt.h)
/// where it is installed, else Contraction.cu's kernels.
void compress_cuda_contract_f32(int64_t b0, int64_t b1, int64_t b2, int64_t m, int64_t n,
                                int64_t k, int64_t a, int64_t ab0, int64_t ab1, int64_t ab2,
                                int64_t am, int64_t ak, int64_t b, int64_t bb0, int64_t bb1,
                                int64_t bb2, int64_t bk, int64_t bn, int64_t c, int64_t cb0,
                                int64_t cb1, int64_t cb2, int64_t cm, int64_t cn);
/// The same where fp16 inputs are allowed (--gpu-precision=f16): cuBLASLt
/// on fp16 tensor cores (fp32 sums); without cuBLASLt, in float32.
void compress_cuda_contract_f16(int64_t b0, int64_t b1, int64_t b2, int64_t m, int64_t n,
                                int64_t k, int64_t a, int64_t ab0, int64_t ab1, int64_t ab2,
                                int64_t am, int64_t ak, int64_t b, int64_t bb0, int64_t bb1,
                                int64_t bb2, int64_t bk, int64_t bn, int64_t c, int64_t cb0,
                                int64_t cb1, int64_t cb2, int64_t cm, int64_t cn);

/// out (+)= * deq(W)^T for a weight-only quantized layer on device
/// buffers, with the arguments of compress_rt_quantized_linear_f32
/// (compress-gpu-contraction-to-kernel), in float32 (QuantizedLinear.h).
void compress_cuda_quantized_linear_f32(int64_t m, int64_t n, int64_t k, int64_t x,
                                        int64_t xStride, int64_t codes, int64_t scales,
                                        int64_t zeros, int64_t out, int64_t outStride,
                                        int64_t bits, int64_t group, int64_t int8Activations,
                                        int64_t accumulate);
/// The same where fp16 inputs are allowed (--gpu-precision=f16): layers the
/// int4 tensor-core kernel takes run there (inputs rounded to fp16, fp32
/// sums), others as compress_cuda_quantized_linear_f32.
void compress_cuda_quantized_linear_f16(int64_t m, int64_t n, int64_t k, int64_t x,
                                        int64_t xStride, int64_t codes, int64_t scales,
                                        int64_t zeros, int64_t out, int64_t outStride,
                                        int64_t bits, int64_t group, int64_t int8Activations,
                                        int64_t accumulate);

/// The entry points MLIR's gpu-to-llvm lowering calls, over the driver API:
/// modules load lazily (on the first kernel looked up), so that a binary
/// holding CUDA code loads where no GPU is; every stream is the process's
/// stream.
void *mgpuModuleLoad(void *image, int64_t bytes);
void mgpuModuleUnload(void *module);
void *mgpuModuleGetFunction(void *module, const char *name);
void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                      intptr_t blockX, intptr_t blockY, intptr_t blockZ, int32_t sharedBytes,
                      void *stream, void **params, void **extra, int64_t paramCount);
void *mgpuStreamCreate();
void mgpuStreamDestroy(void *stream);
void mgpuStreamSynchronize(void *stream);
}

#endif
