// Runs one kernel through the run-time-loaded CUDA driver (CudaDriver.h):
// PTX JIT-compiled by the driver, device memory, a launch, results checked
// against the host. Without a driver it exits 1 with the loader's message
// (test/gpu/cuda-driver-missing.test); with one it must compute the sum
// (test/gpu/cuda-driver.test, run where a GPU is).
#include "lib/runtime/cuda/CudaDriver.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <string>
#include <vector>

using namespace compress::cuda;

namespace {

/// c[i] = a[i] + b[i] for i < n (validated with ptxas for sm_75 and sm_90).
const char *kAddPtx = R"(
.version 8.0
.target sm_75
.address_size 64
.visible .entry add(.param .u64 a, .param .u64 b, .param .u64 c, .param .u32 n)
{
  .reg .pred %p;
  .reg .b32 %r<5>;
  .reg .b64 %rd<8>;
  .reg .f32 %f<4>;
  ld.param.u64 %rd1, [a];
  ld.param.u64 %rd2, [b];
  ld.param.u64 %rd3, [c];
  ld.param.u32 %r1, [n];
  mov.u32 %r2, %ctaid.x;
  mov.u32 %r3, %ntid.x;
  mov.u32 %r4, %tid.x;
  mad.lo.s32 %r2, %r2, %r3, %r4;
  setp.ge.u32 %p, %r2, %r1;
  @%p bra DONE;
  cvta.to.global.u64 %rd1, %rd1;
  cvta.to.global.u64 %rd2, %rd2;
  cvta.to.global.u64 %rd3, %rd3;
  mul.wide.u32 %rd4, %r2, 4;
  add.s64 %rd5, %rd1, %rd4;
  add.s64 %rd6, %rd2, %rd4;
  add.s64 %rd7, %rd3, %rd4;
  ld.global.f32 %f1, [%rd5];
  ld.global.f32 %f2, [%rd6];
  add.f32 %f3, %f1, %f2;
  st.global.f32 [%rd7], %f3;
DONE:
  ret;
}
)";

llvm::Error check(CUresult result, const std::string &what) {
  std::string failure = describe(result, what);
  return failure.empty() ? llvm::Error::success() : llvm::createStringError(failure);
}

llvm::Error run() {
  std::string failure;
  const DriverApi *loaded = loadDriver(failure);
  if (!loaded)
    return llvm::createStringError(failure);
  const DriverApi &cu = *loaded;
  int devices = 0;
  if (llvm::Error e = check(cu.deviceGetCount(&devices), "cuDeviceGetCount"))
    return e;
  CUdevice device;
  if (llvm::Error e = check(cu.deviceGet(&device, 0), "cuDeviceGet"))
    return e;
  char name[256] = {};
  if (llvm::Error e = check(cu.deviceGetName(name, sizeof(name), device), "cuDeviceGetName"))
    return e;
  llvm::outs() << "devices: " << devices << "; device 0: " << name << "\n";
  CUcontext context;
  if (llvm::Error e = check(cu.primaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain"))
    return e;
  if (llvm::Error e = check(cu.ctxSetCurrent(context), "cuCtxSetCurrent"))
    return e;
  CUmodule module;
  if (llvm::Error e = check(cu.moduleLoadData(&module, kAddPtx), "cuModuleLoadData"))
    return e;
  CUfunction add;
  if (llvm::Error e = check(cu.moduleGetFunction(&add, module, "add"), "cuModuleGetFunction"))
    return e;

  const unsigned n = 1u << 20;
  std::vector<float> a(n), b(n), c(n, NAN);
  for (unsigned i = 0; i < n; ++i) {
    a[i] = float(i % 1000) * 0.5f;
    b[i] = 1.0f - float(i % 7);
  }
  CUdeviceptr da, db, dc;
  for (CUdeviceptr *p : {&da, &db, &dc})
    if (llvm::Error e = check(cu.memAlloc(p, n * sizeof(float)), "cuMemAlloc"))
      return e;
  if (llvm::Error e = check(cu.memcpyHtoD(da, a.data(), n * sizeof(float)), "cuMemcpyHtoD"))
    return e;
  if (llvm::Error e = check(cu.memcpyHtoD(db, b.data(), n * sizeof(float)), "cuMemcpyHtoD"))
    return e;
  if (llvm::Error e = check(cu.memcpyHtoD(dc, c.data(), n * sizeof(float)), "cuMemcpyHtoD"))
    return e;
  unsigned count = n;
  void *params[] = {&da, &db, &dc, &count};
  if (llvm::Error e = check(cu.launchKernel(add, (n + 255) / 256, 1, 1, 256, 1, 1, 0, nullptr,
                                            params, nullptr),
                            "cuLaunchKernel"))
    return e;
  if (llvm::Error e = check(cu.ctxSynchronize(), "cuCtxSynchronize"))
    return e;
  if (llvm::Error e = check(cu.memcpyDtoH(c.data(), dc, n * sizeof(float)), "cuMemcpyDtoH"))
    return e;
  for (unsigned i = 0; i < n; ++i)
    if (c[i] != a[i] + b[i])
      return llvm::createStringError("add: element " + llvm::Twine(i) + " is " +
                                     std::to_string(c[i]) + ", expected " +
                                     std::to_string(a[i] + b[i]));
  for (CUdeviceptr p : {da, db, dc})
    if (llvm::Error e = check(cu.memFree(p), "cuMemFree"))
      return e;
  if (llvm::Error e = check(cu.moduleUnload(module), "cuModuleUnload"))
    return e;
  llvm::outs() << "add: " << n << " elements match the host\n";
  return llvm::Error::success();
}

} // namespace

int main() {
  if (llvm::Error e = run()) {
    llvm::errs() << "cuda-driver-smoke: error: " << llvm::toString(std::move(e)) << "\n";
    return 1;
  }
  return 0;
}
