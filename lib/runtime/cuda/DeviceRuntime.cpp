// The CUDA target's run-time support over the driver API (CudaDriver.h).
#include "lib/runtime/cuda/DeviceRuntime.h"

#include "compress/compress_runtime.h"

#include "lib/runtime/cpu/RunChecks.h"
#include "lib/runtime/cuda/ContractionArgs.h"
#include "lib/runtime/cuda/CublasLt.h"
#include "lib/runtime/cuda/CudaDriver.h"
#include "lib/runtime/cuda/QuantizedLinear.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <vector>

using namespace compress::cuda;

namespace {

struct State {
  std::mutex mutex;
  int ordinal = 0;
  bool started = false;
  std::string startError;
  const DriverApi *cu = nullptr;
  CUcontext context = nullptr;
  CUstream stream = nullptr;
  /// The first failure of compiled code since finishRun() last reported.
  std::string runError;
  /// The sizes of upload()'s buffers (weights, inputs): kernels may keep
  /// repacked copies of weights inside them until they are released.
  std::map<void *, size_t> uploads;
  /// Page-locked host memory that inputs and results pass through: a copy
  /// from pageable memory is staged by the driver in small pieces, at a
  /// fraction of the bus's speed. Grown on demand; guarded by copyMutex.
  std::mutex copyMutex;
  void *pinned = nullptr;
  size_t pinnedBytes = 0;
  /// Whether compiled code of this process has read device memory on the
  /// host (compress_cuda_copy_to_host): its work depends on values a graph
  /// would not read again, so no graph is recorded from then on.
  bool hostRead = false;
  /// The graph being recorded (beginCapture() .. endCapture()), else null.
  struct Graph *capturing = nullptr;
  /// Whether kernels are launched as programmatic dependent launches: the
  /// device is of compute capability 9.0 or later and COMPRESS_CUDA_PDL is
  /// not 0. Only kernels in `waitingKernels` are.
  bool programmaticLaunch = false;
  /// Kernels compiled for compute capability 9.0 or later (PTX version):
  /// compress-gpu-programmatic-launch and Contraction.cu open each with
  /// griddepcontrol.wait, so they may start before the kernel they follow
  /// has finished.
  std::set<CUfunction> waitingKernels;
};

/// A recorded run: the executable graph and the device slots its index
/// checks' status words are copied to (read after each launch).
struct Graph {
  CUgraphExec exec = nullptr;
  std::vector<CUdeviceptr> statusSlots;
  /// Why the recording cannot be replayed ("" when it can).
  std::string broken;
};

State &state() {
  static State s;
  return s;
}

/// Copies from kMinPinnedBytes go through the pinned buffer (below, the
/// driver's own staging costs little); those over kMaxPinnedBytes (a
/// weights file, uploaded once) go directly rather than pin that much.
constexpr size_t kMinPinnedBytes = 64 << 10, kMaxPinnedBytes = 32 << 20;

/// The pinned buffer, at least `bytes` long, or null (the copy then goes
/// directly from pageable memory). The caller holds s.copyMutex.
void *pinnedBuffer(const DriverApi *cu, size_t bytes) {
  State &s = state();
  if (bytes < kMinPinnedBytes || bytes > kMaxPinnedBytes)
    return nullptr;
  if (s.pinnedBytes < bytes) {
    if (s.pinned)
      cu->memFreeHost(s.pinned);
    s.pinned = nullptr;
    s.pinnedBytes = 0;
    size_t grown = std::max(bytes, size_t(1) << 20);
    if (cu->memHostAlloc(&s.pinned, grown, 0) != 0)
      return s.pinned = nullptr;
    s.pinnedBytes = grown;
  }
  return s.pinned;
}

/// Starts the device once (driver, primary context, the stream) and makes
/// its context current on this thread; null with `error` set when it cannot.
const DriverApi *start(std::string &error) {
  State &s = state();
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (!s.started) {
      s.started = true;
      s.cu = loadDriver(s.startError);
      CUdevice device = 0;
      if (s.cu) {
        s.startError = describe(s.cu->deviceGet(&device, s.ordinal),
                                "cuDeviceGet(" + std::to_string(s.ordinal) + ")");
        if (s.startError.empty())
          s.startError = describe(s.cu->primaryCtxRetain(&s.context, device),
                                  "cuDevicePrimaryCtxRetain");
        if (s.startError.empty())
          s.startError = describe(s.cu->ctxSetCurrent(s.context), "cuCtxSetCurrent");
        if (s.startError.empty())
          s.startError = describe(s.cu->streamCreate(&s.stream, /*CU_STREAM_NON_BLOCKING=*/1),
                                  "cuStreamCreate");
        // Stream-ordered allocations come from the device's default pool,
        // which by default gives its memory back at every synchronisation:
        // each run would map its buffers anew (measured: about 1 ms a run
        // of a Llama-width MLP). Keep what the pool holds instead.
        CUmemoryPool pool = nullptr;
        if (s.startError.empty())
          s.startError = describe(s.cu->deviceGetDefaultMemPool(&pool, device),
                                  "cuDeviceGetDefaultMemPool");
        uint64_t keepAll = UINT64_MAX;
        if (s.startError.empty())
          s.startError = describe(
              s.cu->memPoolSetAttribute(pool, kMemPoolReleaseThreshold, &keepAll),
              "cuMemPoolSetAttribute(CU_MEMPOOL_ATTR_RELEASE_THRESHOLD)");
        int major = 0;
        if (s.startError.empty())
          s.startError = describe(s.cu->deviceGetAttribute(
                                      &major, kDeviceAttributeComputeCapabilityMajor, device),
                                  "cuDeviceGetAttribute(compute capability)");
        const char *pdl = std::getenv("COMPRESS_CUDA_PDL");
        s.programmaticLaunch = major >= 9 && !(pdl && std::string(pdl) == "0");
      }
    }
    if (!s.startError.empty()) {
      error = s.startError;
      return nullptr;
    }
  }
  thread_local CUcontext current = nullptr;
  if (current != s.context) {
    error = describe(s.cu->ctxSetCurrent(s.context), "cuCtxSetCurrent");
    if (!error.empty())
      return nullptr;
    current = s.context;
  }
  return s.cu;
}

