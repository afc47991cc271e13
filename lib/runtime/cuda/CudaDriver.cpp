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
  };
  for (const Entry &e : entries)
    if (!(*e.slot = dlsym(library, e.symbol)))
      return e.symbol;
  return "";
}

/// `what` failed with `result`, in the driver's words when it has some.
std::string describe(const DriverApi &api, CUresult result, const llvm::Twine &what) {
  const char *message = nullptr;
  if (api.getErrorString)
    api.getErrorString(result, &message);
  return (what + " failed: CUDA error " + llvm::Twine(result) +
          (message ? llvm::Twine(" (") + message + ")" : llvm::Twine()))
      .str();
}

DriverApi api;

} // namespace

llvm::Expected<const DriverApi &> compress::cuda::driver() {
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
    if (CUresult result = api.init(0))
      failure = describe(api, result, "cuInit");
  });
  if (!failure.empty())
    return llvm::createStringError(failure);
  return api;
}

llvm::Error compress::cuda::check(CUresult result, const llvm::Twine &what) {
  if (result == 0)
    return llvm::Error::success();
  // Only code that holds the driver gets results to check.
  return llvm::createStringError(describe(api, result, what));
}
