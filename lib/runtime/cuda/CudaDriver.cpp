// Loading the CUDA driver API at run time.
#include "lib/runtime/cuda/CudaDriver.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

using namespace compress::cuda;

namespace {

/// Resolves every entry point of `api` from `library`; the name of the
/// first missing one, or empty.
std::string resolve(void *library, DriverApi &api) {
  struct Entry {
    const char *symbol;
    void **slot;
  };
  const Entry entries[] = {
      {"cuInit", reinterpret_cast<void **>(&api.init)},
      {"cuGetErrorString", reinterpret_cast<void **>(&api.getErrorString)},
      {"cuDeviceGetCount", reinterpret_cast<void **>(&api.deviceGetCount)},
      {"cuDeviceGet", reinterpret_cast<void **>(&api.deviceGet)},
      {"cuDeviceGetName", reinterpret_cast<void **>(&api.deviceGetName)},
      {"cuDevicePrimaryCtxRetain", reinterpret_cast<void **>(&api.primaryCtxRetain)},
      {"cuCtxSetCurrent", reinterpret_cast<void **>(&api.ctxSetCurrent)},
      {"cuCtxSynchronize", reinterpret_cast<void **>(&api.ctxSynchronize)},
      {"cuModuleLoadData", reinterpret_cast<void **>(&api.moduleLoadData)},
      {"cuModuleUnload", reinterpret_cast<void **>(&api.moduleUnload)},
      {"cuModuleGetFunction", reinterpret_cast<void **>(&api.moduleGetFunction)},
      {"cuMemAlloc_v2", reinterpret_cast<void **>(&api.memAlloc)},
      {"cuMemFree_v2", reinterpret_cast<void **>(&api.memFree)},
      {"cuMemcpyHtoD_v2", reinterpret_cast<void **>(&api.memcpyHtoD)},
      {"cuMemcpyDtoH_v2", reinterpret_cast<void **>(&api.memcpyDtoH)},
      {"cuLaunchKernel", reinterpret_cast<void **>(&api.launchKernel)},
      {"cuLaunchKernelEx", reinterpret_cast<void **>(&api.launchKernelEx)},
      {"cuDeviceGetAttribute", reinterpret_cast<void **>(&api.deviceGetAttribute)},
      {"cuFuncGetAttribute", reinterpret_cast<void **>(&api.funcGetAttribute)},
      {"cuStreamCreate", reinterpret_cast<void **>(&api.streamCreate)},
      {"cuStreamSynchronize", reinterpret_cast<void **>(&api.streamSynchronize)},
      {"cuMemAllocAsync", reinterpret_cast<void **>(&api.memAllocAsync)},
      {"cuMemFreeAsync", reinterpret_cast<void **>(&api.memFreeAsync)},
      {"cuMemcpyHtoDAsync_v2", reinterpret_cast<void **>(&api.memcpyHtoDAsync)},
      {"cuMemcpyDtoHAsync_v2", reinterpret_cast<void **>(&api.memcpyDtoHAsync)},
      {"cuDeviceGetDefaultMemPool", reinterpret_cast<void **>(&api.deviceGetDefaultMemPool)},
      {"cuMemPoolSetAttribute", reinterpret_cast<void **>(&api.memPoolSetAttribute)},
      {"cuMemHostAlloc", reinterpret_cast<void **>(&api.memHostAlloc)},
      {"cuMemFreeHost", reinterpret_cast<void **>(&api.memFreeHost)},
      {"cuMemcpyDtoDAsync_v2", reinterpret_cast<void **>(&api.memcpyDtoDAsync)},
      {"cuStreamBeginCapture_v2", reinterpret_cast<void **>(&api.streamBeginCapture)},
      {"cuStreamEndCapture", reinterpret_cast<void **>(&api.streamEndCapture)},
      {"cuGraphInstantiateWithFlags", reinterpret_cast<void **>(&api.graphInstantiateWithFlags)},
      {"cuGraphLaunch", reinterpret_cast<void **>(&api.graphLaunch)},
      {"cuGraphExecDestroy", reinterpret_cast<void **>(&api.graphExecDestroy)},
      {"cuGraphDestroy", reinterpret_cast<void **>(&api.graphDestroy)},
  };
  for (const Entry &e : entries)
    if (!(*e.slot = dlsym(library, e.symbol)))
      return e.symbol;
  return "";
}

DriverApi api;

} // namespace

std::string compress::cuda::describe(CUresult result, const std::string &what) {
  if (result == 0)
    return "";
  const char *message = nullptr;
  if (api.getErrorString)
    api.getErrorString(result, &message);
  return what + " failed: CUDA error " + std::to_string(result) +
         (message ? std::string(" (") + message + ")" : std::string());
}

const DriverApi *compress::cuda::loadDriver(std::string &error) {
  static std::string failure;
  static std::once_flag loaded;
  std::call_once(loaded, [] {
    void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
      failure = std::string("cannot load the CUDA driver (libcuda.so.1: no NVIDIA driver "
                            "installed?): ") +
                dlerror();
      return;
    }
    std::string missing = resolve(library, api);
    if (!missing.empty()) {
      failure = "the CUDA driver (libcuda.so.1) has no " + missing + ": driver too old";
      return;
    }
    failure = describe(api.init(0), "cuInit");
  });
  error = failure;
  return failure.empty() ? &api : nullptr;
}
