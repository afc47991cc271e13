// cuBLASLt for the CUDA target's float32 products (CublasLt.h). cuBLASLt
// is column-major: the row-major C = A B is computed as C^T = B^T A^T, each
// operand described by whichever of its strides is 1.
#include "lib/runtime/cuda/CublasLt.h"

#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <array>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <type_traits>

using namespace compress::cuda;

namespace {

constexpr size_t kWorkspaceBytes = 32 << 20;

/// The entry points used, from the library loaded at run time.
struct Library {
  decltype(&cublasLtCreate) create;
  decltype(&cublasLtMatmulDescCreate) descCreate;
  decltype(&cublasLtMatmulDescSetAttribute) descSetAttribute;
  decltype(&cublasLtMatrixLayoutCreate) layoutCreate;
  decltype(&cublasLtMatrixLayoutSetAttribute) layoutSetAttribute;
  decltype(&cublasLtMatmulPreferenceCreate) preferenceCreate;
  decltype(&cublasLtMatmulPreferenceSetAttribute) preferenceSetAttribute;
  decltype(&cublasLtMatmulAlgoGetHeuristic) heuristic;
  decltype(&cublasLtMatmul) matmul;
  cublasLtHandle_t handle = nullptr;
  void *workspace = nullptr;
};

/// The library, or null when it is absent or disabled.
const Library *library() {
  static Library lib;
  static bool usable = [] {
    if (const char *flag = std::getenv("COMPRESS_CUDA_CUBLASLT"); flag && flag == std::string("0"))
      return false;
    std::string soname = "libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR);
    void *handle = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle)
      handle = dlopen((std::string(COMPRESS_CUDA_TOOLKIT) + "/lib64/" + soname).c_str(),
                      RTLD_NOW | RTLD_LOCAL);
    if (!handle)
      return false;
    auto bind = [&](auto &slot, const char *name) {
      slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(dlsym(handle, name));
      return slot != nullptr;
    };
    return bind(lib.create, "cublasLtCreate") && bind(lib.descCreate, "cublasLtMatmulDescCreate") &&
           bind(lib.descSetAttribute, "cublasLtMatmulDescSetAttribute") &&
           bind(lib.layoutCreate, "cublasLtMatrixLayoutCreate") &&
           bind(lib.layoutSetAttribute, "cublasLtMatrixLayoutSetAttribute") &&
           bind(lib.preferenceCreate, "cublasLtMatmulPreferenceCreate") &&
           bind(lib.preferenceSetAttribute, "cublasLtMatmulPreferenceSetAttribute") &&
           bind(lib.heuristic, "cublasLtMatmulAlgoGetHeuristic") &&
           bind(lib.matmul, "cublasLtMatmul") && lib.create(&lib.handle) == CUBLAS_STATUS_SUCCESS &&
           cudaMalloc(&lib.workspace, kWorkspaceBytes) == cudaSuccess;
  }();
  return usable ? &lib : nullptr;
}

/// A column-major view of a logical rows x cols operand whose element (r, c)
/// is at r * rowStride + c * colStride: stored as is (op N) or as the
/// transpose of a rows-major one (op T); false when neither stride is 1.
struct Operand {
  cublasOperation_t op;
  int64_t storedRows, storedCols, ld;
};
bool describe(int64_t rows, int64_t cols, int64_t rowStride, int64_t colStride, Operand &out) {
  if (rowStride == 1 || rows == 1) {
    int64_t ld = cols == 1 ? rows : colStride;
    if (ld >= rows && ld > 0) {
      out = {CUBLAS_OP_N, rows, cols, ld};
      return true;
    }
  }
  if (colStride == 1 || cols == 1) {
    int64_t ld = rows == 1 ? cols : rowStride;
    if (ld >= cols && ld > 0) {
      out = {CUBLAS_OP_T, cols, rows, ld};
      return true;
    }
  }
  return false;
}

/// The descriptors and algorithm of one product shape, made once.
struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo;
  bool usable = false;
};

using PlanKey = std::array<int64_t, 13>;