/// Compiled code cannot be handed an error: the first one is kept for
/// finishRun().
void recordRunError(const std::string &error) {
  if (error.empty())
    return;
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.runError.empty())
    s.runError = error;
}

/// A module of compiled code: its image, loaded on first use.
struct LazyModule {
  const void *image;
  CUmodule loaded = nullptr;
  std::map<std::string, CUfunction> functions;
};

} // namespace

std::string compress::cuda::selectDevice(int ordinal) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.started && ordinal != s.ordinal)
    return "the GPU is already in use as device " + std::to_string(s.ordinal) +
           "; device " + std::to_string(ordinal) + " must be chosen before the first run";
  s.ordinal = ordinal;
  return "";
}

std::string compress::cuda::deviceName(std::string &error) {
  const DriverApi *cu = start(error);
  if (!cu)
    return "";
  CUdevice device = 0;
  char name[256] = {};
  error = describe(cu->deviceGet(&device, state().ordinal), "cuDeviceGet");
  if (error.empty())
    error = describe(cu->deviceGetName(name, sizeof(name), device), "cuDeviceGetName");
  return error.empty() ? name : "";
}

namespace {
/// Copies `bytes` from the host into `device` through the pinned staging
/// buffer, and waits: the host buffer (and the pinned one) may change once
/// it returns.
std::string copyToDevice(const DriverApi *cu, CUdeviceptr device, const void *host, size_t bytes) {
  std::lock_guard<std::mutex> lock(state().copyMutex);
  void *staging = pinnedBuffer(cu, bytes);
  if (staging)
    std::memcpy(staging, host, bytes);
  std::string error;
  if (bytes)
    error = describe(cu->memcpyHtoDAsync(device, staging ? staging : host, bytes, state().stream),
                     "cuMemcpyHtoDAsync");
  if (error.empty())
    error = describe(cu->streamSynchronize(state().stream), "cuStreamSynchronize");
  return error;
}
} // namespace

