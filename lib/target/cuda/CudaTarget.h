// The CUDA target: kernels through MLIR's gpu and nvvm dialects, assembled
// by ptxas into a cubin inside the compiled code; host code over the CUDA
// runtime (lib/runtime/cuda/DeviceRuntime.h).
#ifndef COMPRESS_LIB_TARGET_CUDA_CUDATARGET_H
#define COMPRESS_LIB_TARGET_CUDA_CUDATARGET_H

namespace compress {

/// Registers the target "cuda" (once).
void registerCudaTarget();

} // namespace compress

#endif