bool makePlan(const Library &lib, const Operand &a, const Operand &b, int64_t rows, int64_t cols,
              int64_t ldc, int64_t batch, int64_t aBatch, int64_t bBatch, int64_t cBatch,
              bool halfPrecision, Plan &plan) {
  auto ok = [](cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS; };
  cublasComputeType_t compute = halfPrecision ? CUBLAS_COMPUTE_32F_FAST_16F : CUBLAS_COMPUTE_32F;
  if (!ok(lib.descCreate(&plan.desc, compute, CUDA_R_32F)) ||
      !ok(lib.descSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSA, &a.op, sizeof(a.op))) ||
      !ok(lib.descSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSB, &b.op, sizeof(b.op))))
    return false;
  auto layout = [&](cublasLtMatrixLayout_t &l, int64_t r, int64_t c, int64_t ld, int64_t stride) {
    int32_t count = int32_t(batch);
    return ok(lib.layoutCreate(&l, CUDA_R_32F, uint64_t(r), uint64_t(c), ld)) &&
           ok(lib.layoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count))) &&
           ok(lib.layoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                     sizeof(stride)));
  };
  if (!layout(plan.a, a.storedRows, a.storedCols, a.ld, aBatch) ||
      !layout(plan.b, b.storedRows, b.storedCols, b.ld, bBatch) ||
      !layout(plan.c, rows, cols, ldc, cBatch))
    return false;
  cublasLtMatmulPreference_t preference = nullptr;
  size_t workspace = kWorkspaceBytes;
  cublasLtMatmulHeuristicResult_t result = {};
  int found = 0;
  if (!ok(lib.preferenceCreate(&preference)) ||
      !ok(lib.preferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                     &workspace, sizeof(workspace))) ||
      !ok(lib.heuristic(lib.handle, plan.desc, plan.a, plan.b, plan.c, plan.c, preference, 1,
                        &result, &found)) ||
      found == 0)
    return false;
  plan.algo = result.algo;
  plan.usable = true;
  return true;
}

} // namespace

bool compress::cuda::cublasLtContract(const ContractionArgs &p, bool halfPrecision, void *stream,
                                      std::string &error) {
  const Library *lib = library();
  if (!lib || p.cn != 1)
    return false;
  // D = C^T [n x m] = op(A') op(B'): A' describes B^T [n x k], B' A^T [k x m].
  Operand a, b;
  if (!describe(p.n, p.k, p.bn, p.bk, a) || !describe(p.k, p.m, p.ak, p.am, b))
    return false;
  int64_t ldc = p.m == 1 ? p.n : p.cm;
  if (ldc < p.n)
    return false;
  // One batch dimension in cuBLASLt: the inner one; outer ones loop here.
  int64_t outer = p.b0 * p.b1;
  if (p.b2 > 1 && p.cb2 == 0)
    return false;
  // The stored shapes follow from m, n, k and the ops.
  PlanKey key = {p.m, p.n, p.k, a.op, a.ld, b.op, b.ld, ldc, p.b2, p.bb2, p.ab2, p.cb2, halfPrecision};
  static std::mutex mutex;
  static std::map<PlanKey, Plan> plans;
  Plan *plan;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto [at, inserted] = plans.try_emplace(key);
    if (inserted)
      makePlan(*lib, a, b, p.n, p.m, ldc, p.b2, p.bb2, p.ab2, p.cb2, halfPrecision, at->second);
    plan = &at->second;
  }
  if (!plan->usable)
    return false;
  const float one = 1.0f;
  for (int64_t i = 0; i < outer; ++i) {
    int64_t i0 = i / p.b1, i1 = i % p.b1;
    auto *bData = reinterpret_cast<const float *>(p.b) + i0 * p.bb0 + i1 * p.bb1;
    auto *aData = reinterpret_cast<const float *>(p.a) + i0 * p.ab0 + i1 * p.ab1;
    auto *cData = reinterpret_cast<float *>(p.c) + i0 * p.cb0 + i1 * p.cb1;
    cublasStatus_t status =
        lib->matmul(lib->handle, plan->desc, &one, bData, plan->a, aData, plan->b, &one, cData,
                    plan->c, cData, plan->c, &plan->algo, lib->workspace, kWorkspaceBytes,
                    static_cast<cudaStream_t>(stream));
    if (status != CUBLAS_STATUS_SUCCESS) {
      error = "cublasLtMatmul failed: status " + std::to_string(int(status));
      return true;
    }
  }
  return true;
}