std::string compress::cuda::upload(void **device, const void *host, size_t bytes) {
  std::string error;
  const DriverApi *cu = start(error);
  if (!cu)
    return error;
  CUdeviceptr pointer = 0;
  error = describe(cu->memAllocAsync(&pointer, bytes ? bytes : 1, state().stream),
                   "cuMemAllocAsync(" + std::to_string(bytes) + " bytes)");
  if (error.empty())
    error = copyToDevice(cu, pointer, host, bytes);
  *device = reinterpret_cast<void *>(pointer);
  if (error.empty()) {
    std::lock_guard<std::mutex> lock(state().mutex);
    state().uploads[*device] = bytes;
  }
  return error;
}

std::string compress::cuda::download(void *host, const void *device, size_t bytes) {
  std::string error;
  const DriverApi *cu = start(error);
  if (!cu)
    return error;
  std::lock_guard<std::mutex> lock(state().copyMutex);
  void *staging = pinnedBuffer(cu, bytes);
  if (bytes)
    error = describe(cu->memcpyDtoHAsync(staging ? staging : host,
                                         reinterpret_cast<CUdeviceptr>(device), bytes,
                                         state().stream),
                     "cuMemcpyDtoHAsync");
  if (error.empty())
    error = describe(cu->streamSynchronize(state().stream), "cuStreamSynchronize");
  if (error.empty() && staging)
    std::memcpy(host, staging, bytes);
  return error;
}

void compress::cuda::release(void *device) {
  size_t uploaded = 0;
  {
    std::lock_guard<std::mutex> lock(state().mutex);
    if (auto at = state().uploads.find(device); at != state().uploads.end()) {
      uploaded = at->second;
      state().uploads.erase(at);
    }
  }
  if (uploaded)
    forgetPackedWeights(device, uploaded);
  std::string error;
  const DriverApi *cu = start(error);
  if (cu && device)
    error = describe(cu->memFreeAsync(reinterpret_cast<CUdeviceptr>(device), state().stream),
                     "cuMemFreeAsync");
  recordRunError(error);
}

std::string compress::cuda::finishRun() {
  std::string error;
  if (const DriverApi *cu = start(error))
    error = describe(cu->streamSynchronize(state().stream), "running the compiled kernels");
  recordRunError(error);
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  std::string first;
  std::swap(first, s.runError);
  return first;
}

std::string compress::cuda::copyIn(void *device, const void *host, size_t bytes) {
  std::string error;
  const DriverApi *cu = start(error);
  if (!cu)
    return error;
  return copyToDevice(cu, reinterpret_cast<CUdeviceptr>(device), host, bytes);
}

std::string compress::cuda::beginCapture() {
  std::string error;
  const DriverApi *cu = start(error);
  if (!cu)
    return error;
  State &s = state();
  if (s.hostRead)
    return "the compiled code reads device memory on the host (a shape computed at run time)";
  auto *graph = new Graph;
  error = describe(cu->streamBeginCapture(s.stream, kStreamCaptureModeRelaxed),
                   "cuStreamBeginCapture");
  if (!error.empty()) {
    delete graph;
    return error;
  }
  s.capturing = graph;
  return "";
}

