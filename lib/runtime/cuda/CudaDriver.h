// The CUDA driver API, loaded at run time (dlopen of libcuda.so.1), so that
// the project builds and its CPU tools run where no NVIDIA driver is
// installed: only code that asks for a GPU needs one, and is told plainly
// when there is none. Declares the few driver types it uses itself (their
// ABI is the driver's, stable since CUDA 4), so no toolkit header is needed.
// No MLIR or LLVM: compiled CUDA artifacts link it.
#ifndef COMPRESS_LIB_RUNTIME_CUDA_CUDADRIVER_H
#define COMPRESS_LIB_RUNTIME_CUDA_CUDADRIVER_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace compress::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUmemoryPool = struct CUmemPoolHandle_st *;
using CUgraph = struct CUgraph_st *;
using CUgraphExec = struct CUgraphExec_st *;
/// CUmemPool_attribute's CU_MEMPOOL_ATTR_RELEASE_THRESHOLD (a cuuint64_t).
inline constexpr int kMemPoolReleaseThreshold = 4;
/// CUstreamCaptureMode's CU_STREAM_CAPTURE_MODE_RELAXED: the capturing
/// thread may still call cuMemAlloc (status slots, below).
inline constexpr int kStreamCaptureModeRelaxed = 2;
/// CUgraphInstantiate_flags' CU_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH:
/// a launch frees what the last one allocated and nobody freed.
inline constexpr unsigned long long kGraphInstantiateAutoFreeOnLaunch = 1;

/// CUdevice_attribute's CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR.
inline constexpr int kDeviceAttributeComputeCapabilityMajor = 75;
/// CUfunction_attribute's CU_FUNC_ATTRIBUTE_PTX_VERSION (major * 10 + minor).
inline constexpr int kFunctionAttributePtxVersion = 5;
/// CUlaunchAttributeID's CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION.
inline constexpr int kLaunchAttributeProgrammaticStreamSerialization = 6;

/// CUlaunchAttribute: an id, padded to 8 bytes, and a 64-byte value union
/// whose first int is the programmatic serialization flag.
struct LaunchAttribute {
  int id;
  char pad[4];
  union {
    char bytes[64];
    int programmaticStreamSerializationAllowed;
  } value;
};

/// CUlaunchConfig.
struct LaunchConfig {
  unsigned gridX, gridY, gridZ;
  unsigned blockX, blockY, blockZ;
  unsigned sharedBytes;
  CUstream stream;
  LaunchAttribute *attributes;
  unsigned attributeCount;
};

/// The driver's entry points this project calls (the _v2 ABI where the
/// driver has one).
struct DriverApi {
  CUresult (*init)(unsigned flags);
  CUresult (*getErrorString)(CUresult, const char **);
  CUresult (*deviceGetCount)(int *);
  CUresult (*deviceGet)(CUdevice *, int ordinal);
  CUresult (*deviceGetName)(char *, int length, CUdevice);
  CUresult (*primaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*ctxSetCurrent)(CUcontext);
  CUresult (*ctxSynchronize)();
  CUresult (*moduleLoadData)(CUmodule *, const void *image);
  CUresult (*moduleUnload)(CUmodule);
  CUresult (*moduleGetFunction)(CUfunction *, CUmodule, const char *name);
  CUresult (*memAlloc)(CUdeviceptr *, size_t);
  CUresult (*memFree)(CUdeviceptr);
  CUresult (*memcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*memcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*launchKernel)(CUfunction, unsigned gridX, unsigned gridY, unsigned gridZ,
                           unsigned blockX, unsigned blockY, unsigned blockZ,
                           unsigned sharedBytes, CUstream, void **params, void **extra);
  CUresult (*launchKernelEx)(const LaunchConfig *, CUfunction, void **params, void **extra);
  CUresult (*deviceGetAttribute)(int *, int attribute, CUdevice);
  CUresult (*funcGetAttribute)(int *, int attribute, CUfunction);
  CUresult (*streamCreate)(CUstream *, unsigned flags);
  CUresult (*streamSynchronize)(CUstream);
  CUresult (*memAllocAsync)(CUdeviceptr *, size_t, CUstream);
  CUresult (*memFreeAsync)(CUdeviceptr, CUstream);
  CUresult (*memcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
  CUresult (*memcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
  CUresult (*deviceGetDefaultMemPool)(CUmemoryPool *, CUdevice);
  CUresult (*memPoolSetAttribute)(CUmemoryPool, int attribute, void *value);
  CUresult (*memHostAlloc)(void **, size_t, unsigned flags);
  CUresult (*memFreeHost)(void *);
  CUresult (*memcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*streamBeginCapture)(CUstream, int mode);
  CUresult (*streamEndCapture)(CUstream, CUgraph *);
  CUresult (*graphInstantiateWithFlags)(CUgraphExec *, CUgraph, unsigned long long flags);
  CUresult (*graphLaunch)(CUgraphExec, CUstream);
  CUresult (*graphExecDestroy)(CUgraphExec);
  CUresult (*graphDestroy)(CUgraph);
};

/// The driver, loaded and initialised once per process; null with `error`
/// saying why not (no libcuda.so.1: no NVIDIA driver; a missing entry
/// point; or cuInit's own error, e.g. no device).
const DriverApi *loadDriver(std::string &error);

/// "`what` failed: CUDA error N (message)", or empty when `result` is
/// CUDA_SUCCESS (0).
std::string describe(CUresult result, const std::string &what);

} // namespace compress::cuda

#endif
