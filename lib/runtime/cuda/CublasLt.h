// Dense float32 matrix products of the CUDA target through cuBLASLt, loaded
// at run time (dlopen of the toolkit's libcublasLt), so that artifacts link
// no CUDA library and a machine without it falls back to the runtime's own
// kernels (Contraction.cu).
#ifndef COMPRESS_LIB_RUNTIME_CUDA_CUBLASLT_H
#define COMPRESS_LIB_RUNTIME_CUDA_CUBLASLT_H

#include "lib/runtime/cuda/ContractionArgs.h"

#include <string>

namespace compress::cuda {

/// C[b, m, n] += sum_k A[b, m, k] * B[b, k, n] (float32 buffers) on `stream`
/// (a CUstream): computed in float32, or with `halfPrecision` on fp16 tensor
/// cores (inputs rounded to fp16, fp32 sums). Returns false, with `error`
/// empty, when cuBLASLt is not there, disabled (COMPRESS_CUDA_CUBLASLT=0),
/// or cannot express the operands' strides: the caller runs its own kernel.
bool cublasLtContract(const ContractionArgs &args, bool halfPrecision, void *stream,
                      std::string &error);

} // namespace compress::cuda

#endif