void *compress::cuda::endCapture(std::string &error) {
  State &s = state();
  const DriverApi *cu = s.cu;
  Graph *graph = s.capturing;
  if (!graph) {
    error = "no CUDA graph is being recorded";
    return nullptr;
  }
  s.capturing = nullptr;
  CUgraph recorded = nullptr;
  error = describe(cu->streamEndCapture(s.stream, &recorded), "cuStreamEndCapture");
  // What compiled code reported while recording concerns work that never
  // ran: it goes with the recording.
  std::string during;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    std::swap(during, s.runError);
  }
  if (error.empty() && !graph->broken.empty())
    error = graph->broken;
  if (error.empty() && !during.empty())
    error = during;
  if (error.empty())
    error = describe(cu->graphInstantiateWithFlags(&graph->exec, recorded,
                                                   kGraphInstantiateAutoFreeOnLaunch),
                     "cuGraphInstantiateWithFlags");
  if (recorded)
    cu->graphDestroy(recorded);
  if (!error.empty()) {
    destroyGraph(graph);
    return nullptr;
  }
  return graph;
}

std::string compress::cuda::replay(void *handle) {
  auto *graph = static_cast<Graph *>(handle);
  State &s = state();
  std::string error = describe(s.cu->graphLaunch(graph->exec, s.stream), "cuGraphLaunch");
  recordRunError(error);
  error = finishRun();
  for (CUdeviceptr slot : graph->statusSlots) {
    if (!error.empty())
      break;
    int64_t status[3] = {0, 0, 0};
    error = download(status, reinterpret_cast<void *>(slot), sizeof(status));
    if (error.empty() && status[0] != 0)
      compress_rt_index_out_of_range(status[1], status[2], status[0] - 1);
  }
  return error;
}

void compress::cuda::destroyGraph(void *handle) {
  auto *graph = static_cast<Graph *>(handle);
  if (!graph)
    return;
  if (const DriverApi *cu = state().cu) {
    if (graph->exec)
      cu->graphExecDestroy(graph->exec);
    for (CUdeviceptr slot : graph->statusSlots)
      cu->memFree(slot);
  }
  delete graph;
}

void *compress_cuda_alloc(uint64_t bytes) {
  std::string error;
  const DriverApi *cu = start(error);
  CUdeviceptr pointer = 0;
  if (cu)
    error = describe(cu->memAllocAsync(&pointer, bytes ? bytes : 1, state().stream),
                     "cuMemAllocAsync(" + std::to_string(bytes) + " bytes)");
  recordRunError(error);
  return reinterpret_cast<void *>(pointer);
}

// Stream-ordered allocations are aligned to at least 256 bytes, more than
// any alignment compiled code asks for.
void *compress_cuda_aligned_alloc(uint64_t alignment, uint64_t bytes) {
  if (alignment > 256) {
    recordRunError("compiled code asked for " + std::to_string(alignment) +
                   "-byte aligned device memory; the runtime gives 256");
    return nullptr;
  }
  return compress_cuda_alloc(bytes);
}

void compress_cuda_free(void *device) { compress::cuda::release(device); }

void compress_cuda_index_status(int64_t *, int64_t *aligned, int64_t offset, int64_t,
                                int64_t) {
  State &s = state();
  if (Graph *graph = s.capturing) {
    // Recorded: the status goes to a slot of the graph's own, read after
    // each launch (the buffer itself is freed inside the graph).
    CUdeviceptr slot = 0;
    std::string error = describe(s.cu->memAlloc(&slot, 3 * sizeof(int64_t)), "cuMemAlloc");
    if (error.empty()) {
      graph->statusSlots.push_back(slot);
      error = describe(s.cu->memcpyDtoDAsync(slot, reinterpret_cast<CUdeviceptr>(aligned + offset),
                                             3 * sizeof(int64_t), s.stream),
                       "cuMemcpyDtoDAsync");
    }
    if (!error.empty() && graph->broken.empty())
      graph->broken = error;
    return;
  }
  int64_t status[3] = {0, 0, 0};
  std::string error = download(status, aligned + offset, sizeof(status));
  recordRunError(error);
  if (error.empty() && status[0] != 0)
    compress_rt_index_out_of_range(status[1], status[2], status[0] - 1);
}

