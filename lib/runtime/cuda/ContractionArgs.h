// The arguments of the CUDA target's matrix product, shared by its kernel
// (Contraction.cu, nvcc) and the host code that launches it
// (DeviceRuntime.cpp): compress_rt_contract_f32's, in its order
// (lib/runtime/cpu/Contraction.h). Addresses are device pointers.
#ifndef COMPRESS_LIB_RUNTIME_CUDA_CONTRACTIONARGS_H
#define COMPRESS_LIB_RUNTIME_CUDA_CONTRACTIONARGS_H

struct ContractionArgs {
  long long b0, b1, b2, m, n, k;
  long long a, ab0, ab1, ab2, am, ak;
  long long b, bb0, bb1, bb2, bk, bn;
  long long c, cb0, cb1, cb2, cm, cn;
};

#endif