void compress_cuda_copy_to_host(int64_t host, int64_t device, int64_t bytes) {
  State &s = state();
  s.hostRead = true;
  if (Graph *graph = s.capturing) {
    // Nothing has run: there is no value to read. Zeros keep the host code
    // on a short path to the end of the (dropped) recording.
    std::memset(reinterpret_cast<void *>(host), 0, size_t(bytes));
    if (graph->broken.empty())
      graph->broken = "the compiled code reads device memory on the host";
    return;
  }
  recordRunError(download(reinterpret_cast<void *>(host), reinterpret_cast<const void *>(device),
                          size_t(bytes)));
}

// The runtime's own kernels (Contraction.cu), embedded as a fatbin.
extern "C" const unsigned char compress_cuda_contraction_image[];

namespace {
/// The product on cuBLASLt where it is there and takes the operands, else on
/// Contraction.cu's kernels (in float32 whatever `halfPrecision` asks).
void contract(const ContractionArgs &args, bool halfPrecision) {
  if (args.m <= 0 || args.n <= 0 || args.k <= 0 || args.b0 * args.b1 * args.b2 <= 0)
    return;
  std::string error;
  if (!start(error)) {
    recordRunError(error);
    return;
  }
  if (cublasLtContract(args, halfPrecision, state().stream, error)) {
    recordRunError(error);
    return;
  }
  if (args.b0 * args.b1 * args.b2 > 65535) {
    recordRunError("a matrix product of " + std::to_string(args.b0 * args.b1 * args.b2) +
                   " batches: the GPU kernel takes at most 65535");
    return;
  }
  static void *module = mgpuModuleLoad(const_cast<unsigned char *>(compress_cuda_contraction_image), 0);
  ContractionArgs copy = args;
  void *params[] = {&copy};
  // A few rows against a weight whose k is contiguous: a warp per column
  // (Contraction.cu's kMaxRows, 8 warps a block).
  if (args.m <= 4 && args.bk == 1) {
    mgpuLaunchKernel(mgpuModuleGetFunction(module, "compress_contract_rows_f32"),
                     (args.n + 7) / 8, 1, args.b0 * args.b1 * args.b2, 256, 1, 1, 0, nullptr,
                     params, nullptr, 1);
    return;
  }
  constexpr int64_t tile = 64;
  mgpuLaunchKernel(mgpuModuleGetFunction(module, "compress_contract_f32"),
                   (args.n + tile - 1) / tile, (args.m + tile - 1) / tile,
                   args.b0 * args.b1 * args.b2, 256, 1, 1, 0, nullptr, params, nullptr, 1);
}
} // namespace

void compress_cuda_contract_f32(int64_t b0, int64_t b1, int64_t b2, int64_t m, int64_t n,
                                int64_t k, int64_t a, int64_t ab0, int64_t ab1, int64_t ab2,
                                int64_t am, int64_t ak, int64_t b, int64_t bb0, int64_t bb1,
                                int64_t bb2, int64_t bk, int64_t bn, int64_t c, int64_t cb0,
                                int64_t cb1, int64_t cb2, int64_t cm, int64_t cn) {
  contract({b0, b1, b2, m, n, k, a, ab0, ab1, ab2, am, ak, b, bb0, bb1, bb2, bk, bn, c, cb0, cb1,
            cb2, cm, cn},
           /*halfPrecision=*/false);
}

void compress_cuda_contract_f16(int64_t b0, int64_t b1, int64_t b2, int64_t m, int64_t n,
                                int64_t k, int64_t a, int64_t ab0, int64_t ab1, int64_t ab2,
                                int64_t am, int64_t ak, int64_t b, int64_t bb0, int64_t bb1,
                                int64_t bb2, int64_t bk, int64_t bn, int64_t c, int64_t cb0,
                                int64_t cb1, int64_t cb2, int64_t cm, int64_t cn) {
  contract({b0, b1, b2, m, n, k, a, ab0, ab1, ab2, am, ak, b, bb0, bb1, bb2, bk, bn, c, cb0, cb1,
            cb2, cm, cn},
           /*halfPrecision=*/true);
}

namespace {
void quantizedLinear(int64_t m, int64_t n, int64_t k, int64_t x, int64_t xStride, int64_t codes,
                     int64_t scales, int64_t zeros, int64_t out, int64_t outStride, int64_t bits,
                     int64_t group, int64_t int8Activations, bool halfPrecision,
                     int64_t accumulate) {
  if (m <= 0 || n <= 0)
    return;
  std::string error;
  if (!start(error)) {
    recordRunError(error);
    return;
  }
  if (int8Activations) {
    recordRunError("a quantized linear layer with int8 activations reached the CUDA runtime, "
                   "which computes weight-only layers alone");
    return;
  }
  QuantizedLinearArgs args = {m,
                              n,
                              k,
                              reinterpret_cast<const float *>(x),
                              xStride,
                              reinterpret_cast<const uint8_t *>(codes),
                              reinterpret_cast<const float *>(scales),
                              reinterpret_cast<const uint8_t *>(zeros),
                              reinterpret_cast<float *>(out),
                              outStride,
                              bits,
                              group,
                              accumulate != 0};
  if (halfPrecision && takesHalfPrecisionInt4(args)) {
    bool overlap;
    {
      std::lock_guard<std::mutex> lock(state().mutex);
      overlap = state().programmaticLaunch;
    }
    recordRunError(quantizedLinearInt4Half(args, state().stream, overlap));
    return;
  }
  // More rows: W decoded into a float32 buffer that the GEMM of the
  // layer's precision multiplies.
  recordRunError(quantizedLinearF32(args, state().stream, halfPrecision, contract));
}
} // namespace

void compress_cuda_quantized_linear_f32(int64_t m, int64_t n, int64_t k, int64_t x,
                                        int64_t xStride, int64_t codes, int64_t scales,
                                        int64_t zeros, int64_t out, int64_t outStride,
                                        int64_t bits, int64_t group, int64_t int8Activations,
                                        int64_t accumulate) {
  quantizedLinear(m, n, k, x, xStride, codes, scales, zeros, out, outStride, bits, group,
                  int8Activations, /*halfPrecision=*/false, accumulate);
}

void compress_cuda_quantized_linear_f16(int64_t m, int64_t n, int64_t k, int64_t x,
                                        int64_t xStride, int64_t codes, int64_t scales,
                                        int64_t zeros, int64_t out, int64_t outStride,
                                        int64_t bits, int64_t group, int64_t int8Activations,
                                        int64_t accumulate) {
  quantizedLinear(m, n, k, x, xStride, codes, scales, zeros, out, outStride, bits, group,
                  int8Activations, /*halfPrecision=*/true, accumulate);
}

void *mgpuModuleLoad(void *image, int64_t) { return new LazyModule{image}; }

void mgpuModuleUnload(void *module) {
  auto *lazy = static_cast<LazyModule *>(module);
  // The driver may already be gone when a process exits; nothing to report.
  if (lazy->loaded && state().cu)
    state().cu->moduleUnload(lazy->loaded);
  delete lazy;
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  auto *lazy = static_cast<LazyModule *>(module);
  std::string error;
  const DriverApi *cu = start(error);
  if (!cu) {
    recordRunError(error);
    return nullptr;
  }
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!lazy->loaded) {
    error = describe(cu->moduleLoadData(&lazy->loaded, lazy->image),
                     "loading the compiled kernels (cuModuleLoadData)");
    if (!error.empty()) {
      lazy->loaded = nullptr;
      if (s.runError.empty())
        s.runError = error;
      return nullptr;
    }
  }
  auto [at, inserted] = lazy->functions.try_emplace(name, nullptr);
  if (inserted) {
    error = describe(cu->moduleGetFunction(&at->second, lazy->loaded, name),
                     std::string("cuModuleGetFunction(") + name + ")");
    int ptxVersion = 0;
    if (error.empty())
      error = describe(cu->funcGetAttribute(&ptxVersion, kFunctionAttributePtxVersion, at->second),
                       std::string("cuFuncGetAttribute(") + name + ", PTX version)");
    if (error.empty() && ptxVersion >= 90)
      s.waitingKernels.insert(at->second);
    if (!error.empty() && s.runError.empty())
      s.runError = error;
  }
  return at->second;
}

void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                      intptr_t blockX, intptr_t blockY, intptr_t blockZ, int32_t sharedBytes,
                      void *, void **params, void **extra, int64_t) {
  // A loop over an empty tensor has no iterations: nothing to launch (the
  // driver refuses an empty grid).
  if (gridX <= 0 || gridY <= 0 || gridZ <= 0 || blockX <= 0 || blockY <= 0 || blockZ <= 0)
    return;
  std::string error;
  const DriverApi *cu = start(error);
  if (cu && !function)
    error = "a kernel could not be loaded";
  if (cu && function) {
    auto kernel = static_cast<CUfunction>(function);
    State &s = state();
    bool programmatic;
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      programmatic = s.programmaticLaunch && s.waitingKernels.count(kernel);
    }
    LaunchAttribute overlap = {};
    overlap.id = kLaunchAttributeProgrammaticStreamSerialization;
    overlap.value.programmaticStreamSerializationAllowed = 1;
    LaunchConfig config = {unsigned(gridX), unsigned(gridY), unsigned(gridZ),
                           unsigned(blockX), unsigned(blockY), unsigned(blockZ),
                           unsigned(sharedBytes), s.stream, &overlap, programmatic ? 1u : 0u};
    // A model launches thousands of kernels a run: the message is built
    // only for a failure.
    CUresult result = cu->launchKernelEx(&config, kernel, params, extra);
    if (result != 0)
      error = describe(result, "launching a kernel of " + std::to_string(gridX) + "x" +
                                   std::to_string(gridY) + "x" + std::to_string(gridZ) +
                                   " blocks");
  }
  recordRunError(error);
}

// Compiled code asks for a stream per launch and waits for it; every launch
// goes to the process's stream instead, in order, and the host waits once,
// when it reads results (download) or ends a run (finishRun).
void *mgpuStreamCreate() { return nullptr; }
void mgpuStreamDestroy(void *) {}
void mgpuStreamSynchronize(void *) {}

// Sessions of CUDA artifacts move tensors through these (compress_runtime.h).
namespace {
thread_local std::string sessionError;

const char *asCError(std::string error) {
  if (error.empty())
    return nullptr;
  sessionError = std::move(error);
  return sessionError.c_str();
}

// Named, not a lambda in the table below: GCC 12 took a local variable of
// a lambda inside that extern "C" definition for the C library's `error`
// (the H200 run crashed writing to it).
const char *endCaptureForSession(void **graph) {
  std::string error;
  *graph = endCapture(error);
  return asCError(error);
}
} // namespace

extern "C" const compress_device_memory compress_cuda_device_memory = {
    "cuda",
    [](void **device, const void *host, uint64_t bytes) {
      return asCError(upload(device, host, bytes));
    },
    [](void *host, const void *device, uint64_t bytes) {
      return asCError(download(host, device, bytes));
    },
    [](void *device) { release(device); },
    [] { return asCError(finishRun()); },
    [](void *device, const void *host, uint64_t bytes) {
      return asCError(copyIn(device, host, bytes));
    },
    [] { return asCError(beginCapture()); },
    endCaptureForSession,
    [](void *graph) { return asCError(replay(graph)); },
    [](void *graph) { destroyGraph(graph); },
};

int compress_cuda_select_device(int ordinal) { return asCError(selectDevice(ordinal)) ? -1 : 0; }
